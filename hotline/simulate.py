"""``hotline simulate``: SIPp agent phones and callers against the running hotline.

For people without a softphone: it registers M agent and doctor phones of the profile, places N
callers who choose a language, a topic and a specialty that one of those people serves, and prints
what happened to each call, with the record the service wrote.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from cdr.builder import CallRecord
from cdr.db import RecordStore
from hotline.settings import Settings
from profiles.model import Person, Profile
from telephony.asterisk import AsteriskError, AsteriskInstance
from telephony.provision import current_root
from telephony.sipp.driver import AgentPhone, CallResult, free_udp_port, place_call

CALLER_NAMES = ("محمد عبدالله", "فاطمة الزهراء", "Aisha Khan", "John Smith", "نورة", "Ravi Kumar")


@dataclass(frozen=True)
class Choice:
    language: str
    topic: str
    specialty: str | None
    digits: tuple[str, ...]

    @property
    def label(self) -> str:
        return "/".join(part for part in (self.language, self.topic, self.specialty) if part)


def choices_served_by(profile: Profile, people: list[Person]) -> list[Choice]:
    """Every menu path that leads to a queue one of ``people`` is a member of."""
    choices = []
    multilingual = len(profile.languages) > 1
    for language in profile.languages:
        speakers = [p for p in people if language.code in p.languages]
        prefix = (language.key,) if multilingual else ()
        for topic in profile.topics:
            if topic.specialties:
                for specialty in topic.specialties:
                    if any(specialty.id in p.specialties for p in speakers):
                        choices.append(
                            Choice(language.code, topic.id, specialty.id, (*prefix, topic.key, specialty.key))
                        )
            elif any(topic.id in p.topics for p in speakers):
                choices.append(Choice(language.code, topic.id, None, (*prefix, topic.key)))
    return choices


async def simulate(
    settings: Settings, profile: Profile, callers: int, agents: int, talk_seconds: float, seed: int
) -> int:
    root = current_root(settings.cache_dir)
    if root is None:
        raise AsteriskError("Asterisk is not provisioned: start the hotline first with 'make run'")
    instance = AsteriskInstance(root, settings)
    credentials = instance.credentials()
    if callers < 1 or agents < 1:
        raise AsteriskError("--callers and --agents must be at least 1")
    people = list(profile.people[:agents])
    choices = choices_served_by(profile, people)
    rng = random.Random(seed)
    workdir = settings.cache_dir / "simulate" / time.strftime("%Y%m%d-%H%M%S")
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{len(people)} phones: {', '.join(p.id for p in people)}; {callers} callers; files in {workdir}")

    phones = [
        AgentPhone(
            p.id,
            credentials.phones[p.id],
            registrar=("127.0.0.1", settings.sip_port),
            local_port=free_udp_port(),
            ring_seconds=0.5,
            talk_seconds=talk_seconds,
            workdir=workdir / "phones",
        )
        for p in people
    ]
    try:
        for phone in phones:
            await phone.start()
            await phone.register()
            login = await phone.dial("*41")  # log in from the phone, as an agent does
            if not login.answered:
                raise AsteriskError(f"{phone.name} could not log in with *41: {login.error}")
        plans = [(f"9655100{i:04d}", CALLER_NAMES[i % len(CALLER_NAMES)], rng.choice(choices)) for i in range(callers)]

        async def one(index: int, number: str, name: str, choice: Choice) -> CallResult:
            await asyncio.sleep(index * 0.5)
            dtmf = [(1.0, choice.digits[0])] + [(0.8, digit) for digit in choice.digits[1:]]
            return await place_call(
                "127.0.0.1",
                settings.sip_port,
                number=profile.number,
                caller_number=number,
                caller_name=name,
                dtmf=dtmf,
                max_duration=120,
                workdir=workdir / "callers",
            )

        results = await asyncio.gather(*(one(i, *plan) for i, plan in enumerate(plans)))
        await asyncio.sleep(1.5)  # let the service write the last records
    finally:
        for phone in phones:
            try:
                await phone.dial("*42")
                await phone.unregister()
            except Exception:  # the phone is stopped below anyway
                pass
            await phone.stop()

    answered_by = {c.caller_number: (phone.name, c) for phone in phones for c in phone.answered_calls()}
    records = await _records(settings.db_url)
    print(f"\n{'caller':<13} {'name':<15} {'chose':<24} {'answered by':<15} {'after':>6} {'talk':>6}  record")
    ok = 0
    for (number, name, choice), result in zip(plans, results, strict=True):
        who, answered = answered_by.get(number, ("-", None))
        wait = f"{answered.at - result.answered_at:.1f}s" if answered and result.answered_at else "-"
        talk = f"{result.ended_at - answered.at:.1f}s" if answered and result.ended_at else "-"
        record = records.get(number)
        summary = f"{record.outcome.value} {record.queue} agent={record.agent}" if record else "(no record yet)"
        print(f"{number:<13} {name:<15} {choice.label:<24} {who:<15} {wait:>6} {talk:>6}  {summary}")
        ok += answered is not None
    print(f"\n{ok} of {callers} calls answered by an agent or doctor")
    return 0 if ok == callers else 1


async def _records(url: str) -> dict[str, CallRecord]:
    store = RecordStore(url)
    try:
        return {r.caller_number: r for r in await store.list_records() if r.caller_number}
    finally:
        await store.close()
