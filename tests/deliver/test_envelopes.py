"""An outbound document is checked as it will be sent: where an envelope moves items under a
root of its own, from its bytes, as the tree can hold an item in another namespace than its
bytes say."""
from datetime import datetime, timezone
from types import SimpleNamespace

from lxml import etree

from ketenhub.deliver import envelopes
from ketenhub.deliver.run import Item, _send_document
from ketenhub.states import Outcome

XSD = b"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:root"
    xmlns="urn:root" elementFormDefault="qualified">
  <xs:element name="Root"><xs:complexType><xs:sequence>
    <xs:element name="Item" maxOccurs="unbounded"><xs:complexType><xs:sequence>
      <xs:element name="Child"/></xs:sequence></xs:complexType></xs:element>
  </xs:sequence></xs:complexType></xs:element>
  <xs:element name="Item"><xs:complexType><xs:sequence><xs:element name="Child"/></xs:sequence></xs:complexType>
  </xs:element>
</xs:schema>"""
# In urn:root by its prefix, with a default namespace of its own: moved under <Root xmlns="urn:root">
# the tree keeps it in urn:root, but its bytes put it in urn:other.
SHADOWED = b'<i:Item xmlns:i="urn:root" xmlns="urn:other"><i:Child/></i:Item>'
PLAIN = b'<Item xmlns="urn:root"><Child/></Item>'


BATCH = SimpleNamespace(name="KETENHUB_X_20261206_001.xml", created_at=datetime.now(timezone.utc))


class Transport:
    def __init__(self):
        self.sent = []

    def send(self, name, document, keys):
        self.sent.append(document)  # list.append: safe from several threads
        return {k: SimpleNamespace(outcome=Outcome.DELIVERED, retry_after=None) for k in keys}


def send(envelope, document: bytes):
    transport = Transport()
    results = _send_document(SimpleNamespace(version=None), etree.XMLSchema(etree.fromstring(XSD)), envelope,
                             transport, BATCH, [Item(1, "k1", document, 0)])
    return results["k1"], transport.sent


def test_an_item_moved_under_the_root_is_checked_from_the_documents_bytes():
    wrap = envelopes.wrap({"root": "{urn:root}Root", "max_items": 10, "name": "KETENHUB_X"})
    assert not wrap.same_as_sent
    result, sent = send(wrap, PLAIN)
    assert result.outcome == Outcome.DELIVERED and len(sent) == 1
    result, sent = send(wrap, SHADOWED)
    assert result.outcome == Outcome.FAILED and not sent
    assert "XSD: line 3, element /Root/Item: this element is not allowed here" in result.reason


def test_a_single_item_is_its_document_and_checked_as_built():
    single = envelopes.single({"name": "KETENHUB_X"})
    assert single.same_as_sent
    result, sent = send(single, PLAIN)
    assert result.outcome == Outcome.DELIVERED and sent == [b'<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n'
                                                             b'<Item xmlns="urn:root">\n  <Child/>\n</Item>\n']
    result, sent = send(single, b'<Item xmlns="urn:root"/>')
    assert result.outcome == Outcome.FAILED and not sent
    assert "line 2, element /Item: a required element is missing: Child" in result.reason


def test_items_checked_side_by_side_each_get_their_own_verdict_and_reason():
    """One XSD serves every sending thread, and lxml keeps one error log per XSD: a check and the
    reading of its errors must not interleave with another thread's check, or an invalid item
    could read an empty log and be sent, or read another's reason."""
    from ketenhub.deliver.run import _Pace, _send_each

    items = [Item(n, f"k{n}", PLAIN if n % 2 else b'<Item xmlns="urn:root"><Other/></Item>', 0) for n in range(600)]
    transport = Transport()
    results = _send_each(SimpleNamespace(version=None, concurrency=8, destination="x"),
                         etree.XMLSchema(etree.fromstring(XSD)), envelopes.single({"name": "KETENHUB_X"}),
                         transport, BATCH, items, _Pace())
    invalid = [results[f"k{n}"] for n in range(0, 600, 2)]
    assert all(r.outcome == Outcome.DELIVERED for r in (results[f"k{n}"] for n in range(1, 600, 2)))
    assert all(r.outcome == Outcome.FAILED and "element /Item/Other: this element is not allowed here" in r.reason
               for r in invalid), [r for r in invalid if r.outcome != Outcome.FAILED or "Other" not in (r.reason or "")][:3]
    assert len(transport.sent) == 300
