<?xml version="1.0" encoding="UTF-8"?>
<!--
  Canonical Gebeurtenis to KbSP Zaakstatus items of version 2 (zaakstatus-v2): one per victim
  the routing table names, in an Uitgaand list; each item becomes one delivery, keyed by its
  BerichtId.

  Each source's statuses are in a file of their own, canonical-to-kbsp-v2-<source>.xsl, included
  below: it holds a template for its canonical kind in mode "kbsp-v2"
  (match="k:Aanvraaggebeurtenis" mode="kbsp-v2") and may use the named templates of this file for
  what every Zaakstatus has. A source adds its
  file and its include line, and its kind to the v2 events in adapters/kbsp.yaml
  (docs/adapters.md, "KbSP v2: adding a source's statuses").
  Privacy: nothing about suspects or convicted persons is read here; each victim gets only their
  own amounts.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:k="urn:ketenhub:canoniek:v1"
    xmlns="urn:keten:kbsp:zaakstatus:v2"
    exclude-result-prefixes="k">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>

  <xsl:include href="delivery-keys.xsl"/>

  <!-- ==== Sources: one file each ============================================== -->
  <!-- Politie and OM: the six v1 statuses, with Bron POLITIE or OM -->
  <xsl:include href="canonical-to-kbsp-v2-politie-om.xsl"/>

  <!-- Schadefonds Geweldsmisdrijven -->
  <xsl:include href="canonical-to-kbsp-v2-schadefonds.xsl"/>

  <!-- CJIB: victim information on the enforcement of a sentence -->
  <xsl:include href="canonical-to-kbsp-v2-cjib.xsl"/>


  <!-- Slachtofferhulp Nederland -->
  <xsl:include href="canonical-to-kbsp-v2-shn.xsl"/>


  <!-- ==== What every source's Zaakstatus shares ================================ -->
  <xsl:template match="k:Gebeurtenis">
    <Uitgaand xmlns="">
      <xsl:apply-templates select="*[last()]" mode="kbsp-v2"/>
    </Uitgaand>
  </xsl:template>

  <!-- A kind no source file takes yields nothing. -->
  <xsl:template match="*" mode="kbsp-v2" priority="-10"/>

  <!-- The item's BerichtId, the same on every re-run of the event: the event's BerichtId and
       the victim's Ketenreferentie, the partner first but for the Politie and the OM
       (delivery-keys.xsl). Context: anywhere in the Gebeurtenis. -->
  <xsl:template name="kbsp-v2-berichtid">
    <xsl:param name="ref"/>
    <BerichtId>
      <xsl:call-template name="partner-first"><xsl:with-param name="first" select="'POLITIE OM'"/></xsl:call-template>
      <xsl:value-of select="concat(ancestor-or-self::k:Gebeurtenis/k:BerichtId, '.', $ref)"/>
    </BerichtId>
  </xsl:template>

  <xsl:template name="kbsp-v2-slachtoffer">
    <xsl:param name="bsn"/>
    <xsl:param name="ref"/>
    <xsl:param name="taal"/>
    <Slachtoffer>
      <xsl:if test="string($bsn)"><Bsn><xsl:value-of select="$bsn"/></Bsn></xsl:if>
      <Ketenreferentie><xsl:value-of select="$ref"/></Ketenreferentie>
      <Taal><xsl:value-of select="$taal"/><xsl:if test="not(string($taal))">nl</xsl:if></Taal>
    </Slachtoffer>
  </xsl:template>

  <!-- Zaak from a canonical Zaak element (Registratienummer, Parketnummer, Delict/Omschrijving). -->
  <xsl:template name="kbsp-v2-zaak">
    <xsl:param name="zaak"/>
    <Zaak>
      <xsl:for-each select="$zaak/k:Registratienummer"><Registratienummer><xsl:value-of select="."/></Registratienummer></xsl:for-each>
      <xsl:for-each select="$zaak/k:Parketnummer"><Parketnummer><xsl:value-of select="."/></Parketnummer></xsl:for-each>
      <xsl:for-each select="$zaak/k:Delict/k:Omschrijving"><Delictomschrijving><xsl:value-of select="."/></Delictomschrijving></xsl:for-each>
    </Zaak>
  </xsl:template>
</xsl:stylesheet>
