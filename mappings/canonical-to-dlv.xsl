<?xml version="1.0" encoding="UTF-8"?>
<!--
  Canonical Beroepgebeurtenis to a DLV BeroepStatus (beroepstatus-v1): one per appeal event.
  Its BerichtId is the CVOM BerichtId, sent as the Idempotency-Key.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:k="urn:ketenhub:canoniek:v1"
    xmlns="urn:keten:dlv:beroepstatus:v1"
    exclude-result-prefixes="k">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:include href="delivery-keys.xsl"/>

  <xsl:template match="k:Gebeurtenis">
    <Uitgaand xmlns="">
      <xsl:apply-templates select="k:Beroepgebeurtenis"/>
    </Uitgaand>
  </xsl:template>

  <xsl:template match="k:Beroepgebeurtenis">
    <BeroepStatus>
      <BerichtId>
        <xsl:call-template name="partner-first"><xsl:with-param name="first" select="'CVOM'"/></xsl:call-template>
        <xsl:value-of select="../k:BerichtId"/>
      </BerichtId>
      <DlvZaaknummer><xsl:value-of select="k:DlvZaaknummer"/></DlvZaaknummer>
      <CjibNummer><xsl:value-of select="k:Beschikking/k:CjibNummer"/></CjibNummer>
      <Status>
        <xsl:choose>
          <xsl:when test="k:Soort = 'BEROEP_ONTVANGEN'">IN_BEHANDELING</xsl:when>
          <xsl:when test="k:Soort = 'BESLISSING'">BESLIST</xsl:when>
          <xsl:otherwise>DOORGEZONDEN_KANTONRECHTER</xsl:otherwise>
        </xsl:choose>
      </Status>
      <Tijdstip><xsl:value-of select="../k:Tijdstip"/></Tijdstip>
      <xsl:if test="k:Soort = 'BESLISSING'">
        <xsl:variable name="uitkomst" select="k:Beslissing/k:Uitkomst"/>
        <Beslissing>
          <Uitkomst><xsl:value-of select="$uitkomst"/></Uitkomst>
          <Beslisdatum><xsl:value-of select="k:Beslissing/k:Beslisdatum"/></Beslisdatum>
          <TeBetalen>
            <xsl:choose>
              <xsl:when test="$uitkomst = 'GEGROND'">0.00</xsl:when>
              <xsl:when test="$uitkomst = 'GEDEELTELIJK_GEGROND'"><xsl:value-of select="k:Beslissing/k:NieuwSanctiebedrag"/></xsl:when>
              <xsl:otherwise><xsl:value-of select="k:Beschikking/k:Sanctiebedrag"/></xsl:otherwise>
            </xsl:choose>
          </TeBetalen>
          <Motivering><xsl:value-of select="k:Beslissing/k:Motivering"/></Motivering>
        </Beslissing>
      </xsl:if>
    </BeroepStatus>
  </xsl:template>
</xsl:stylesheet>
