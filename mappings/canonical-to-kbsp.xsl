<?xml version="1.0" encoding="UTF-8"?>
<!--
  Canonical Gebeurtenis to KbSP Zaakstatus items (zaakstatus-v1), one per victim who asked
  to be informed (Informatiewens true). The result is an Uitgaand list: each item becomes
  one delivery, keyed by its BerichtId (the event's BerichtId plus the victim's Ketenreferentie).
  Privacy: nothing about suspects is read here; only the victim's own compensation amount.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:k="urn:ketenhub:canoniek:v1"
    xmlns="urn:keten:kbsp:zaakstatus:v1"
    exclude-result-prefixes="k">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:include href="delivery-keys.xsl"/>

  <xsl:template match="k:Gebeurtenis">
    <Uitgaand xmlns="">
      <xsl:apply-templates select="k:Zaakgebeurtenis/k:Slachtoffer[k:Informatiewens = 'true']"/>
    </Uitgaand>
  </xsl:template>

  <xsl:template match="k:Slachtoffer">
    <xsl:variable name="zaak" select=".."/>
    <xsl:variable name="soort" select="$zaak/k:Soort"/>
    <xsl:variable name="ref" select="k:Ketenreferentie"/>
    <Zaakstatus>
      <BerichtId>  <!-- as v2 makes it (kbsp-v2-berichtid) -->
        <xsl:call-template name="partner-first"><xsl:with-param name="first" select="'POLITIE OM'"/></xsl:call-template>
        <xsl:value-of select="concat(../../k:BerichtId, '.', $ref)"/>
      </BerichtId>
      <Slachtoffer>
        <xsl:for-each select="k:Persoon/k:Bsn"><Bsn><xsl:value-of select="."/></Bsn></xsl:for-each>
        <Ketenreferentie><xsl:value-of select="$ref"/></Ketenreferentie>
        <Taal><xsl:value-of select="k:Taal"/></Taal>
      </Slachtoffer>
      <Zaak>
        <xsl:for-each select="$zaak/k:Zaak/k:Registratienummer"><Registratienummer><xsl:value-of select="."/></Registratienummer></xsl:for-each>
        <xsl:for-each select="$zaak/k:Zaak/k:Parketnummer"><Parketnummer><xsl:value-of select="."/></Parketnummer></xsl:for-each>
        <xsl:for-each select="$zaak/k:Zaak/k:Delict/k:Omschrijving"><Delictomschrijving><xsl:value-of select="."/></Delictomschrijving></xsl:for-each>
      </Zaak>
      <Status>
        <xsl:choose>
          <xsl:when test="$soort = 'AANGIFTE'">AANGIFTE_ONTVANGEN</xsl:when>
          <xsl:when test="$soort = 'INSCHRIJVING'">ZAAK_BIJ_OM</xsl:when>
          <xsl:when test="$soort = 'SEPOT'">ZAAK_GESEPONEERD</xsl:when>
          <xsl:otherwise><xsl:value-of select="$soort"/></xsl:otherwise>
        </xsl:choose>
      </Status>
      <Tijdstip><xsl:value-of select="../../k:Tijdstip"/></Tijdstip>
      <xsl:if test="$soort = 'ZITTING_GEPLAND'">
        <Zitting>
          <Datumtijd><xsl:value-of select="$zaak/k:Zitting/k:Datumtijd"/></Datumtijd>
          <Instantie><xsl:value-of select="$zaak/k:Zitting/k:Instantie"/></Instantie>
          <Locatie><xsl:value-of select="$zaak/k:Zitting/k:Locatie"/></Locatie>
        </Zitting>
      </xsl:if>
      <xsl:if test="$soort = 'SEPOT'">
        <Uitkomst>SEPOT</Uitkomst>
      </xsl:if>
      <xsl:if test="$soort = 'UITSPRAAK' or $soort = 'STRAFBESCHIKKING'">
        <Uitkomst><xsl:value-of select="$zaak/k:Beslissing/k:Uitkomst"/></Uitkomst>
        <xsl:variable name="maatregelen" select="$zaak/k:Beslissing/k:Schadevergoedingsmaatregel[k:Ketenreferentie = $ref]"/>
        <xsl:if test="$maatregelen">
          <Schadevergoeding><xsl:value-of select="format-number(sum($maatregelen/k:Bedrag), '0.00')"/></Schadevergoeding>
        </xsl:if>
      </xsl:if>
    </Zaakstatus>
  </xsl:template>
</xsl:stylesheet>
