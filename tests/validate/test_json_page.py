"""A JSON partner's page (SHN): the contract's examples, each event validated on its own with
its JSON path and rule in plain words, and the page's limits."""
import json

import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import select

from ketenhub.store.tables import quarantine
from tests.conftest import ingest

EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[2] / "schemas" / "shn" / "examples"


def write(tmp_path, name, page):
    path = tmp_path / name
    path.write_bytes(page if isinstance(page, bytes) else json.dumps(page, ensure_ascii=False).encode())
    return path


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("valid-*.json")), ids=lambda p: p.name)
def test_the_contracts_valid_examples_are_taken_whole(hub, example):
    (report,) = ingest(hub, "shn", example)
    assert report.state == "accepted" and report.rejected == []
    assert report.accepted == len(json.loads(example.read_text())["gebeurtenissen"])


@pytest.mark.parametrize("example,reason", [
    ("invalid-01-tijdstip-zonder-offset.json",
     "$.gebeurtenissen[0].tijdstip: does not have the form the contract requires"),
    ("invalid-02-geen-zaaknummer.json",
     "$.gebeurtenissen[0]: at least one of these members is required: parketnummer or registratienummer"),
    ("invalid-03-medewerkersnaam.json", "$.gebeurtenissen[0]: 1 member not in the contract (no other"),
])
def test_the_contracts_invalid_examples_are_rejected_with_path_and_rule(hub, example, reason):
    (report,) = ingest(hub, "shn", EXAMPLES / example)
    assert report.state == "accepted" and report.accepted == 0  # the page is fine; its event is not
    (bericht_id, why), = report.rejected
    assert reason in why and "(rule: schema)" in why
    assert bericht_id == json.loads((EXAMPLES / example).read_text())["gebeurtenissen"][0]["berichtId"]


def test_one_bad_event_does_not_block_the_others(hub, tmp_path):
    page = json.loads((EXAMPLES / "valid-01-pagina.json").read_text())
    page["gebeurtenissen"][0]["tijdstip"] = "2027-13-45T10:00:00+01:00"  # the pattern's form, no real moment
    page["gebeurtenissen"][1]["soort"] = "HULP_ONBEKEND"
    page["gebeurtenissen"][1]["slachtoffer"]["informatiewens"] = "ja"
    (report,) = ingest(hub, "shn", write(tmp_path, "p.json", page))
    assert report.accepted == 1
    (_, when), (_, why) = report.rejected
    assert "$.gebeurtenissen[0].tijdstip: is not a valid date-time" in when
    assert "$.gebeurtenissen[1].slachtoffer.informatiewens: must be true or false" in why
    assert "$.gebeurtenissen[1].soort: is not a value the contract allows (HULP_AANGEBODEN" in why
    with hub.engine.connect() as conn:
        raws = conn.scalars(select(quarantine.c.raw).order_by(quarantine.c.id)).all()
    assert [json.loads(r) for r in raws] == page["gebeurtenissen"][:2]


@pytest.mark.parametrize("page,words", [
    ({"gebeurtenissen": [], "meerBeschikbaar": False}, "$: the member volgende is required and missing"),
    ({"gebeurtenissen": [], "volgende": "", "meerBeschikbaar": False}, "$.volgende: is shorter than 1"),
    ({"gebeurtenissen": {}, "volgende": "c", "meerBeschikbaar": False}, "$.gebeurtenissen: must be a list"),
    ({"gebeurtenissen": [], "volgende": "c", "meerBeschikbaar": False, "extra": 1}, "1 member not in the contract"),
    ([], "$: must be an object"),
    (b"not json", "the body is not JSON"),
])
def test_a_page_that_breaks_the_root_is_rejected_whole_and_kept(hub, tmp_path, page, words):
    (report,) = ingest(hub, "shn", write(tmp_path, "p.json", page))
    assert report.state == "rejected" and words in "\n".join(map(str, report.problems))


def test_a_page_larger_than_the_adapter_takes_is_refused_unparsed(hub, tmp_path):
    limit = hub.registry.partner("shn").limits.payload_bytes
    (report,) = ingest(hub, "shn", write(tmp_path, "p.json", b" " * (limit + 1)))
    assert report.state == "rejected" and report.problems[0].rule == "size"


def test_an_event_larger_than_the_adapter_takes_is_refused_with_its_size(hub, tmp_path):
    page = json.loads((EXAMPLES / "valid-01-pagina.json").read_text())
    page["gebeurtenissen"][0]["hulpverlener"] = "x" * 70000
    (report,) = ingest(hub, "shn", write(tmp_path, "p.json", page))
    assert report.accepted == 2 and "limits.event_bytes" in report.rejected[0][1]


def test_many_problems_are_named_up_to_the_adapters_limit_and_counted(hub, tmp_path):
    from ketenhub.validate import jsonpage
    event = {"berichtId": 1, "soort": 2, "tijdstip": 3, "hulpverlener": 4, "slachtoffer": 5, "parketnummer": 6}
    validator = jsonpage.validator(str(EXAMPLES.parent / "hulpverlening-v1.schema.json"), "#/$defs/Gebeurtenis")
    problems = jsonpage.problems(validator, event, ["gebeurtenissen", 0], 3)
    assert len(problems) == 4 and problems[-1].message.startswith("and ") and "more problems" in problems[-1].message


