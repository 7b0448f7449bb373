<?xml version="1.0" encoding="UTF-8"?>
<!--
  CJIB Slachtofferinformatie (slachtofferinformatie-v1) to the canonical Gebeurtenis: a
  Tenuitvoeringgebeurtenis. Veroordeelde is never read: the convicted person's data stays in the
  kept payload and reaches no canonical document, outbound item, log or audit row.
  Voorwaarden are copied word for word (value-of keeps every character, white space included).
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:c="urn:keten:cjib:slachtofferinformatie:v1"
    xmlns:kh="urn:ketenhub:xslt"
    xmlns="urn:ketenhub:canoniek:v1"
    exclude-result-prefixes="c kh">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>
  <xsl:param name="partner"/>
  <xsl:param name="oin"/>

  <xsl:template match="c:Slachtofferinformatie">
    <xsl:variable name="parket" select="kh:parketnummer(string(c:Parketnummer))"/>
    <Gebeurtenis>
      <BerichtId><xsl:value-of select="normalize-space(c:BerichtId)"/></BerichtId>
      <Bron><Partner><xsl:value-of select="$partner"/></Partner><Oin><xsl:value-of select="$oin"/></Oin></Bron>
      <Tijdstip><xsl:value-of select="c:Tijdstip"/></Tijdstip>
      <Tenuitvoeringgebeurtenis>
        <Soort><xsl:value-of select="c:Soort"/></Soort>
        <Zaak><Parketnummer><xsl:value-of select="$parket"/></Parketnummer></Zaak>
        <xsl:for-each select="c:CjibNummer"><CjibNummer><xsl:value-of select="."/></CjibNummer></xsl:for-each>
        <Datum><xsl:value-of select="c:Datum"/></Datum>
        <xsl:for-each select="c:Slachtoffer">
          <Slachtoffer>
            <Ketenreferentie><xsl:value-of select="kh:ketenreferentie('', $parket, string(c:Bsn), '')"/></Ketenreferentie>
            <Bsn><xsl:value-of select="c:Bsn"/></Bsn>
            <Informatiewens><xsl:value-of select="kh:boolean(string(c:Informatiewens))"/></Informatiewens>
            <Taal><xsl:value-of select="kh:taal(string(c:Taal))"/></Taal>
            <xsl:for-each select="c:Betaling">
              <Betaling>
                <BetaaldBedrag><xsl:value-of select="kh:bedrag(string(c:BetaaldBedrag))"/></BetaaldBedrag>
                <OpenstaandBedrag><xsl:value-of select="kh:bedrag(string(c:OpenstaandBedrag))"/></OpenstaandBedrag>
              </Betaling>
            </xsl:for-each>
            <xsl:for-each select="c:Voorschot">
              <Voorschot><Bedrag><xsl:value-of select="kh:bedrag(string(c:Bedrag))"/></Bedrag></Voorschot>
            </xsl:for-each>
          </Slachtoffer>
        </xsl:for-each>
        <xsl:for-each select="c:Voorwaarden">
          <Voorwaarden>
            <xsl:for-each select="c:Voorwaarde">
              <Voorwaarde>
                <Soort><xsl:value-of select="c:Soort"/></Soort>
                <Omschrijving><xsl:value-of select="c:Omschrijving"/></Omschrijving>
                <xsl:for-each select="c:Gebied"><Gebied><xsl:value-of select="."/></Gebied></xsl:for-each>
              </Voorwaarde>
            </xsl:for-each>
          </Voorwaarden>
        </xsl:for-each>
      </Tenuitvoeringgebeurtenis>
    </Gebeurtenis>
  </xsl:template>
</xsl:stylesheet>
