"""DTMF sequences of any keys and lengths through the IVR, fuzzed with hypothesis (issue 15, item 5).

* The pure menu (every shipped profile, open and closed hours): whatever is keyed, it never raises,
  ends within (levels x (retries + 1)) answers, and ends in a routed step whose queue is one of the
  profile's own (or closed / a case route / information / a message); a key after the end is refused.
* The FastAGI IVR handler, fed any GET DATA replies (hostile text included): it either sets a known
  queue with one MSet ending in ``HOTLINE_RESULT`` (its last command), or sets nothing and raises an AGI
  error, so the dialplan sends the caller to the default queue. Never silence, never a queue name made of caller input.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.handler import IvrHandler
from ivr.menu import Ask, Closed, Follow, Info, Menu, MenuFinished, Message, Report, Route
from profiles.model import Profile, load_profile
from telephony.agi import AGIError, AGISession
from telephony.names import queue_name

PROFILES = {path.stem: load_profile(path) for path in sorted((Path(__file__).parents[2] / "profiles").glob("*.yaml"))}
MONDAY_NOON = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)
KEYS = st.one_of(
    st.text(st.sampled_from("0123456789*#"), max_size=3),
    st.text(max_size=6),  # what no phone sends: letters, NUL, U+202E, ${...}
    st.sampled_from(["", "${EXTEN}", "$[1+1]", "\x00", "\u202e1", "1" * 1024]),
)


def queues(profile: Profile) -> set[str]:
    names = set()
    for language in profile.language_codes:
        for topic in profile.topics:
            names.add(queue_name(language, topic.id))
            for specialty in topic.specialties:
                names.add(queue_name(language, topic.id, specialty.id))
    return names


@pytest.mark.parametrize("name", sorted(PROFILES))
@settings(max_examples=60, deadline=None)
@given(presses=st.lists(KEYS, max_size=20), hours=st.integers(min_value=0, max_value=24 * 7 - 1))
def test_any_keys_end_the_menu_in_a_known_place(name: str, presses: list[str], hours: int) -> None:
    profile = PROFILES[name]
    menu = Menu(profile, MONDAY_NOON + timedelta(hours=hours), wait=lambda queue: 600.0)
    step = menu.start()
    answers = iter(presses)
    limit = 3 * (profile.retries + 1)
    for _ in range(limit):
        if not isinstance(step, Ask):
            break
        step = menu.press(next(answers, ""))  # a silent caller after the keys ran out
    assert not isinstance(step, Ask), f"still asking after {limit} answers"
    known = queues(profile)
    if isinstance(step, Route):
        assert step.queue in known and step.language in profile.language_codes
    elif isinstance(step, Info):
        assert step.route.queue in known
    elif isinstance(step, (Report, Follow, Message)):
        assert step.queue in known
    else:
        assert isinstance(step, Closed)
    with pytest.raises(MenuFinished):
        menu.press("1")


class Wire:
    def __init__(self, replies: bytes) -> None:
        self.reader = asyncio.StreamReader()
        self.reader.feed_data(replies)
        self.reader.feed_eof()
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        self.written += data

    async def drain(self) -> None:
        return None


REPLY = st.one_of(
    st.text(st.sampled_from("0123456789*#"), max_size=2).map(lambda d: f"200 result={d}"),
    st.just("200 result= (timeout)"),
    st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=12).map(
        lambda t: f"200 result={t}"
    ),
    st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=12),  # not even a reply
)


@settings(max_examples=80, deadline=None)
@given(replies=st.lists(REPLY, max_size=10))
def test_the_ivr_handler_sets_a_known_queue_or_leaves_the_fallback(replies: list[str]) -> None:
    profile = PROFILES["moh-151"]
    handler = IvrHandler(profile, "/sounds", clock=lambda: datetime(2021, 3, 14, 9, 0, tzinfo=UTC))

    async def run() -> tuple[bytes, BaseException | None]:
        wire = Wire(("\n".join([*replies, *["200 result=0"] * 6]) + "\n").encode())
        session = AGISession({"network_script": "ivr", "uniqueid": "1.1", "callerid": "079"}, wire.reader, wire)
        try:
            await handler(session)
        except AGIError as exc:  # the server logs it and closes: the dialplan's default queue
            return bytes(wire.written), exc
        return bytes(wire.written), None

    written, error = asyncio.run(run())
    lines = written.decode().splitlines()
    msets = [line for line in lines if line.startswith('EXEC "MSet"')]
    if error is not None and not msets:
        return  # nothing set: the dialplan's default queue
    # Routed: one MSet, the last command (an error after it is a garbled reply to it; whether Asterisk set
    # the variables or not, the caller is routed or takes the default queue).
    assert len(msets) == 1 and lines[-1] == msets[0]
    data = msets[0].split(" ", 2)[2].strip('"')
    variables = dict(pair.split("=", 1) for pair in data.split(","))
    assert variables["HOTLINE_QUEUE"] in queues(profile)
    assert data.endswith("HOTLINE_RESULT=OK")
