<?xml version="1.0" encoding="UTF-8"?>
<!-- CVOM BeroepGebeurtenis (wahv-beroep-v1) to the canonical Gebeurtenis. -->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:c="urn:keten:cvom:wahvberoep:v1"
    xmlns:kh="urn:ketenhub:xslt"
    xmlns="urn:ketenhub:canoniek:v1"
    exclude-result-prefixes="c kh">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:param name="partner"/>
  <xsl:param name="oin"/>

  <xsl:template match="c:BeroepGebeurtenis">
    <Gebeurtenis>
      <BerichtId><xsl:value-of select="normalize-space(c:BerichtId)"/></BerichtId>
      <Bron><Partner><xsl:value-of select="$partner"/></Partner><Oin><xsl:value-of select="$oin"/></Oin></Bron>
      <Tijdstip><xsl:value-of select="c:Tijdstip"/></Tijdstip>
      <Beroepgebeurtenis>
        <Soort><xsl:value-of select="c:Soort"/></Soort>
        <DlvZaaknummer><xsl:value-of select="c:DlvZaaknummer"/></DlvZaaknummer>
        <Indiener>
          <xsl:for-each select="c:Indiener/c:Bsn"><Bsn><xsl:value-of select="."/></Bsn></xsl:for-each>
          <Naam><xsl:value-of select="c:Indiener/c:Naam"/></Naam>
          <Rol><xsl:value-of select="c:Indiener/c:Rol"/></Rol>
        </Indiener>
        <Beschikking>
          <CjibNummer><xsl:value-of select="c:Beschikking/c:CjibNummer"/></CjibNummer>
          <Kenteken><xsl:value-of select="c:Beschikking/c:Kenteken"/></Kenteken>
          <Feitcode><xsl:value-of select="c:Beschikking/c:Feitcode"/></Feitcode>
          <Pleegdatum><xsl:value-of select="c:Beschikking/c:Pleegdatum"/></Pleegdatum>
          <Sanctiebedrag><xsl:value-of select="kh:bedrag(string(c:Beschikking/c:Sanctiebedrag))"/></Sanctiebedrag>
        </Beschikking>
        <xsl:for-each select="c:Beslissing">
          <Beslissing>
            <Uitkomst><xsl:value-of select="c:Uitkomst"/></Uitkomst>
            <Beslisdatum><xsl:value-of select="c:Beslisdatum"/></Beslisdatum>
            <xsl:for-each select="c:NieuwSanctiebedrag"><NieuwSanctiebedrag><xsl:value-of select="kh:bedrag(string(.))"/></NieuwSanctiebedrag></xsl:for-each>
            <Motivering><xsl:value-of select="c:Motivering"/></Motivering>
          </Beslissing>
        </xsl:for-each>
      </Beroepgebeurtenis>
    </Gebeurtenis>
  </xsl:template>
</xsl:stylesheet>
