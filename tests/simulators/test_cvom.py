import re

from ketenhub.simulators.cvom import publish
from ketenhub.wiring import receive


def test_a_days_appeal_events_arrive_as_cvom_writes_them_and_the_hub_takes_each_in(hub, tmp_path):
    cvom = hub.registry.partner("cvom")
    folder = hub.settings.path(cvom.receive.folder)
    paths = publish(folder, 40, invalid_share=0.2, seed=7)
    assert [p.name for p in paths] == [f"CVOM_{n:09d}.xml" for n in range(1, 41)]
    assert not list(folder.glob("*.part"))  # renamed once complete
    contents = [p.read_bytes() for p in paths]
    assert [p.read_bytes() for p in publish(tmp_path / "again", 40, invalid_share=0.2, seed=7)] == contents
    invalid = {f"CVOM-{n:09d}" for n, body in enumerate(contents, 1) if re.search(rb"<Bsn>\d{10}</Bsn>", body)}
    assert 0 < len(invalid) < 40

    reports = receive(hub, cvom)

    assert len(reports) == 40 and sum(r.accepted for r in reports) == 40 - len(invalid)
    rejected = {bericht_id: reason for r in reports for bericht_id, reason in r.rejected}
    assert set(rejected) == invalid
    assert all("Bsn" in reason for reason in rejected.values())
    assert not list(folder.glob("*.xml"))  # all moved on: processed/, or rejected/ with the reason