def test_unknown_members_are_counted_and_only_near_misses_named(hub, tmp_path):
    """A member's name the contract does not have may be a value put there: counted, and named
    only where it nearly is one the contract has (a typo, to mend)."""
    event = {f"x{i}": i for i in range(30)} | {"tijdstp": "x", "Jansen 739137001": "y"}
    (report,) = ingest(hub, "shn", write(tmp_path, "p.json", {"gebeurtenissen": [event], "volgende": "c",
                                                               "meerBeschikbaar": False}))
    why = report.rejected[0][1]
    assert "32 members not in the contract: tijdstp and others (no other members are allowed here)" in why
    assert "Jansen" not in why and "x1" not in why
    assert "the members berichtId, soort, tijdstip, slachtoffer, hulpverlener are required and missing" in why


def test_a_page_worked_on_by_worker_processes_gives_what_one_process_gives(hub, tmp_path):
    from dataclasses import replace

    from ketenhub.hub import Hub
    from tests.conftest import tune
    base = json.loads((EXAMPLES / "valid-01-pagina.json").read_text())["gebeurtenissen"]
    events = [dict(base[n % 3], berichtId=f"shn-{n}") for n in range(60)]
    for n in range(0, 60, 7):
        events[n]["soort"] = "ONBEKEND"
    path = write(tmp_path, "p.json", {"gebeurtenissen": events, "volgende": "c", "meerBeschikbaar": False})
    tune(hub, parallel_from=1, region_events=9)
    parallel = Hub(replace(hub.settings, workers=2))
    (report,) = ingest(parallel, "shn", path)
    assert report.accepted == 60 - 9
    assert [b for b, _ in report.rejected] == [f"shn-{n}" for n in range(0, 60, 7)]
    assert all(f"$.gebeurtenissen[{b[4:]}].soort" in why for b, why in report.rejected)  # the page's index


def test_a_rejected_event_is_kept_exactly_as_sent_with_its_line(hub, tmp_path):
    sent = (b'{ "volgende" : "c",\n  "gebeurtenissen" : [\n'
            b'    {"berichtId": "shn-1", "soort": "HULP_GESTART", "tijdstip": "2027-01-11T10:30:00+01:00",\n'
            b'     "slachtoffer": {"bsn": "628194821", "naam": "A. de \\u0056ries", "informatiewens": true},\n'
            b'     "registratienummer": "PL07B3 2026123456-1", "hulpverlener": "SHN"} ,\n'
            b'    {"berichtId"  :  "shn-2",\n     "soort": "HULP_GESTART", "medewerker": "P. \\u00d6z"}\n'
            b'  ],\n  "meerBeschikbaar": false }\n')
    (report,) = ingest(hub, "shn", write(tmp_path, "p.json", sent))
    assert report.accepted == 1
    with hub.engine.connect() as conn:
        raw, line, reason = conn.execute(select(quarantine.c.raw, quarantine.c.line, quarantine.c.reason)).one()
    assert raw == b'{"berichtId"  :  "shn-2",\n     "soort": "HULP_GESTART", "medewerker": "P. \\u00d6z"}'
    assert line == 6 and reason.startswith("line 6, at $.gebeurtenissen[1]")


def _spaced(value, space):
    """``value`` as JSON with ``space`` around every token, as a partner might write it."""
    if isinstance(value, dict):
        inner = ",".join(f"{space}{json.dumps(k)}{space}:{space}{_spaced(v, space)}{space}" for k, v in value.items())
        return "{" + inner + space + "}"
    if isinstance(value, list):
        return "[" + ",".join(f"{space}{_spaced(v, space)}{space}" for v in value) + space + "]"
    return json.dumps(value, ensure_ascii=False)


_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                    max_size=3), max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(_values, max_size=5), st.dictionaries(st.text(max_size=5).filter(lambda k: k != "gebeurtenissen"),
                                                      _values, max_size=3), st.sampled_from(["", " ", "\n  ", "\t"]))
def test_each_events_text_as_sent_is_found_wherever_the_list_stands(events, others, space):
    from ketenhub.validate.jsonpage import event_spans
    members = list(others.items())
    members.insert(len(members) // 2, ("gebeurtenissen", events))
    text = _spaced(dict(members), space)
    spans = event_spans(text, "gebeurtenissen")
    assert [json.loads(text[a:b]) for a, b in spans] == events
    assert all(text[a:b] == _spaced(e, space) for (a, b), e in zip(spans, events))


def test_a_page_missing_members_says_so_once(hub, tmp_path):
    (report,) = ingest(hub, "shn", write(tmp_path, "p.json", {"gebeurtenissen": []}))
    text = report.text()
    assert text.count("volgende") == 1, text
