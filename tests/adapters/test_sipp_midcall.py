"""An agent phone's mid-call requests (telephony.sipp.driver: Dtmf, Refer), SIPp against a tiny UDP fake
of Asterisk's side of the call: it calls the phone, answers each INFO, answers the REFER as told and sends
the NOTIFYs a transfer would (sipfrag 100, then the outcome), then hangs up."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telephony.sipp.driver import AgentPhone, Dtmf, Refer, ScenarioError, free_udp_port
from telephony.sipp.render import render_agent_scenario

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (sip-tester) is not installed")


def _headers(text: str) -> tuple[str, dict[str, str], str]:
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return lines[0], headers, body


class FakeCaller(asyncio.DatagramProtocol):
    """Asterisk's side: INVITE to the phone, ACK the 200, 200 to INFO, ``refer_status`` to REFER and then
    NOTIFYs with ``notify_frags``; BYE once ``hangup`` is set."""

    def __init__(self, *, refer_status: int = 202, notify_frags: tuple[str, ...] = ("100 Trying", "200 OK")) -> None:
        self.refer_status = refer_status
        self.notify_frags = notify_frags
        self.received: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.answered = asyncio.Event()
        self.refer_seen = asyncio.Event()
        self.notify_answers: list[int] = []
        self.phone: tuple[str, int] | None = None
        self.phone_tag = ""
        self.cseq = 1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    @property
    def port(self) -> int:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[1]

    def send(self, lines: list[str], body: str = "") -> None:
        assert self.transport is not None and self.phone is not None
        text = "\r\n".join([*lines, f"Content-Length: {len(body.encode())}", "", body])
        self.transport.sendto(text.encode(), self.phone)

    def request(self, method: str, extra: list[str] = (), body: str = "", *, cseq: int | None = None) -> None:  # type: ignore[assignment]
        assert self.phone is not None
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        self.send(
            [
                f"{method} sip:agent@127.0.0.1:{self.phone[1]} SIP/2.0",
                f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK-fake-{method}-{cseq}",
                "From: <sip:caller@127.0.0.1>;tag=fake1",
                f"To: <sip:agent@127.0.0.1>{self.phone_tag}",
                "Call-ID: fake-call-1@127.0.0.1",
                f"CSeq: {cseq} {method}",
                f"Contact: <sip:caller@127.0.0.1:{self.port}>",
                "Max-Forwards: 70",
                *extra,
            ],
            body,
        )

    def invite(self, phone: tuple[str, int]) -> None:
        self.phone = phone
        sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
        self.request("INVITE", ["Content-Type: application/sdp"], sdp, cseq=1)

    def respond(self, headers: dict[str, str], status: str) -> None:
        self.send(
            [
                f"SIP/2.0 {status}",
                f"Via: {headers['via']}",
                f"From: {headers['from']}",
                f"To: {headers['to']}",
                f"Call-ID: {headers['call-id']}",
                f"CSeq: {headers['cseq']}",
            ]
        )

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        text = data.decode("utf-8")
        self.received.append(text)
        first, headers, _body = _headers(text)
        if first.startswith("SIP/2.0 200") and headers["cseq"].endswith("INVITE"):
            self.phone_tag = ";tag=" + headers["to"].rsplit("tag=", 1)[1]
            self.request("ACK", cseq=1)
            self.answered.set()
        elif first.startswith("SIP/2.0 200") and headers["cseq"].endswith("NOTIFY"):
            self.notify_answers.append(int(headers["cseq"].split()[0]))
        elif first.startswith("INFO "):
            self.respond(headers, "200 OK")
        elif first.startswith("REFER "):
            self.refer_seen.set()
            self.respond(headers, f"{self.refer_status} {'Accepted' if self.refer_status == 202 else 'Not Found'}")
            if self.refer_status == 202:
                for index, frag in enumerate(self.notify_frags):
                    state = "terminated;reason=noresource" if index == len(self.notify_frags) - 1 else "active"
                    self.request(
                        "NOTIFY",
                        ["Event: refer", f"Subscription-State: {state}", "Content-Type: message/sipfrag;version=2.0"],
                        f"SIP/2.0 {frag}\r\n",
                    )
        elif first.startswith("BYE "):
            self.respond(headers, "200 OK")

    def of(self, method: str) -> list[str]:
        return [text for text in self.received if text.startswith(f"{method} ")]


@pytest.fixture
async def caller() -> AsyncIterator[FakeCaller]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(FakeCaller, local_addr=("127.0.0.1", free_udp_port()))
    yield protocol
    transport.close()


async def _wait(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


def _phone(tmp_path: Path, **kwargs: object) -> AgentPhone:
    return AgentPhone("agent-1", "s3cret", local_port=free_udp_port(), workdir=tmp_path, ring_seconds=0.1, **kwargs)  # type: ignore[arg-type]


async def test_agent_phone_keys_dtmf_as_sip_info_after_the_answer(caller: FakeCaller, tmp_path: Path) -> None:
    phone = _phone(tmp_path, during_call=[Dtmf("#1", after=0.3), Dtmf("71", after=0.5)], talk_seconds=0.5)
    async with phone:
        caller.invite(("127.0.0.1", phone.local_port))
        await _wait(lambda: bool(caller.of("BYE")))
        signals = [line for text in caller.of("INFO") for line in text.split("\r\n") if line.startswith("Signal=")]
        assert signals == ["Signal=#", "Signal=1", "Signal=7", "Signal=1"]
        assert all("application/dtmf-relay" in text for text in caller.of("INFO"))
        assert phone.dtmf_sent() == ["#", "1", "7", "1"]
        cseqs = [_headers(text)[1]["cseq"] for text in caller.of("INFO") + caller.of("BYE")]
        assert cseqs == ["1 INFO", "2 INFO", "3 INFO", "4 INFO", "5 BYE"]  # the phone's own CSeq space, rising


async def test_agent_phone_sends_refer_and_reports_the_notified_outcome(caller: FakeCaller, tmp_path: Path) -> None:
    phone = _phone(tmp_path, during_call=[Refer("sip:71@127.0.0.1", after=0.3)], talk_seconds=0.5)
    async with phone:
        caller.invite(("127.0.0.1", phone.local_port))
        await _wait(lambda: bool(caller.of("BYE")))
        (refer,) = caller.of("REFER")
        assert _headers(refer)[1]["refer-to"] == "<sip:71@127.0.0.1>"
        assert len(caller.notify_answers) == 2  # the phone answered both NOTIFYs
        (outcome,) = phone.refer_outcomes()
        assert outcome.target == "sip:71@127.0.0.1"
        assert outcome.status == 202 and outcome.accepted
        assert outcome.notifies == (100, 200) and outcome.result == 200


async def test_a_refused_refer_is_reported_and_the_call_goes_on(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    transport, caller = await loop.create_datagram_endpoint(
        lambda: FakeCaller(refer_status=404), local_addr=("127.0.0.1", free_udp_port())
    )
    phone = _phone(tmp_path, during_call=[Refer("sip:0090123456@evil.example", after=0.2), Dtmf("5", after=0.2)],
                   talk_seconds=0.3)  # fmt: skip
    try:
        async with phone:
            caller.invite(("127.0.0.1", phone.local_port))
            await _wait(lambda: bool(caller.of("BYE")))
            (outcome,) = phone.refer_outcomes()
            assert outcome.status == 404 and not outcome.accepted and outcome.result is None
            assert phone.dtmf_sent() == ["5"]  # still in the call after the refusal
    finally:
        transport.close()


async def test_behave_changes_what_the_next_call_does(caller: FakeCaller, tmp_path: Path) -> None:
    phone = _phone(tmp_path, talk_seconds=0.3)
    async with phone:
        await phone.behave([Dtmf("9", after=0.2)], talk_seconds=0.3)
        caller.invite(("127.0.0.1", phone.local_port))
        await _wait(lambda: bool(caller.of("BYE")))
        assert phone.dtmf_sent() == ["9"]
        assert len(phone.answered_calls()) == 1


@pytest.mark.parametrize(
    "target",
    ["tel:+96890000000", "sip:71@h>\r\nX-Evil: 1", "sip:a b@h", "sip:[x]@h", "sip:x@h\\", 'sip:"x"@h', ""],
)
def test_a_refer_target_that_is_not_a_plain_sip_uri_is_refused(target: str) -> None:
    with pytest.raises(ScenarioError):
        Refer(target)


@pytest.mark.parametrize("digits", ["", "12x", "1\n2", "]]>"])
def test_digits_that_are_not_dtmf_are_refused_when_the_phone_is_made(digits: str, tmp_path: Path) -> None:
    with pytest.raises(ScenarioError):
        _phone(tmp_path, during_call=[Dtmf(digits)])
    with pytest.raises(ScenarioError):
        render_agent_scenario(user="a", ring_seconds=0.1, talk_seconds=None, actions=[("dtmf", -1.0, "1")])
