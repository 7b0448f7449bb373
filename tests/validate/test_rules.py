import pytest
from lxml import etree

from ketenhub.validate.rules import check_bsns, elfproef


@pytest.mark.parametrize("bsn", ["111222333", "123456782", "100000009", "999999990"])
def test_elfproef_accepts_valid_bsns(bsn):
    assert elfproef(bsn)


@pytest.mark.parametrize("bsn", ["123456789", "111222334", "000000000", "12345678", "12345678a", ""])
def test_elfproef_refuses_invalid_bsns(bsn):
    assert not elfproef(bsn)


def test_every_bsn_element_is_checked_with_its_line_and_path():
    el = etree.fromstring(b"""<E xmlns="urn:x">
  <Verdachte><Bsn>123456782</Bsn></Verdachte>
  <Slachtoffer><Bsn>123456789</Bsn></Slachtoffer>
</E>""")
    (problem,) = check_bsns(el)
    assert problem.rule == "elfproef"
    assert problem.line == 3
    assert problem.element == "/E/Slachtoffer/Bsn"
    assert "123456789" not in str(problem)  # no personal data in the message


def test_a_for_each_rule_names_each_element_that_breaks_it_and_regular_expressions_work():
    from ketenhub.adapters import Rule
    from ketenhub.validate.rules import Rules

    rules = Rules((Rule(r're:test(p:Tekst, "\d{4}\s?[A-Z]{2}") = false()', "Voorwaarde {n} ({Soort}) holds a postcode",
                        "p:Voorwaarde"),), "urn:x")
    batch = etree.fromstring(b"""<B xmlns="urn:x"><E>
  <Voorwaarde><Tekst>de gemeente Zutphen</Tekst></Voorwaarde>
  <Voorwaarde><Soort>GEBIEDSVERBOD</Soort><Tekst>bij 7201 DN</Tekst></Voorwaarde>
  <Voorwaarde><Tekst>bij 7201dn</Tekst></Voorwaarde>
  <Voorwaarde><Tekst>rond 3811AB</Tekst></Voorwaarde>
</E><E><Voorwaarde><Tekst>niets</Tekst></Voorwaarde></E></B>""")
    first, second = batch
    assert [(p.message, p.line) for p in rules(first)] == [("Voorwaarde 2 (GEBIEDSVERBOD) holds a postcode", 3),
                                                           ("Voorwaarde 4 () holds a postcode", 5)]
    assert rules(second) == [] and rules.failing_events(batch) == [first]
    # A message may name a child's text only when it is a code: free text may be personal data.
    careless = Rules((Rule(r're:test(p:Tekst, "\d{4}\s?[A-Z]{2}") = false()', "{Soort}: {Tekst}", "p:Voorwaarde"),), "urn:x")
    assert [p.message for p in careless(first)] == ["GEBIEDSVERBOD: a value not shown", ": a value not shown"]
