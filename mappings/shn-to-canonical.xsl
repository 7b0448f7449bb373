<?xml version="1.0" encoding="UTF-8"?>
<!--
  Slachtofferhulp Nederland: one event of the hulpverlening feed (hulpverlening-v1.schema.json,
  #/$defs/Gebeurtenis) to the canonical Gebeurtenis. The hub hands the JSON event on in the
  W3C json-to-xml vocabulary (prefix j): an object is a j:map, each member an element with its
  name in @key. The event was valid against the JSON Schema, so the members it requires exist.

  Ketenreferentie: the case is the parketnummer (slash form) when the event has one, else the
  police registratienummer; the victim is their BSN (contracts README, "Routing: added rows").
  The victim's naam is not carried into the canonical model: no destination needs it.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:j="http://www.w3.org/2005/xpath-functions"
    xmlns:kh="urn:ketenhub:xslt"
    xmlns="urn:ketenhub:canoniek:v1"
    exclude-result-prefixes="j kh">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:param name="partner"/>
  <xsl:param name="oin"/>

  <xsl:template match="j:map[j:string[@key = 'berichtId']]">
    <xsl:variable name="slachtoffer" select="j:map[@key = 'slachtoffer']"/>
    <xsl:variable name="bsn" select="string($slachtoffer/j:string[@key = 'bsn'])"/>
    <xsl:variable name="registratienummer" select="normalize-space(j:string[@key = 'registratienummer'])"/>
    <xsl:variable name="parketnummer" select="normalize-space(j:string[@key = 'parketnummer'])"/>
    <Gebeurtenis>
      <BerichtId><xsl:value-of select="normalize-space(j:string[@key = 'berichtId'])"/></BerichtId>
      <Bron><Partner><xsl:value-of select="$partner"/></Partner><Oin><xsl:value-of select="$oin"/></Oin></Bron>
      <Tijdstip><xsl:value-of select="j:string[@key = 'tijdstip']"/></Tijdstip>
      <Hulpgebeurtenis>
        <Soort><xsl:value-of select="j:string[@key = 'soort']"/></Soort>
        <Zaak>
          <xsl:if test="$registratienummer"><Registratienummer><xsl:value-of select="$registratienummer"/></Registratienummer></xsl:if>
          <xsl:if test="$parketnummer"><Parketnummer><xsl:value-of select="kh:parketnummer($parketnummer)"/></Parketnummer></xsl:if>
        </Zaak>
        <Slachtoffer>
          <Ketenreferentie>
            <xsl:choose>
              <xsl:when test="$parketnummer"><xsl:value-of select="kh:ketenreferentie('', $parketnummer, $bsn, '')"/></xsl:when>
              <xsl:otherwise><xsl:value-of select="kh:ketenreferentie($registratienummer, '', $bsn, '')"/></xsl:otherwise>
            </xsl:choose>
          </Ketenreferentie>
          <Bsn><xsl:value-of select="$bsn"/></Bsn>
          <Informatiewens><xsl:value-of select="kh:boolean(string($slachtoffer/j:boolean[@key = 'informatiewens']))"/></Informatiewens>
          <Taal><xsl:value-of select="kh:taal(string($slachtoffer/j:string[@key = 'taal']))"/></Taal>
        </Slachtoffer>
        <Hulpverlener><xsl:value-of select="j:string[@key = 'hulpverlener']"/></Hulpverlener>
      </Hulpgebeurtenis>
    </Gebeurtenis>
  </xsl:template>
</xsl:stylesheet>
