"""Bad and hostile input: each is rejected with a clear reason, and nothing is lost."""
import pytest
from sqlalchemy import select

from ketenhub.store.tables import payload, quarantine
from tests.conftest import DATA, ingest

MELDING = (DATA / "politie/melding-aangifte.xml").read_bytes()
BODY = MELDING.split(b"?>", 1)[1]

HOSTILE = {
    "external-entity": (b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                        + BODY.replace(b"Woninginbraak", b"&x;"), "no-dtd"),
    "entity-bomb": (b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
                    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;">]>'
                    + BODY.replace(b"Woninginbraak", b"&d;"), "no-dtd"),
    "external-dtd": (b'<?xml version="1.0"?><!DOCTYPE Melding SYSTEM "http://127.0.0.1:9/evil.dtd">' + BODY, "no-dtd"),
    "not-well-formed": (MELDING.replace(b"</Delict>", b"</Delikt>"), "well-formed"),
    "empty": (b"", "empty"),
    "latin-1": (b'<?xml version="1.0" encoding="ISO-8859-1"?>' + BODY.replace(b"Utrecht", "Utrécht".encode("latin-1")),
                "encoding"),
    "wrong-namespace": (MELDING.replace(b"urn:keten:politie:slachtoffermelding:v1", b"urn:keten:politie:melding:v2"),
                        "root"),
    "invalid-utf8": (MELDING.replace(b"Utrecht", b"Utr\xe9cht"), "well-formed"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_payload_is_rejected_with_reason_and_kept(hub, tmp_path, case):
    data, rule = HOSTILE[case]
    path = tmp_path / f"{case}.xml"
    path.write_bytes(data)
    (report,) = ingest(hub, "politie", path)
    assert report.state == "rejected"
    assert [p.rule for p in report.problems][:1] == [rule]
    assert b"root:" not in report.text().encode()  # /etc/passwd was not read into anything
    with hub.engine.connect() as conn:
        row = conn.execute(select(payload)).one()
        q = conn.execute(select(quarantine)).one()
    assert row.state == "rejected" and f"rule: {rule}" in row.reason
    assert q.payload_id == row.id and q.reason == row.reason
    kept = hub.settings.payloads_dir / f"{row.sha256}.xml"
    assert kept.read_bytes() == data  # the raw bytes are never lost


def test_parser_never_fetches_an_external_dtd(hub, tmp_path):
    """A listening socket would see a connection if the parser tried to fetch the DTD."""
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    path = tmp_path / "fetch.xml"
    path.write_bytes(f'<?xml version="1.0"?><!DOCTYPE Melding SYSTEM "http://127.0.0.1:{port}/x.dtd">'.encode()
                     + BODY.replace(b"Woninginbraak", b"&x;"))
    (report,) = ingest(hub, "politie", path)
    assert report.state == "rejected"
    with pytest.raises(socket.timeout):
        server.accept()
    server.close()
