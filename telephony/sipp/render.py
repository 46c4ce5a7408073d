"""Render the SIPp scenarios: one Jinja2 environment over ``telephony/sipp/scenarios/``.

Two contexts, each escaped exactly once:

* XML attributes (``timeout="{{ ... }}"``, ``<log message=...>``, the scenario name): every
  ``{{ value }}`` is escaped automatically (``autoescape``) in the dialect SIPp's own XML parser
  understands: ``&amp; &lt; &gt; &quot;`` (it knows no ``&#34;``/``&#39;``, which markupsafe would
  write) -- and a backslash, an escape character in SIPp's attribute reader, is refused.
* The SIP messages inside ``<![CDATA[ ]]>``: CDATA is literal, so XML escaping there would put
  ``&amp;`` on the wire. Values there go through the ``|sipp`` filter, which writes ``[``, ``]``
  and ``\\`` as SIPp's ``\\xHH`` escapes: no value can open a SIPp ``[keyword]`` or close the
  CDATA section (``]]>``); CR, LF and NUL are refused. UTF-8 text (Arabic names) stays as it is.

Macros shared by the scenarios live in ``blocks.xml.part``. A missing value is an error
(``StrictUndefined``), never an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import jinja2
from markupsafe import Markup

PROVISIONAL = (100, 180, 181, 182, 183)
# one line per class of status (3xx to 6xx)
INVITE_FAILURES = (
    300, 301, 302, 380,
    400, 401, 402, 403, 404, 405, 406, 407, 408, 410, 413, 414, 415, 416, 420, 421, 423,
    480, 481, 482, 483, 484, 485, 486, 487, 488, 489, 491, 493,
    500, 501, 502, 503, 504, 505, 513, 580,
    600, 603, 604, 606,
)  # fmt: skip
INFO_FAILURES = (400, 403, 404, 405, 415, 481, 488, 489, 500, 501, 503)
REFER_FAILURES = (400, 403, 404, 405, 420, 481, 488, 489, 500, 501, 503, 603)
REGISTER_FAILURES = (400, 403, 404, 405, 408, 423, 480, 500, 501, 503, 504, 603)

LOCAL_HOST = "127.0.0.1"

_SAFE_USER = re.compile(r"[A-Za-z0-9+*#._~!$&'()=,;?/-]{1,64}")
_SAFE_HOST = re.compile(r"[A-Za-z0-9.:-]{1,255}")
_DTMF_DIGIT = re.compile(r"[0-9*#A-Da-d]")
_EXTENSION = re.compile(r"[0-9A-Za-z*#_-]{1,64}")
_REASON = re.compile(r"[A-Za-z0-9 .,'-]{1,64}")
_FORBIDDEN_IN_MESSAGES = ("\r", "\n", "\x00")
_REFER_TARGET = re.compile(r"sips?:[^\s<>\"\\\[\]]{1,200}")


class ScenarioError(ValueError):
    """A value cannot be rendered into a SIPp scenario."""


# --------------------------------------------------------------------------- escaping


def sipp_text(value: object) -> Markup:
    """``value`` for a SIP message inside CDATA: ``[``, ``]`` and ``\\`` as SIPp ``\\xHH``.

    SIPp reads ``[...]`` in a message as a keyword and ``\\x5B`` as the byte 0x5B; nothing else
    in CDATA is special. CR, LF and NUL are refused (they would start a new header line).
    """
    text = str(value)
    if any(char in text for char in _FORBIDDEN_IN_MESSAGES):
        raise ScenarioError(f"{text!r}: CR, LF and NUL cannot go into a SIP message")
    escaped = text.replace("\\", "\\x5C").replace("[", "\\x5B").replace("]", "\\x5D")
    return Markup(escaped)


def sipp_attribute(value: object) -> Markup:
    """``value`` for a double-quoted XML attribute, in the entities SIPp decodes."""
    if isinstance(value, Markup):  # already rendered: a macro's output, or |sipp
        return value
    text = str(value)
    if "\\" in text:
        raise ScenarioError(f"{text!r}: SIPp reads a backslash in an attribute as an escape")
    if any(char in text for char in _FORBIDDEN_IN_MESSAGES):
        raise ScenarioError(f"{text!r}: CR, LF and NUL cannot go into a scenario attribute")
    return Markup(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("telephony.sipp", "scenarios"),
        autoescape=True,
        finalize=sipp_attribute,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["sipp"] = sipp_text
    env.globals.update(
        provisional=PROVISIONAL,
        invite_failures=INVITE_FAILURES,
        info_failures=INFO_FAILURES,
        refer_failures=REFER_FAILURES,
        register_failures=REGISTER_FAILURES,
    )
    return env


ENVIRONMENT = _environment()
"""The one Jinja2 environment every scenario is rendered with."""


def render_scenario(name: str, **values: Any) -> str:
    """Render the scenario template ``name`` (e.g. ``uac_call.xml``) with ``values``."""
    try:
        return ENVIRONMENT.get_template(name).render(**values)
    except jinja2.UndefinedError as exc:
        raise ScenarioError(f"scenario {name}: {exc}") from exc


# --------------------------------------------------------------------------- validation


def checked_user(value: str, what: str) -> str:
    """A plain SIP user part (no brackets, no ``]]>``); ValueError otherwise."""
    if not isinstance(value, str) or not _SAFE_USER.fullmatch(value):
        raise ScenarioError(f"{what} {value!r} is not a plain SIP user part")
    return value


def checked_host(value: str, what: str) -> str:
    if not isinstance(value, str) or not _SAFE_HOST.fullmatch(value):
        raise ScenarioError(f"{what} {value!r} is not a plain host")
    return value


def checked_port(value: int, what: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ScenarioError(f"{what} {value!r} is not a UDP port") from None
    if not 0 < port < 65536:
        raise ScenarioError(f"{what} {value!r} is not a UDP port")
    return port


def checked_extension(extension: str) -> str:
    """Validate an extension / feature code to dial: digits, ``*``, ``#``, letters, ``-``, ``_``.

    Raises ValueError otherwise (so nothing else can reach the Request-URI or the scenario).
    """
    if not isinstance(extension, str) or not _EXTENSION.fullmatch(extension):
        raise ScenarioError(
            f"extension {extension!r} may only contain digits, *, #, letters, - and _ (1-64 characters)"
        )
    return extension


def extension_uri_user(extension: str) -> str:
    """The Request-URI user part for ``extension``: ``#`` is not allowed unescaped there
    (RFC 3261), so it is sent as ``%23`` (Asterisk decodes it back to ``#``); ``*`` is kept."""
    return checked_extension(extension).replace("#", "%23")


def sip_display_name(name: str | None) -> str:
    """The display-name part of a From header (``"name" ``), or an empty string.

    The name is kept as UTF-8 text; quotes and backslashes are escaped (RFC 3261 quoted-string).
    """
    if not name:
        return ""
    if any(char in name for char in _FORBIDDEN_IN_MESSAGES):
        raise ScenarioError("a display name cannot contain CR, LF or NUL")
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" '


def ms(seconds: float) -> int:
    """Milliseconds for a SIPp timeout; at least 1 (0 would mean "no timeout")."""
    return max(1, round(seconds * 1000))


def _hangup(hangup_after: float | None, max_duration: float, waited: float = 0.0) -> dict[str, Any]:
    """How a call ends: ``after`` ms, ``now``, or ``wait`` for the BYE up to max_duration."""
    if hangup_after is not None:
        if hangup_after < 0:
            raise ScenarioError("hangup_after cannot be negative")
        if hangup_after > 0:
            return {"mode": "after", "ms": ms(hangup_after)}
        return {"mode": "now", "ms": 0}
    return {"mode": "wait", "ms": ms(max(0.001, max_duration - waited))}


# --------------------------------------------------------------------------- scenarios


_AUDIO_PATH = re.compile(r"/[A-Za-z0-9/._-]{1,400}")


def render_call_scenario(
    *,
    target_host: str,
    target_port: int,
    number: str,
    caller_number: str,
    dtmf: Sequence[tuple[float, str]],
    hangup_after: float | None,
    max_duration: float,
    answer_timeout: float,
    caller_name: str | None = None,
    dtmf_duration_ms: int = 160,
    audio: str | None = None,
) -> str:
    """Render the one-call UAC scenario (``uac_call.xml``), the display name included; with ``audio`` (a WAV of
    PCMU at 8 kHz), the caller sends it as RTP, looped, from the answer on (so a recording has talk to hold)."""
    if audio is not None and not _AUDIO_PATH.fullmatch(audio):
        raise ScenarioError(f"{audio!r}: an audio file's absolute path of letters, digits and ./_-")
    steps: list[dict[str, Any]] = []
    cseq = 2
    waited = 0.0
    for number_, (delay, digit) in enumerate(dtmf, start=1):
        if not isinstance(digit, str) or not _DTMF_DIGIT.fullmatch(digit):
            raise ScenarioError(f"{digit!r} is not a DTMF digit")
        if delay < 0:
            raise ScenarioError("DTMF delays cannot be negative")
        waited += delay
        steps.append(
            {"number": number_, "digit": digit.upper(), "cseq": cseq, "pause_ms": ms(delay) if delay > 0 else None}
        )
        cseq += 1
    return render_scenario(
        "uac_call.xml",
        target_host=checked_host(target_host, "target_host"),
        target_port=checked_port(target_port, "target_port"),
        number=checked_user(number, "number"),
        caller_number=checked_user(caller_number, "caller_number"),
        display=sip_display_name(caller_name),
        answer_ms=ms(answer_timeout),
        dtmf=steps,
        dtmf_duration_ms=int(dtmf_duration_ms),
        info_timeout_ms=8000,
        hangup=_hangup(hangup_after, max_duration, waited),
        bye_cseq=cseq,
        bye_timeout_ms=5000,
        audio=audio,
    )


def checked_refer_target(target: str) -> str:
    """A REFER's Refer-To URI: ``sip:`` or ``sips:`` and no spaces, quotes, angle brackets,
    square brackets or backslashes (anything else, hostile user parts included, is sent as is)."""
    if not isinstance(target, str) or not _REFER_TARGET.fullmatch(target):
        raise ScenarioError(f"Refer-To {target!r} is not a plain sip: URI")
    return target


def agent_steps(actions: Sequence[tuple[str, float, str]], *, gap: float) -> list[dict[str, Any]]:
    """The steps of an agent phone's mid-call requests: ``("dtmf", after, digits)`` (one INFO per
    digit, ``gap`` seconds apart) or ``("refer", after, target_uri)``; numbered from 1 per action."""
    steps: list[dict[str, Any]] = []
    cseq = 1
    for number, (kind, after, value) in enumerate(actions, start=1):
        if after < 0 or gap < 0:
            raise ScenarioError("mid-call pauses cannot be negative")
        if kind == "dtmf":
            if not value or not all(_DTMF_DIGIT.fullmatch(digit) for digit in value):
                raise ScenarioError(f"{value!r} is not a string of DTMF digits")
            for index, digit in enumerate(value):
                pause = after if index == 0 else gap
                label = f"{number}_{index + 1}"
                pause_ms = ms(pause) if pause > 0 else None
                steps.append({"kind": "dtmf", "number": number, "label": label, "digit": digit.upper(),
                              "cseq": cseq, "pause_ms": pause_ms})  # fmt: skip
                cseq += 1
        elif kind == "refer":
            target = checked_refer_target(value)
            steps.append({"kind": "refer", "number": number, "label": str(number), "target": target,
                          "cseq": cseq, "pause_ms": ms(after) if after > 0 else None})  # fmt: skip
            cseq += 1
        else:
            raise ScenarioError(f"unknown mid-call action {kind!r}")
    return steps


def render_agent_scenario(
    *,
    user: str,
    ring_seconds: float,
    talk_seconds: float | None,
    actions: Sequence[tuple[str, float, str]] = (),
    dtmf_gap: float = 0.25,
    dtmf_duration_ms: int = 160,
) -> str:
    """Render the agent-phone UAS scenario (``uas_agent.xml``), with its mid-call requests
    (see :func:`agent_steps`) after each answer."""
    steps = agent_steps(actions, gap=dtmf_gap)
    return render_scenario(
        "uas_agent.xml",
        user=checked_user(user, "user"),
        ring_ms=ms(ring_seconds),
        talk_ms=None if talk_seconds is None else ms(talk_seconds),
        actions=steps,
        dtmf_duration_ms=int(dtmf_duration_ms),
        bye_cseq=len(steps) + 1,
    )


def render_reject_scenario(*, status: int, reason: str) -> str:
    """Render the rejecting UAS scenario (``uas_reject.xml``)."""
    if not 300 <= int(status) <= 699:
        raise ScenarioError("status must be a final error (300-699)")
    if not isinstance(reason, str) or not _REASON.fullmatch(reason):
        raise ScenarioError(f"reason {reason!r} is not a plain reason phrase")
    return render_scenario("uas_reject.xml", status=int(status), reason=reason)


def render_register_scenario(
    *, user: str, registrar: tuple[str, int], contact_port: int, expires: int, timeout: float
) -> str:
    """Render the REGISTER UAC scenario (``uac_register.xml``); credentials come from -inf."""
    if expires < 0:
        raise ScenarioError("expires cannot be negative")
    return render_scenario(
        "uac_register.xml",
        user=checked_user(user, "user"),
        registrar_host=checked_host(registrar[0], "registrar host"),
        registrar_port=checked_port(registrar[1], "registrar port"),
        contact_host=LOCAL_HOST,
        contact_port=checked_port(contact_port, "contact port"),
        expires=int(expires),
        timeout_ms=ms(timeout),
    )


def render_dial_scenario(
    *,
    target_host: str,
    target_port: int,
    extension: str,
    user: str,
    hangup_after: float | None,
    max_duration: float,
    answer_timeout: float,
) -> str:
    """Render the authenticated one-call UAC scenario (``uac_dial.xml``); credentials come
    from -inf."""
    return render_scenario(
        "uac_dial.xml",
        target_host=checked_host(target_host, "target_host"),
        target_port=checked_port(target_port, "target_port"),
        extension=extension_uri_user(extension),
        user=checked_user(user, "user"),
        answer_ms=ms(answer_timeout),
        hangup=_hangup(hangup_after, max_duration),
        bye_timeout_ms=5000,
    )
