<?xml version="1.0" encoding="UTF-8"?>
<!--
  KbSP v2, source Slachtofferhulp Nederland (xsl:included by canonical-to-kbsp-v2.xsl, not run
  on its own): SHN's rows of the routing table.

    SHN HULP_AANGEBODEN / HULP_GESTART / HULP_AFGESLOTEN, when slachtoffer.informatiewens is true:
    a Zaakstatus with that Status, Bron SHN and the Hulpverlener as SHN sent it.

  BerichtId: kbsp-v2-berichtid (SHN, the event's berichtId, the victim's Ketenreferentie), the same
  on every re-run, so that processing an event twice gives KbSP a DUPLICAAT.
  Privacy: SHN's events name no suspect; the victim's name is not in the canonical model.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:k="urn:ketenhub:canoniek:v1"
    xmlns="urn:keten:kbsp:zaakstatus:v2"
    exclude-result-prefixes="k">

  <xsl:template match="k:Hulpgebeurtenis" mode="kbsp-v2">
    <xsl:apply-templates select="k:Slachtoffer[k:Informatiewens = 'true']" mode="kbsp-v2"/>
  </xsl:template>

  <xsl:template match="k:Hulpgebeurtenis/k:Slachtoffer" mode="kbsp-v2">
    <xsl:variable name="hulp" select=".."/>
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
        <xsl:with-param name="zaak" select="$hulp/k:Zaak"/>
      </xsl:call-template>
      <Status><xsl:value-of select="$hulp/k:Soort"/></Status>
      <Bron>SHN</Bron>
      <Tijdstip><xsl:value-of select="../../k:Tijdstip"/></Tijdstip>
      <Hulpverlener><xsl:value-of select="$hulp/k:Hulpverlener"/></Hulpverlener>
    </Zaakstatus>
  </xsl:template>
</xsl:stylesheet>
