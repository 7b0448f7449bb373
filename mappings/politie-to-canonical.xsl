<?xml version="1.0" encoding="UTF-8"?>
<!--
  Politie Melding (slachtoffermelding-v1) to the canonical Gebeurtenis.
  A melding is a police report with its victims: canonical Soort AANGIFTE.
  Parketnummer, Informatiewens and Taal are normalised in plain XSLT, not with the kh:
  functions: the Politie's XSD fixes their forms, and a call out to Python costs more than the
  rest of a value's mapping, at every melding of every page. tests/mappings/test_plain_values.py
  holds the two to the same results for every form the XSD admits.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:p="urn:keten:politie:slachtoffermelding:v1"
    xmlns:kh="urn:ketenhub:xslt"
    xmlns="urn:ketenhub:canoniek:v1"
    exclude-result-prefixes="p kh">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:param name="partner"/>
  <xsl:param name="oin"/>

  <xsl:template match="p:Melding">
    <Gebeurtenis>
      <BerichtId><xsl:value-of select="normalize-space(p:BerichtId)"/></BerichtId>
      <Bron><Partner><xsl:value-of select="$partner"/></Partner><Oin><xsl:value-of select="$oin"/></Oin></Bron>
      <Tijdstip><xsl:value-of select="p:Registratiedatum"/></Tijdstip>
      <Zaakgebeurtenis>
        <Soort>AANGIFTE</Soort>
        <Zaak>
          <Registratienummer><xsl:value-of select="p:Registratienummer"/></Registratienummer>
          <xsl:apply-templates select="p:Parketnummer"/>
          <Delict>
            <Omschrijving><xsl:value-of select="p:Delict/p:Omschrijving"/></Omschrijving>
            <Pleegdatum><xsl:value-of select="p:Delict/p:Pleegdatum"/></Pleegdatum>
            <xsl:for-each select="p:Delict/p:Pleegplaats"><Pleegplaats><xsl:value-of select="."/></Pleegplaats></xsl:for-each>
          </Delict>
        </Zaak>
        <xsl:for-each select="p:Verdachte">
          <Verdachte><xsl:call-template name="persoon"/></Verdachte>
        </xsl:for-each>
        <xsl:for-each select="p:Slachtoffer">
          <Slachtoffer>
            <Ketenreferentie>
              <xsl:value-of select="kh:ketenreferentie(string(../p:Registratienummer), string(../p:Parketnummer), string(p:Bsn), string(@ref))"/>
            </Ketenreferentie>
            <Persoon><xsl:call-template name="persoon"/></Persoon>
            <Informatiewens><xsl:value-of select="normalize-space(p:Informatiewens) = 'true' or normalize-space(p:Informatiewens) = '1'"/></Informatiewens>
            <Taal><xsl:value-of select="normalize-space(p:Taal)"/><xsl:if test="not(normalize-space(p:Taal))">nl</xsl:if></Taal>
            <xsl:for-each select="p:Contactkanaal"><Contactkanaal><xsl:value-of select="."/></Contactkanaal></xsl:for-each>
            <xsl:for-each select="p:Emailadres"><Emailadres><xsl:value-of select="."/></Emailadres></xsl:for-each>
          </Slachtoffer>
        </xsl:for-each>
      </Zaakgebeurtenis>
    </Gebeurtenis>
  </xsl:template>

  <xsl:template match="p:Parketnummer">
    <Parketnummer><xsl:value-of select="concat(substring(., 1, 2), '/', substring(., 4))"/></Parketnummer>
  </xsl:template>

  <xsl:template name="persoon">
    <xsl:for-each select="p:Bsn"><Bsn><xsl:value-of select="."/></Bsn></xsl:for-each>
    <xsl:for-each select="p:Voornamen"><Voornamen><xsl:value-of select="."/></Voornamen></xsl:for-each>
    <xsl:for-each select="p:Voorvoegsel"><Voorvoegsel><xsl:value-of select="."/></Voorvoegsel></xsl:for-each>
    <Geslachtsnaam><xsl:value-of select="p:Geslachtsnaam"/></Geslachtsnaam>
    <xsl:for-each select="p:Geboortedatum"><Geboortedatum><xsl:value-of select="."/></Geboortedatum></xsl:for-each>
  </xsl:template>
</xsl:stylesheet>
