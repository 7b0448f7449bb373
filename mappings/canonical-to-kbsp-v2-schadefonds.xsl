<?xml version="1.0" encoding="UTF-8"?>
<!--
  KbSP v2, source Schadefonds Geweldsmisdrijven (xsl:included by canonical-to-kbsp-v2.xsl, not run on its own):
  AANVRAAG_ONTVANGEN → SCHADEFONDS_AANVRAAG_ONTVANGEN, BESLISSING → SCHADEFONDS_BESLISSING with
  Schadefondsbeslissing (Toegekend; Bedrag only when granted) and Datum = Beslisdatum; only when
  the Aanvrager's own Informatiewens is true. Bron SCHADEFONDS.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:k="urn:ketenhub:canoniek:v1"
    xmlns="urn:keten:kbsp:zaakstatus:v2"
    exclude-result-prefixes="k">

  <xsl:template match="k:Aanvraaggebeurtenis" mode="kbsp-v2">
    <xsl:apply-templates select="k:Aanvrager[k:Informatiewens = 'true']" mode="kbsp-v2"/>
  </xsl:template>

  <xsl:template match="k:Aanvraaggebeurtenis/k:Aanvrager" mode="kbsp-v2">
    <xsl:variable name="aanvraag" select=".."/>
    <Zaakstatus>
      <xsl:call-template name="kbsp-v2-berichtid">
        <xsl:with-param name="ref" select="k:Ketenreferentie"/>
      </xsl:call-template>
      <xsl:call-template name="kbsp-v2-slachtoffer">
        <xsl:with-param name="bsn" select="k:Bsn"/>
        <xsl:with-param name="ref" select="k:Ketenreferentie"/>
        <xsl:with-param name="taal" select="k:Taal"/>
      </xsl:call-template>
      <xsl:call-template name="kbsp-v2-zaak">
        <xsl:with-param name="zaak" select="$aanvraag/k:Zaak"/>
      </xsl:call-template>
      <xsl:choose>
        <xsl:when test="$aanvraag/k:Soort = 'BESLISSING'">
          <Status>SCHADEFONDS_BESLISSING</Status>
          <Bron>SCHADEFONDS</Bron>
          <Tijdstip><xsl:value-of select="../../k:Tijdstip"/></Tijdstip>
          <Datum><xsl:value-of select="$aanvraag/k:Beslissing/k:Beslisdatum"/></Datum>
          <Schadefondsbeslissing>
            <Toegekend><xsl:value-of select="$aanvraag/k:Beslissing/k:Toegekend"/></Toegekend>
            <xsl:if test="$aanvraag/k:Beslissing/k:Toegekend = 'true'">
              <xsl:for-each select="$aanvraag/k:Beslissing/k:Bedrag"><Bedrag><xsl:value-of select="."/></Bedrag></xsl:for-each>
            </xsl:if>
          </Schadefondsbeslissing>
        </xsl:when>
        <xsl:otherwise>
          <Status>SCHADEFONDS_AANVRAAG_ONTVANGEN</Status>
          <Bron>SCHADEFONDS</Bron>
          <Tijdstip><xsl:value-of select="../../k:Tijdstip"/></Tijdstip>
        </xsl:otherwise>
      </xsl:choose>
    </Zaakstatus>
  </xsl:template>
</xsl:stylesheet>
