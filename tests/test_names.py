"""A partner's file name shown: every character a terminal would act on escaped, whether the
name is plain ASCII (taken as it is, unless it holds one) or not."""
from ketenhub.names import name_problem, shown


def test_every_ascii_character_is_shown_as_escaping_it_alone_would_show_it():
    for code in range(128):
        name = f"CVOM_{chr(code)}.xml"
        # A letter outside ASCII (shown as it is) makes shown escape character by character.
        assert shown(name) == shown(name + "é")[:-1], code


def test_names_with_escapes_are_shown_escaped_and_refused():
    assert shown("CVOM_\x1b[31m.xml") == "CVOM_\\x1b[31m.xml"
    assert shown("a\\b.xml") == "a\\\\b.xml"
    assert shown("CVOM_\u202e.xml") == "CVOM_\\u202e.xml"
    assert name_problem("CVOM_\x7f.xml") and name_problem("CVOM_\u202e.xml")
    assert name_problem("CVOM_1.xml") is None and shown("CVOM_1.xml") == "CVOM_1.xml"
