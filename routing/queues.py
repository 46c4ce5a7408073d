"""Queues derived from the profile: one per language and topic, or language and specialty.

Pure: plain data in, plain data out. Agents become members with a penalty from their skill
levels (a lower penalty is tried first by app_queue).
"""

from __future__ import annotations

from dataclasses import dataclass

from hotline.profile import Person, Profile


@dataclass(frozen=True)
class Member:
    person_id: str
    name: str
    penalty: int


@dataclass(frozen=True)
class QueueSpec:
    name: str
    language: str
    topic: str
    specialty: str | None
    members: tuple[Member, ...]


def queue_name(language: str, topic: str, specialty: str | None = None) -> str:
    """The app_queue name for a language and a topic (and specialty for doctors)."""
    return f"{language}-{topic}-{specialty}" if specialty else f"{language}-{topic}"


def default_queue(profile: Profile) -> str:
    return queue_name(profile.default_language, profile.default_topic)


def penalty(person: Person, language: str) -> int:
    """0 for a level-5 person in their best language; each level below adds one."""
    return (5 - person.level) + (5 - person.languages[language])


def build_queues(profile: Profile) -> list[QueueSpec]:
    queues = []
    for language in profile.language_codes:
        for topic in profile.topics:
            targets: list[tuple[str | None, list[Person]]]
            if topic.specialties:
                targets = [
                    (s.id, [p for p in profile.people if s.id in p.specialties]) for s in topic.specialties
                ]
            else:
                targets = [(None, [p for p in profile.people if topic.id in p.topics])]
            for specialty, people in targets:
                members = tuple(
                    sorted(
                        (Member(p.id, p.name, penalty(p, language)) for p in people if language in p.languages),
                        key=lambda m: (m.penalty, m.person_id),
                    )
                )
                queues.append(QueueSpec(queue_name(language, topic.id, specialty), language, topic.id, specialty, members))
    return queues
