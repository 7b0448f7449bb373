<?xml version="1.0" encoding="UTF-8"?>
<!--
  OM Zaakgebeurtenis (zaakgebeurtenissen-v1) to the canonical Gebeurtenis.
  Templates match the event, not the document root: the hub runs a mapping over many events
  of the streamed nightly batch at once (see ketenhub/normalise/xslt.py).
  Parketnummer, Informatiewens, Taal and amounts are normalised in plain XSLT, not with the
  kh: functions: the OM's XSD fixes their forms, and a call out to Python costs more than the
  rest of a value's mapping, a million times a night. tests/mappings/test_plain_values.py holds
  the two to the same results for every form the XSD admits.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:o="urn:keten:om:zaakgebeurtenissen:v1"
    xmlns:kh="urn:ketenhub:xslt"
    xmlns="urn:ketenhub:canoniek:v1"
    exclude-result-prefixes="o kh">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:param name="partner"/>
  <xsl:param name="oin"/>

  <xsl:template match="o:Zaakgebeurtenis">
    <Gebeurtenis>
      <BerichtId><xsl:value-of select="normalize-space(o:BerichtId)"/></BerichtId>
      <Bron><Partner><xsl:value-of select="$partner"/></Partner><Oin><xsl:value-of select="$oin"/></Oin></Bron>
      <Tijdstip><xsl:value-of select="o:Tijdstip"/></Tijdstip>
      <Zaakgebeurtenis>
        <Soort><xsl:value-of select="o:Soort"/></Soort>
        <Zaak>
          <xsl:for-each select="o:Registratienummer"><Registratienummer><xsl:value-of select="."/></Registratienummer></xsl:for-each>
          <Parketnummer><xsl:value-of select="concat(substring(o:Parketnummer, 1, 2), '/', substring(o:Parketnummer, 4))"/></Parketnummer>
        </Zaak>
        <xsl:for-each select="o:Verdachte">
          <Verdachte>
            <xsl:call-template name="persoon"/>
            <xsl:for-each select="o:Skn"><Skn><xsl:value-of select="."/></Skn></xsl:for-each>
            <xsl:for-each select="o:Adres">
              <Adres>
                <Straat><xsl:value-of select="o:Straat"/></Straat>
                <Huisnummer><xsl:value-of select="o:Huisnummer"/></Huisnummer>
                <Postcode><xsl:value-of select="o:Postcode"/></Postcode>
                <Woonplaats><xsl:value-of select="o:Woonplaats"/></Woonplaats>
              </Adres>
            </xsl:for-each>
          </Verdachte>
        </xsl:for-each>
        <xsl:for-each select="o:Slachtoffer">
          <Slachtoffer>
            <Ketenreferentie><xsl:call-template name="ketenreferentie"/></Ketenreferentie>
            <Persoon><xsl:call-template name="persoon"/></Persoon>
            <Informatiewens><xsl:value-of select="normalize-space(o:Informatiewens) = 'true' or normalize-space(o:Informatiewens) = '1'"/></Informatiewens>
            <Taal><xsl:value-of select="normalize-space(o:Taal)"/><xsl:if test="not(normalize-space(o:Taal))">nl</xsl:if></Taal>
          </Slachtoffer>
        </xsl:for-each>
        <xsl:for-each select="o:Zitting">
          <Zitting>
            <Datumtijd><xsl:value-of select="o:Datumtijd"/></Datumtijd>
            <Instantie><xsl:value-of select="o:Instantie"/></Instantie>
            <Locatie><xsl:value-of select="o:Locatie"/></Locatie>
          </Zitting>
        </xsl:for-each>
        <xsl:for-each select="o:Beslissing">
          <Beslissing>
            <Uitkomst><xsl:value-of select="o:Uitkomst"/></Uitkomst>
            <Datum><xsl:value-of select="o:Datum"/></Datum>
            <xsl:for-each select="o:Geldboete"><Geldboete><xsl:value-of select="format-number(translate(., '+', ''), '0.00')"/></Geldboete></xsl:for-each>
            <xsl:for-each select="o:Taakstraf"><Taakstraf><xsl:value-of select="normalize-space(.)"/></Taakstraf></xsl:for-each>
            <xsl:for-each select="o:Gevangenisstraf"><Gevangenisstraf><xsl:value-of select="normalize-space(.)"/></Gevangenisstraf></xsl:for-each>
            <xsl:for-each select="o:Schadevergoedingsmaatregel">
              <xsl:variable name="ref" select="normalize-space(@slachtofferRef)"/>
              <Schadevergoedingsmaatregel>
                <Ketenreferentie>
                  <xsl:for-each select="../../o:Slachtoffer[normalize-space(@ref) = $ref][1]">
                    <xsl:call-template name="ketenreferentie"/>
                  </xsl:for-each>
                </Ketenreferentie>
                <Bedrag><xsl:value-of select="format-number(translate(o:Bedrag, '+', ''), '0.00')"/></Bedrag>
              </Schadevergoedingsmaatregel>
            </xsl:for-each>
          </Beslissing>
        </xsl:for-each>
      </Zaakgebeurtenis>
    </Gebeurtenis>
  </xsl:template>

  <!-- context: an o:Slachtoffer -->
  <xsl:template name="ketenreferentie">
    <xsl:value-of select="kh:ketenreferentie(string(../o:Registratienummer), string(../o:Parketnummer), string(o:Bsn), string(@ref))"/>
  </xsl:template>

  <xsl:template name="persoon">
    <xsl:for-each select="o:Bsn"><Bsn><xsl:value-of select="."/></Bsn></xsl:for-each>
    <xsl:for-each select="o:Voornamen"><Voornamen><xsl:value-of select="."/></Voornamen></xsl:for-each>
    <xsl:for-each select="o:Voorvoegsel"><Voorvoegsel><xsl:value-of select="."/></Voorvoegsel></xsl:for-each>
    <Geslachtsnaam><xsl:value-of select="o:Geslachtsnaam"/></Geslachtsnaam>
    <xsl:for-each select="o:Geboortedatum"><Geboortedatum><xsl:value-of select="."/></Geboortedatum></xsl:for-each>
  </xsl:template>
</xsl:stylesheet>
