<?xml version="1.0" encoding="UTF-8"?>
<!--
  KbSP v2, source Politie and OM (xsl:included by canonical-to-kbsp-v2.xsl, not run on its own): the six v1 statuses,
  one per victim with Informatiewens true, exactly as canonical-to-kbsp.xsl makes them for v1
  with Bron added (POLITIE for AANGIFTE_ONTVANGEN, OM for the others), the same BerichtId
  included: the portal has one register of BerichtIds for both versions.
  tests/mappings/test_kbsp_versions.py holds this to kbsp-v1-to-v2.xsl over v1's output.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:k="urn:ketenhub:canoniek:v1"
    xmlns="urn:keten:kbsp:zaakstatus:v2"
    exclude-result-prefixes="k">

  <xsl:template match="k:Zaakgebeurtenis" mode="kbsp-v2">
    <xsl:apply-templates select="k:Slachtoffer[k:Informatiewens = 'true']" mode="kbsp-v2"/>
  </xsl:template>

  <xsl:template match="k:Zaakgebeurtenis/k:Slachtoffer" mode="kbsp-v2">
    <xsl:variable name="zaak" select=".."/>
    <xsl:variable name="soort" select="$zaak/k:Soort"/>
    <xsl:variable name="ref" select="k:Ketenreferentie"/>
    <xsl:variable name="bron">
      <xsl:choose>
        <xsl:when test="$soort = 'AANGIFTE'">POLITIE</xsl:when>
        <xsl:otherwise>OM</xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <Zaakstatus>
      <xsl:call-template name="kbsp-v2-berichtid">
        <xsl:with-param name="ref" select="$ref"/>
      </xsl:call-template>
      <xsl:call-template name="kbsp-v2-slachtoffer">
        <xsl:with-param name="bsn" select="k:Persoon/k:Bsn"/>
        <xsl:with-param name="ref" select="$ref"/>
        <xsl:with-param name="taal" select="k:Taal"/>
      </xsl:call-template>
      <xsl:call-template name="kbsp-v2-zaak">
        <xsl:with-param name="zaak" select="$zaak/k:Zaak"/>
      </xsl:call-template>
      <Status>
        <xsl:choose>
          <xsl:when test="$soort = 'AANGIFTE'">AANGIFTE_ONTVANGEN</xsl:when>
          <xsl:when test="$soort = 'INSCHRIJVING'">ZAAK_BIJ_OM</xsl:when>
          <xsl:when test="$soort = 'SEPOT'">ZAAK_GESEPONEERD</xsl:when>
          <xsl:otherwise><xsl:value-of select="$soort"/></xsl:otherwise>
        </xsl:choose>
      </Status>
      <Bron><xsl:value-of select="$bron"/></Bron>
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
