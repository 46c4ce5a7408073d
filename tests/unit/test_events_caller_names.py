"""A caller's display name is stored as the caller's phone shows it.

The path of a name: the phone sends a SIP quoted-string (``"Abu \\"Sami\\""``, RFC 3261 25.1), the
SIP stack keeps the display name with its quoted-pair escapes, and Asterisk C-escapes it again
when it writes ``CallerIDName:`` in AMI (``ast_escape_c``). Both are undone once, at the boundary
(``telephony.events``). The other end is modelled below by the two escapings, then the AMI text
goes through our parser like the real stream.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.ami.parser import AMIParser
from telephony.events import Newchannel, QueueEntry, caller_name, parse_event, sip_unquote, unescape_asterisk

# Asterisk's ast_escape_c (main/utils.c): these characters, backslash-escaped.
_AST_ESCAPES = {"\a": "a", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t", "\v": "v",
                "\\": "\\", "'": "'", '"': '"', "?": "?"}  # fmt: skip


def ast_escape_c(text: str) -> str:
    return "".join("\\" + _AST_ESCAPES[c] if c in _AST_ESCAPES else c for c in text)


def sip_display(shown: str) -> str:
    """The display name of a SIP quoted-string carrying ``shown``, without its quotes."""
    return shown.replace("\\", "\\\\").replace('"', '\\"')


def newchannel_text(ami_name: str) -> bytes:
    return (
        "Event: Newchannel\r\nTimestamp: 1700000000.100000\r\nChannel: PJSIP/trunk-00000001\r\n"
        f"CallerIDNum: 0791234567\r\nCallerIDName: {ami_name}\r\nContext: hotline-inbound\r\n"
        "Exten: 151\r\nUniqueid: 1700000000.1\r\nLinkedid: 1700000000.1\r\n\r\n"
    ).encode()


def stored_name(shown: str) -> str:
    (message,) = AMIParser().feed(newchannel_text(ast_escape_c(sip_display(shown))))
    event = parse_event(message)
    assert isinstance(event, Newchannel)
    return event.caller_id_name


NAMES = [
    'Abu "Sami" Khalil',
    '"Quoted whole"',
    'محمد "أبو علي" الحسن',
    "O'Brien",
    "Back\\slash",
    "Ends with backslash\\",
    '\\"both\\"',
    'Dr. "Who?"',
    "It's \"the\" one's",
    'حسين \\ "الكبير"',
    "plain name",
    "محمد عبدالله",
    '""',
    '"',
    "a\\\\b",
    "tab\there",
    'x "y \\"z\\"" w',
]


@pytest.mark.parametrize("shown", NAMES)
def test_a_display_name_is_stored_as_the_phone_shows_it(shown: str) -> None:
    assert stored_name(shown) == shown


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40))
def test_any_display_name_survives_the_sip_and_asterisk_escaping(shown: str) -> None:
    assert stored_name(shown) == shown


def test_the_escaped_quotes_of_the_bug_report_are_gone() -> None:
    # What Asterisk 22 writes for the SIP display name "Abu \"Sami\" Khalil".
    (message,) = AMIParser().feed(newchannel_text('Abu \\\\\\"Sami\\\\\\" Khalil'))
    event = parse_event(message)
    assert isinstance(event, Newchannel) and event.caller_id_name == 'Abu "Sami" Khalil'


def test_a_name_without_backslashes_is_kept_byte_exact() -> None:
    name = 'محمد عبدالله "x"'  # quotes without escapes: nothing to undo
    assert caller_name(name) == name


def test_the_unescapers_each_undo_one_layer() -> None:
    assert unescape_asterisk('a\\"b\\\\c\\n') == 'a"b\\c\n'
    assert unescape_asterisk("unknown \\q escape and trailing \\") == "unknown \\q escape and trailing \\"
    assert sip_unquote('"Abu \\"Sami\\""') == 'Abu "Sami"'
    assert sip_unquote("a\\\\b") == "a\\b"
    assert sip_unquote("trailing \\") == "trailing \\"


def test_waiting_callers_in_queue_status_get_the_same_unescaping() -> None:
    (message,) = AMIParser().feed(
        b"Event: QueueEntry\r\nQueue: ar-general\r\nPosition: 1\r\nUniqueid: w1\r\n"
        b'CallerIDName: Abu \\\\\\"Sami\\\\\\"\r\nWait: 4\r\n\r\n'
    )
    entry = parse_event(message)
    assert isinstance(entry, QueueEntry) and entry.caller_id_name == 'Abu "Sami"'


# What Asterisk 22 (chan_pjsip) wrote as Newchannel ``CallerIDName:`` when SIPp callers sent these
# display names as RFC 3261 quoted-strings: the AMI text as it came, captured by
# tests/e2e/test_calls.py::test_callers_display_names_are_stored_as_their_phones_show_them.
# It is exactly ast_escape_c(sip_display(name)), the model above.
CAPTURED_FROM_ASTERISK_22 = [
    (r"Dr. \\\"Who\\\" Smith", 'Dr. "Who" Smith'),
    (r"\\\"Quoted\\\" whole", '"Quoted" whole'),
    (r"back\\\\slash", "back\\slash"),
    (r"trailing backslash\\\\", "trailing backslash\\"),
    (r"a\\\\\\\"b", 'a\\"b'),
    (r"\\\\\\\\ two", "\\\\ two"),
    (r"عبد \\\"الله\\\" \\\\ محمد", 'عبد "الله" \\ محمد'),
    (r"<script>alert(1)</script>", "<script>alert(1)</script>"),
    (r"Ben & Jerry\'s", "Ben & Jerry's"),
    (r"Smith, John; Jr.", "Smith, John; Jr."),
    (r"[brackets] ]]> {braces}", "[brackets] ]]> {braces}"),
    (r"n\\\\n not a newline", "n\\n not a newline"),
    (r"${EXTEN} 100% $(x)", "${EXTEN} 100% $(x)"),
]


@pytest.mark.parametrize(("ami_text", "shown"), CAPTURED_FROM_ASTERISK_22)
def test_what_asterisk_22_really_sends_is_stored_as_the_phone_shows_it(ami_text: str, shown: str) -> None:
    (message,) = AMIParser().feed(newchannel_text(ami_text))
    event = parse_event(message)
    assert isinstance(event, Newchannel) and event.caller_id_name == shown
    assert ami_text == ast_escape_c(sip_display(shown))  # the model of the other end holds
