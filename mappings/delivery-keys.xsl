<?xml version="1.0" encoding="UTF-8"?>
<!--
  What every destination mapping's keys share (xsl:included, not run on its own): a key starts
  with the partner that sent the event, but for the partners the mapping was first written for,
  whose keys came before this rule. Two partners' BerichtIds then never give one key, also where
  a new partner sends a kind of event another one sends (tests/mappings/test_keys.py).
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:k="urn:ketenhub:canoniek:v1"
    exclude-result-prefixes="k">

  <!-- The partner and a dot, unless it is one of ``first`` (names, space-separated).
       Context: anywhere in the Gebeurtenis. -->
  <xsl:template name="partner-first">
    <xsl:param name="first"/>
    <xsl:variable name="partner" select="string(ancestor-or-self::k:Gebeurtenis/k:Bron/k:Partner)"/>
    <xsl:if test="not(contains(concat(' ', $first, ' '), concat(' ', $partner, ' ')))">
      <xsl:value-of select="concat($partner, '.')"/>
    </xsl:if>
  </xsl:template>
</xsl:stylesheet>
