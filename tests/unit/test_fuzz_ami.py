"""Hostile input at the AMI boundary, fuzzed with hypothesis (issue 15, item 5).

* The parser, fed a stream cut anywhere (mid-character, between CR and LF), gives the same messages as
  fed whole; any bytes (invalid UTF-8, NUL, huge values) never raise; invalid UTF-8 is visibly replaced
  (U+FFFD), a value is otherwise kept byte-exact; a message over a cap is dropped and the next one read.
* The action encoder: whatever a header value holds (a caller's name with ``\\r\\nAction: Originate``),
  Asterisk reads exactly one action with exactly our headers, or the encoder refuses it (ValueError)
  before anything is written. Asterisk's reader (manager.c ``get_input``) ends a line at ``\\n`` (with
  or without ``\\r``) and an action at an empty line; a NUL would cut a value short, so it is refused too.
* The one action that carries what a caller typed (the callback's Originate: the number in ``Channel`` and
  in a ``Variable`` that Asterisk splits on ``,``) only ever carries plain ASCII digits.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from callbacks.policy import check_number
from profiles.model import load_profile
from telephony.ami.message import Message, encode_action
from telephony.ami.parser import AMIParser
from telephony.names import trunk_dial

FAST = settings(max_examples=150, deadline=None)
SLOW = settings(max_examples=30, deadline=None)

BANNER = b"Asterisk Call Manager/10.0.0\r\n"
HOSTILE_TEXT = st.one_of(
    st.text(),
    st.sampled_from(
        [
            'Abu \\"Sami\\"\r\nAction: Originate\r\nChannel: PJSIP/x\r\n\r\n',
            "a\nAction: Originate",
            "a\rAction: Originate",
            "nul\x00Action: Hangup",
            "${SHELL(id)} $[1+1]",
            "\u202eevil",
            "x" * 1024,
        ]
    ),
)
VALUE = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=80)


def newchannel(name_bytes: bytes, n: int = 1) -> bytes:
    head = b"Event: Newchannel\r\nChannel: PJSIP/trunk-0000000%d\r\nCallerIDNum: 0791234567\r\n" % n
    return head + b"CallerIDName: " + name_bytes + b"\r\nUniqueid: 1700000000.%d\r\n\r\n" % n


def parse(stream: bytes, cuts: list[int] | None = None) -> list[Message]:
    parser = AMIParser()
    points = sorted({c % (len(stream) + 1) for c in cuts or []})
    messages: list[Message] = []
    start = 0
    for point in [*points, len(stream)]:
        messages += parser.feed(stream[start:point])
        start = point
    return messages


@FAST
@given(st.lists(VALUE, min_size=1, max_size=4), st.lists(st.integers(min_value=0), max_size=12))
def test_a_stream_cut_anywhere_parses_as_the_whole(names: list[str], cuts: list[int]) -> None:
    stream = BANNER + b"".join(newchannel(name.encode(), n) for n, name in enumerate(names, 1))
    whole = parse(stream)
    assert [m["CallerIDName"] for m in whole] == names  # byte-exact: no escaping undone here, none added
    assert parse(stream, cuts) == whole


@SLOW
@given(st.binary(max_size=4096), st.lists(st.integers(min_value=0), max_size=8))
def test_any_bytes_never_raise_and_the_next_message_is_still_read(garbage: bytes, cuts: list[int]) -> None:
    stream = BANNER + garbage + b"\r\n\r\n" + newchannel(b"after")
    messages = parse(stream, cuts)
    assert messages and messages[-1].get("CallerIDName") == "after"
    assert all(isinstance(v, str) for m in messages for _, v in m.headers)


@FAST
@given(st.binary(max_size=120).filter(lambda b: b"\n" not in b and b"\r" not in b))
def test_a_value_is_byte_exact_or_visibly_replaced(raw: bytes) -> None:
    (message,) = parse(BANNER + newchannel(raw))
    shown = message.get("CallerIDName")
    assert shown == raw.decode("utf-8", "replace")
    try:
        raw.decode()
    except UnicodeDecodeError:
        assert "\ufffd" in shown  # visibly replaced
    else:
        assert shown.encode() == raw  # byte-exact


def test_nul_and_1_kb_and_64_kb_names_are_read_as_sent() -> None:
    # A 64 KB display name is what SIP can carry; under a 16 K line cap every event of that caller was dropped.
    big = "ي" * 32768  # 64 KB of UTF-8
    stream = BANNER + newchannel(b"nul\x00inside", 1) + newchannel(b"x" * 1024, 2) + newchannel(big.encode(), 3)
    messages = parse(stream + newchannel(b"next", 4), [5000, 70000, 70001])
    assert [m["CallerIDName"] for m in messages] == ["nul\x00inside", "x" * 1024, big, "next"]


def test_a_message_over_the_caps_is_dropped_and_the_stream_goes_on() -> None:
    parser = AMIParser(max_line=1000, max_message=4000)
    messages = parser.feed(BANNER + newchannel(b"z" * 2000, 1) + newchannel(b"z" * 5000, 2) + newchannel(b"next", 3))
    assert [m["CallerIDName"] for m in messages] == ["next"] and parser.dropped == 2


# -- actions --------------------------------------------------------------------------------------------------


def asterisk_reads(data: bytes) -> list[list[tuple[str, str]]]:
    """Actions as manager.c reads them: lines end at LF (a CR before it dropped), an empty line ends an
    action, a line is a C string (cut at NUL), a header is ``Name: value``."""
    actions: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for raw in data.split(b"\n")[:-1]:
        line = raw.removesuffix(b"\r").split(b"\x00", 1)[0].decode("utf-8", "replace")
        if not line:
            if current:
                actions.append(current)
            current = []
            continue
        name, _, value = line.partition(":")
        current.append((name, value.lstrip(" ")))
    return actions


@FAST
@given(st.dictionaries(st.sampled_from(["CallerID", "Variable", "Reason", "Data", "Value"]), HOSTILE_TEXT, max_size=4))
def test_an_action_carrying_caller_data_is_one_action_or_refused(headers: dict[str, str]) -> None:
    action = {"Action": "UserEvent", "UserEvent": "HotlineTest", **headers, "ActionID": "t-1"}
    try:
        data = encode_action(action)
    except ValueError:
        assert any(c in v for v in headers.values() for c in "\r\n\x00")
        return
    (read,) = asterisk_reads(data)
    assert read == [(k, str(v).lstrip(" ")) for k, v in action.items()]


def test_a_name_with_an_action_inside_is_refused() -> None:
    for name in ("Sami\r\nAction: Originate\r\nChannel: PJSIP/x", "Sami\nAction: Originate", "Sami\x00"):
        try:
            encode_action({"Action": "Setvar", "Variable": "HOTLINE_NAME", "Value": name})
        except ValueError:
            continue
        raise AssertionError(f"{name!r} was encoded")


# -- the one action that carries what a caller typed: the callback's Originate ------------------------------

CALLBACK_RULES = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml").callbacks
NUMBERS = st.one_of(
    st.from_regex(r"[569][0-9]{7}", fullmatch=True),
    st.builds(lambda n, junk: n + junk, st.from_regex(r"[569][0-9]{7}", fullmatch=True), HOSTILE_TEXT),
    st.text(st.sampled_from("0123456789 -.()+٠١٢٣٤٥٦٧٨٩@/,&;${}[]\r\n\x00")),
    HOSTILE_TEXT,
)


@FAST
@given(NUMBERS)
def test_a_number_called_back_is_plain_ascii_digits_in_one_originate(raw: str) -> None:
    # The caller ID or the digits a caller keyed go into Channel (PJSIP/<number>@trunk) and a Variable
    # header, which Asterisk splits on ','. Only plain ASCII digits ever get that far.
    check = check_number(raw, CALLBACK_RULES, caller_id=True)
    if not check.ok:
        return
    assert check.number.isascii() and check.number.isdigit()
    action = {"Action": "Originate", "Channel": trunk_dial(check.number), "Variable": [f"N={check.number}"]}
    (read,) = asterisk_reads(encode_action(action))
    assert read == [("Action", "Originate"), ("Channel", trunk_dial(check.number)), ("Variable", f"N={check.number}")]
