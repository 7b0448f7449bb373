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
