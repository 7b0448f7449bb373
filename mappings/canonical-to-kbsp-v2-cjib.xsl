<?xml version="1.0" encoding="UTF-8"?>
<!--
  CJIB's rows of the routing table for KbSP v2 (zaakstatus-v2): a canonical Tenuitvoeringgebeurtenis
  to one Zaakstatus per victim who asked, in this very event, to be informed (Informatiewens true).
  Included by canonical-to-kbsp-v2.xsl, whose k:Gebeurtenis template applies this one in mode kbsp-v2.

  - VONNIS_ONHERROEPELIJK, INVRIJHEIDSTELLING, VERLOF, BESCHERMINGSMAATREGEL_OPGELEGD: with Datum,
    and Voorwaarden word for word when the event has them.
  - SCHADEVERGOEDING_BETALING: SCHADEVERGOEDING_BETAALD, only to a victim with a Betaling of their own;
    VOORSCHOT_UITGEKEERD likewise with their own Voorschot. Never another victim's amounts.
  The canonical model has nothing about the convicted person, so nothing of it can reach KbSP.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:k="urn:ketenhub:canoniek:v1"
    xmlns="urn:keten:kbsp:zaakstatus:v2"
    exclude-result-prefixes="k">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>

  <xsl:template match="k:Tenuitvoeringgebeurtenis" mode="kbsp-v2">
    <xsl:variable name="t" select="."/>
    <xsl:apply-templates mode="kbsp-v2" select="k:Slachtoffer[k:Informatiewens = 'true']
        [not($t/k:Soort = 'SCHADEVERGOEDING_BETALING') or k:Betaling]
        [not($t/k:Soort = 'VOORSCHOT_UITGEKEERD') or k:Voorschot]"/>
  </xsl:template>

  <xsl:template match="k:Tenuitvoeringgebeurtenis/k:Slachtoffer" mode="kbsp-v2">
    <xsl:variable name="t" select=".."/>
    <xsl:variable name="soort" select="$t/k:Soort"/>
    <xsl:variable name="ref" select="k:Ketenreferentie"/>
    <Zaakstatus>
      <xsl:call-template name="kbsp-v2-berichtid">
        <xsl:with-param name="ref" select="$ref"/>
      </xsl:call-template>
      <Slachtoffer>
        <Bsn><xsl:value-of select="k:Bsn"/></Bsn>
        <Ketenreferentie><xsl:value-of select="$ref"/></Ketenreferentie>
        <Taal><xsl:value-of select="k:Taal"/></Taal>
      </Slachtoffer>
      <Zaak>
        <xsl:for-each select="$t/k:Zaak/k:Registratienummer"><Registratienummer><xsl:value-of select="."/></Registratienummer></xsl:for-each>
        <xsl:for-each select="$t/k:Zaak/k:Parketnummer"><Parketnummer><xsl:value-of select="."/></Parketnummer></xsl:for-each>
      </Zaak>
      <Status>
        <xsl:choose>
          <xsl:when test="$soort = 'SCHADEVERGOEDING_BETALING'">SCHADEVERGOEDING_BETAALD</xsl:when>
          <xsl:otherwise><xsl:value-of select="$soort"/></xsl:otherwise>
        </xsl:choose>
      </Status>
      <Bron>CJIB</Bron>
      <Tijdstip><xsl:value-of select="../../k:Tijdstip"/></Tijdstip>
      <Datum><xsl:value-of select="$t/k:Datum"/></Datum>
      <xsl:if test="$soort = 'INVRIJHEIDSTELLING' or $soort = 'VERLOF' or $soort = 'BESCHERMINGSMAATREGEL_OPGELEGD'">
        <xsl:for-each select="$t/k:Voorwaarden">
          <Voorwaarden>
            <xsl:for-each select="k:Voorwaarde">
              <Voorwaarde>
                <Soort><xsl:value-of select="k:Soort"/></Soort>
                <Omschrijving><xsl:value-of select="k:Omschrijving"/></Omschrijving>
                <xsl:for-each select="k:Gebied"><Gebied><xsl:value-of select="."/></Gebied></xsl:for-each>
              </Voorwaarde>
            </xsl:for-each>
          </Voorwaarden>
        </xsl:for-each>
      </xsl:if>
      <xsl:if test="$soort = 'SCHADEVERGOEDING_BETALING'">
        <Betaling>
          <BetaaldBedrag><xsl:value-of select="k:Betaling/k:BetaaldBedrag"/></BetaaldBedrag>
          <OpenstaandBedrag><xsl:value-of select="k:Betaling/k:OpenstaandBedrag"/></OpenstaandBedrag>
        </Betaling>
      </xsl:if>
      <xsl:if test="$soort = 'VOORSCHOT_UITGEKEERD'">
        <Voorschot><Bedrag><xsl:value-of select="k:Voorschot/k:Bedrag"/></Bedrag></Voorschot>
      </xsl:if>
    </Zaakstatus>
  </xsl:template>
</xsl:stylesheet>
