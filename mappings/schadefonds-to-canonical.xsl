<?xml version="1.0" encoding="UTF-8"?>
<!--
  Schadefonds Geweldsmisdrijven AanvraagGebeurtenis (aanvragen-v1) to the canonical Gebeurtenis
  (Aanvraaggebeurtenis). Templates match the event, not the document root: the hub maps many
  events of the daily batch in one call.
  The Aanvrager's Ketenreferentie is made as every partner's is (kh:ketenreferentie), from the
  case number the fund gives (exactly one of Parketnummer or Registratienummer) and the BSN.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:s="urn:keten:schadefonds:aanvraag:v1"
    xmlns:kh="urn:ketenhub:xslt"
    xmlns="urn:ketenhub:canoniek:v1"
    exclude-result-prefixes="s kh">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:param name="partner"/>
  <xsl:param name="oin"/>

  <xsl:template match="s:AanvraagGebeurtenis">
    <Gebeurtenis>
      <BerichtId><xsl:value-of select="normalize-space(s:BerichtId)"/></BerichtId>
      <Bron><Partner><xsl:value-of select="$partner"/></Partner><Oin><xsl:value-of select="$oin"/></Oin></Bron>
      <Tijdstip><xsl:value-of select="s:Tijdstip"/></Tijdstip>
      <Aanvraaggebeurtenis>
        <Soort><xsl:value-of select="s:Soort"/></Soort>
        <Zaak>
          <xsl:for-each select="s:Registratienummer"><Registratienummer><xsl:value-of select="."/></Registratienummer></xsl:for-each>
          <xsl:for-each select="s:Parketnummer"><Parketnummer><xsl:value-of select="kh:parketnummer(string(.))"/></Parketnummer></xsl:for-each>
          <Delict>
            <Omschrijving><xsl:value-of select="s:Delict/s:Omschrijving"/></Omschrijving>
            <xsl:for-each select="s:Delict/s:Pleegdatum"><Pleegdatum><xsl:value-of select="."/></Pleegdatum></xsl:for-each>
          </Delict>
        </Zaak>
        <Aanvraagnummer><xsl:value-of select="s:Aanvraagnummer"/></Aanvraagnummer>
        <xsl:for-each select="s:Aanvrager">
          <Aanvrager>
            <Ketenreferentie>
              <xsl:value-of select="kh:ketenreferentie(string(../s:Registratienummer), string(../s:Parketnummer), string(s:Bsn), '')"/>
            </Ketenreferentie>
            <Bsn><xsl:value-of select="s:Bsn"/></Bsn>
            <Naam><xsl:value-of select="s:Naam"/></Naam>
            <Informatiewens><xsl:value-of select="kh:boolean(string(s:Informatiewens))"/></Informatiewens>
            <Taal><xsl:value-of select="kh:taal(string(s:Taal))"/></Taal>
          </Aanvrager>
        </xsl:for-each>
        <xsl:for-each select="s:Beslissing">
          <Beslissing>
            <Toegekend><xsl:value-of select="kh:boolean(string(s:Toegekend))"/></Toegekend>
            <xsl:for-each select="s:Bedrag"><Bedrag><xsl:value-of select="kh:bedrag(string(.))"/></Bedrag></xsl:for-each>
            <Beslisdatum><xsl:value-of select="s:Beslisdatum"/></Beslisdatum>
          </Beslissing>
        </xsl:for-each>
      </Aanvraaggebeurtenis>
    </Gebeurtenis>
  </xsl:template>
</xsl:stylesheet>
