"""How a destination mapping's items become stored documents."""
import pytest
from lxml import etree

from ketenhub.route.router import _items

ITEM = b'<Zaakstatus xmlns="urn:keten:kbsp:zaakstatus:v1"><BerichtId>B-1</BerichtId></Zaakstatus>'


@pytest.mark.parametrize("wrapper", [
    b'<Uitgaand xmlns="">%s</Uitgaand>',  # the hub's own mappings: the item serialises in place
    b'<u:Uitgaand xmlns:u="urn:other" xmlns:x="urn:unused">%s</u:Uitgaand>',  # copied out
    b'<chunk><each><Uitgaand xmlns="">%s</Uitgaand></each></chunk>',  # as in a region's run
])
def test_an_item_is_stored_without_its_wrappers_namespaces(wrapper):
    root = etree.fromstring(wrapper % ITEM)
    (item,) = _items(root if root.tag != "chunk" else root[0][0])
    assert etree.tostring(item) == ITEM


def test_no_result_is_no_items():
    assert _items(None) == []
