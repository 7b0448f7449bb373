"""Schema failures come out in plain words: line, element path, rule; never the value."""
from lxml import etree

from ketenhub.settings import PROJECT_DIR
from ketenhub.xml.schema import compile_schema, plain, validate

OM = compile_schema(str(PROJECT_DIR / "schemas/om/zaakgebeurtenissen-v1.xsd"))

EVENT = """<Zaakgebeurtenis xmlns="urn:keten:om:zaakgebeurtenissen:v1">
  <BerichtId>OM-1</BerichtId>
  <Parketnummer>{parket}</Parketnummer>
  <Soort>{soort}</Soort>
  <Tijdstip>2026-11-20T09:00:00</Tijdstip>
  <Verdachte><Bsn>{bsn}</Bsn><Geslachtsnaam>Boef</Geslachtsnaam></Verdachte>
</Zaakgebeurtenis>"""


def problems(**kw):
    values = dict(parket="13/002157-26", soort="INSCHRIJVING", bsn="123456782") | kw
    return validate(OM, etree.fromstring(EVENT.format(**values).encode()))


def test_valid_event_has_no_problems():
    assert problems() == []


def test_pattern_failure_names_line_element_and_pattern_but_not_the_value():
    (p,) = problems(bsn="12345")
    assert (p.line, p.element, p.rule) == (6, "/Zaakgebeurtenis/Verdachte/Bsn", "pattern")
    assert "[0-9]{9}" in p.message
    assert "12345" not in str(p)


def test_enumeration_failure_lists_allowed_values():
    (p,) = problems(soort="VERHOOR")
    assert p.rule == "allowed-values" and p.element == "/Zaakgebeurtenis/Soort" and p.line == 4
    assert "INSCHRIJVING" in p.message and "VERHOOR" not in p.message


def test_missing_element_is_said_plainly():
    el = etree.fromstring(EVENT.format(parket="13/002157-26", soort="SEPOT", bsn="123456782")
                          .replace("<Soort>SEPOT</Soort>", "").encode())
    (p,) = validate(OM, el)
    assert p.rule == "structure"
    assert "Soort" in p.message and "expected" in p.message


def test_datatype_failure():
    rule, words = plain("Element '{urn:x}Tijdstip': 'gisteren' is not a valid value of the atomic type 'xs:dateTime'.")
    assert rule == "datatype" and words == "the value is not a valid dateTime"


def test_an_unusual_message_keeps_no_value_even_across_lines():
    rule, words = plain("Element '{urn:x}Naam': The value 'Jan\nBakker 100000046' has a length of 300; "
                        "this exceeds the allowed maximum length of 200.")
    assert "Bakker" not in words and "100000046" not in words


def test_what_fails_is_never_without_a_problem_when_threads_share_the_schema():
    """lxml keeps one error log per schema, which another thread's check empties: a document
    that fails still gets a problem (callers that must name the right one hold a lock)."""
    import threading

    schema = etree.XMLSchema(etree.fromstring(
        b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="Item"><xs:complexType>'
        b'<xs:sequence><xs:element name="A"/></xs:sequence></xs:complexType></xs:element></xs:schema>'))
    good, bad, without = etree.fromstring(b"<Item><A/></Item>"), etree.fromstring(b"<Item/>"), []

    def check(k):
        for i in range(2000):
            if (i + k) % 2:
                schema.validate(good)
            elif not validate(schema, bad):
                without.append(i)
    threads = [threading.Thread(target=check, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert without == []
