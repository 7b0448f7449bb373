<?xml version="1.0" encoding="UTF-8"?>
<!--
  SHN's rows of the routing table for KbSP version 2, meant to be xsl:included by
  canonical-to-kbsp-v2.xsl (which handles every other kind of event):

    SHN HULP_AANGEBODEN / HULP_GESTART / HULP_AFGESLOTEN, when slachtoffer.informatiewens is true:
    a Zaakstatus with that Status, Bron SHN and the Hulpverlener as SHN sent it.

  Its template matches only a Gebeurtenis holding a Hulpgebeurtenis (priority 0.5, above a plain
  k:Gebeurtenis), and its victim template has a mode of its own, so it cannot take over another
  kind's templates. BerichtId = the event's BerichtId, '.', the victim's Ketenreferentie: the
  same on every re-run, so that processing an event twice gives KbSP a DUPLICAAT.
  Privacy: SHN's events name no suspect; the victim's name is not in the canonical model.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:k="urn:ketenhub:canoniek:v1"
    xmlns="urn:keten:kbsp:zaakstatus:v2"
    exclude-result-prefixes="k">

  <xsl:template match="k:Gebeurtenis[k:Hulpgebeurtenis]">
    <Uitgaand xmlns="">
      <xsl:apply-templates select="k:Hulpgebeurtenis/k:Slachtoffer[k:Informatiewens = 'true']" mode="shn"/>
    </Uitgaand>
  </xsl:template>

  <xsl:template match="k:Slachtoffer" mode="shn">
    <xsl:variable name="hulp" select=".."/>
    <Zaakstatus>
      <BerichtId><xsl:value-of select="concat(../../k:BerichtId, '.', k:Ketenreferentie)"/></BerichtId>
      <Slachtoffer>
        <Bsn><xsl:value-of select="k:Bsn"/></Bsn>
        <Ketenreferentie><xsl:value-of select="k:Ketenreferentie"/></Ketenreferentie>
        <Taal><xsl:value-of select="k:Taal"/></Taal>
      </Slachtoffer>
      <Zaak>
        <xsl:for-each select="$hulp/k:Zaak/k:Registratienummer"><Registratienummer><xsl:value-of select="."/></Registratienummer></xsl:for-each>
        <xsl:for-each select="$hulp/k:Zaak/k:Parketnummer"><Parketnummer><xsl:value-of select="."/></Parketnummer></xsl:for-each>
      </Zaak>
      <Status><xsl:value-of select="$hulp/k:Soort"/></Status>
      <Bron>SHN</Bron>
      <Tijdstip><xsl:value-of select="../../k:Tijdstip"/></Tijdstip>
      <Hulpverlener><xsl:value-of select="$hulp/k:Hulpverlener"/></Hulpverlener>
    </Zaakstatus>
  </xsl:template>
</xsl:stylesheet>
