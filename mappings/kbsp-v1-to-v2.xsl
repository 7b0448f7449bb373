<?xml version="1.0" encoding="UTF-8"?>
<!--
  A KbSP v1 Zaakstatus as a v2 Zaakstatus, as the contract says: the namespace changes to
  urn:keten:kbsp:zaakstatus:v2 and Bron is inserted after Status (POLITIE for AANGIFTE_ONTVANGEN,
  OM for the other five v1 statuses); nothing else changes, the BerichtId included, so that
  the portal's one register of BerichtIds sees the same status.
  The hub runs it on a delivery still waiting for v1 when v1 is no longer in use
  (adapters/kbsp.yaml, versions: upgrade).
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:v1="urn:keten:kbsp:zaakstatus:v1"
    xmlns="urn:keten:kbsp:zaakstatus:v2"
    exclude-result-prefixes="v1">
  <xsl:output method="xml" encoding="UTF-8"/>

  <xsl:template match="v1:*">
    <xsl:element name="{local-name()}" namespace="urn:keten:kbsp:zaakstatus:v2">
      <xsl:apply-templates select="@*|node()"/>
    </xsl:element>
  </xsl:template>

  <xsl:template match="v1:Zaakstatus/v1:Status">
    <Status><xsl:value-of select="."/></Status>
    <Bron>
      <xsl:choose>
        <xsl:when test="normalize-space(.) = 'AANGIFTE_ONTVANGEN'">POLITIE</xsl:when>
        <xsl:otherwise>OM</xsl:otherwise>
      </xsl:choose>
    </Bron>
  </xsl:template>

  <xsl:template match="@*|text()|comment()">
    <xsl:copy/>
  </xsl:template>
</xsl:stylesheet>
