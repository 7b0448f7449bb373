<?xml version="1.0" encoding="UTF-8"?>
<!--
  Canonical Gebeurtenis to CJIB Opdracht items (opdrachten-v1):
  - a verdict or penalty order with Uitkomst VEROORDEELD: one TENUITVOERLEGGING_GELDBOETE
    for the fine, and one TENUITVOERLEGGING_SCHADEVERGOEDING per compensation order,
    with that victim as Begunstigde;
  - a WAHV appeal decision: stop, adjust or resume collecting.
  OpdrachtId is the event's BerichtId plus a suffix per instruction: stable across resends.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:k="urn:ketenhub:canoniek:v1"
    xmlns="urn:keten:cjib:opdrachten:v1"
    exclude-result-prefixes="k">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:include href="delivery-keys.xsl"/>

  <xsl:template match="k:Gebeurtenis">
    <Uitgaand xmlns="">
      <xsl:apply-templates select="k:Zaakgebeurtenis[(k:Soort = 'UITSPRAAK' or k:Soort = 'STRAFBESCHIKKING')
                                                     and k:Beslissing/k:Uitkomst = 'VEROORDEELD']"/>
      <xsl:apply-templates select="k:Beroepgebeurtenis[k:Soort = 'BESLISSING']"/>
    </Uitgaand>
  </xsl:template>

  <xsl:template match="k:Zaakgebeurtenis">
    <xsl:variable name="id"><xsl:call-template name="opdracht-id"/></xsl:variable>
    <xsl:variable name="zaak" select="."/>
    <xsl:for-each select="k:Beslissing/k:Geldboete">
      <Opdracht>
        <OpdrachtId><xsl:value-of select="concat($id, '.GELDBOETE')"/></OpdrachtId>
        <Soort>TENUITVOERLEGGING_GELDBOETE</Soort>
        <Bron><Parketnummer><xsl:value-of select="$zaak/k:Zaak/k:Parketnummer"/></Parketnummer></Bron>
        <Betrokkene><xsl:apply-templates select="$zaak/k:Verdachte[1]" mode="persoon"/></Betrokkene>
        <Bedrag><xsl:value-of select="."/></Bedrag>
        <Beslisdatum><xsl:value-of select="../k:Datum"/></Beslisdatum>
      </Opdracht>
    </xsl:for-each>
    <xsl:for-each select="k:Beslissing/k:Schadevergoedingsmaatregel">
      <xsl:variable name="ref" select="k:Ketenreferentie"/>
      <Opdracht>
        <OpdrachtId><xsl:value-of select="concat($id, '.SCHADEVERGOEDING.', position())"/></OpdrachtId>
        <Soort>TENUITVOERLEGGING_SCHADEVERGOEDING</Soort>
        <Bron><Parketnummer><xsl:value-of select="$zaak/k:Zaak/k:Parketnummer"/></Parketnummer></Bron>
        <Betrokkene><xsl:apply-templates select="$zaak/k:Verdachte[1]" mode="persoon"/></Betrokkene>
        <Bedrag><xsl:value-of select="k:Bedrag"/></Bedrag>
        <Begunstigde><xsl:apply-templates select="$zaak/k:Slachtoffer[k:Ketenreferentie = $ref]/k:Persoon" mode="persoon"/></Begunstigde>
        <Beslisdatum><xsl:value-of select="../k:Datum"/></Beslisdatum>
      </Opdracht>
    </xsl:for-each>
  </xsl:template>

  <xsl:template match="k:Beroepgebeurtenis">
    <xsl:variable name="id"><xsl:call-template name="opdracht-id"/></xsl:variable>
    <xsl:variable name="uitkomst" select="k:Beslissing/k:Uitkomst"/>
    <Opdracht>
      <OpdrachtId><xsl:value-of select="concat($id, '.WAHV')"/></OpdrachtId>
      <Soort>
        <xsl:choose>
          <xsl:when test="$uitkomst = 'GEGROND'">WAHV_INNING_STOPPEN</xsl:when>
          <xsl:when test="$uitkomst = 'GEDEELTELIJK_GEGROND'">WAHV_BEDRAG_AANPASSEN</xsl:when>
          <xsl:otherwise>WAHV_INNING_HERVATTEN</xsl:otherwise>
        </xsl:choose>
      </Soort>
      <Bron><CjibNummer><xsl:value-of select="k:Beschikking/k:CjibNummer"/></CjibNummer></Bron>
      <Bedrag>
        <xsl:choose>
          <xsl:when test="$uitkomst = 'GEGROND'">0.00</xsl:when>
          <xsl:when test="$uitkomst = 'GEDEELTELIJK_GEGROND'"><xsl:value-of select="k:Beslissing/k:NieuwSanctiebedrag"/></xsl:when>
          <xsl:otherwise><xsl:value-of select="k:Beschikking/k:Sanctiebedrag"/></xsl:otherwise>
        </xsl:choose>
      </Bedrag>
      <Beslisdatum><xsl:value-of select="k:Beslissing/k:Beslisdatum"/></Beslisdatum>
    </Opdracht>
  </xsl:template>

  <!-- A person as CJIB knows them: BSN, full name, birth date. -->
  <xsl:template match="*" mode="persoon">
    <xsl:for-each select="k:Bsn"><Bsn><xsl:value-of select="."/></Bsn></xsl:for-each>
    <Naam><xsl:value-of select="normalize-space(concat(k:Voornamen, ' ', k:Voorvoegsel, ' ', k:Geslachtsnaam))"/></Naam>
    <xsl:for-each select="k:Geboortedatum"><Geboortedatum><xsl:value-of select="."/></Geboortedatum></xsl:for-each>
  </xsl:template>
  <xsl:template name="opdracht-id">
    <xsl:call-template name="partner-first"><xsl:with-param name="first" select="'OM POLITIE CVOM'"/></xsl:call-template>
    <xsl:value-of select="../k:BerichtId"/>
  </xsl:template>
</xsl:stylesheet>
