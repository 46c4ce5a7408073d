"""Queues derived from the profile: one per language and topic, or language and specialty.

Pure: plain data in, plain data out. Every person who speaks the queue's language (at any
level) and has its topic or specialty is a member. The penalty is ``tier * 100 + rank`` (a lower
penalty is tried first by app_queue): tier 0 is an exact match, tier 1 a widened one (the
person's level is below ``routing.min_skill_level`` or their level in the queue's language is
below ``routing.min_language_level``). The static penalty written here is the tier's base
(rank 0); the live rank by load comes from :func:`routing.policy.desired_penalties`.
"""

from __future__ import annotations

from dataclasses import dataclass

from profiles.model import Person, Profile, RoutingRules
from telephony.names import EXACT, MAX_RANK, TIER_WIDTH, WIDENED, queue_name

_DEFAULT_RULES = RoutingRules()


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


def default_queue(profile: Profile) -> str:
    return queue_name(profile.default_language, profile.default_topic)


def tier(person: Person, language: str, rules: RoutingRules | None = None) -> int:
    """0 (exact match) or 1 (widened: skill level or language level below the rules' minimum)."""
    rules = rules or _DEFAULT_RULES
    if person.level < rules.min_skill_level or person.languages.get(language, 0) < rules.min_language_level:
        return WIDENED
    return EXACT


def penalty(person: Person, language: str, rules: RoutingRules | None = None, rank: int = 0) -> int:
    """``tier * 100 + rank``; rank is clamped to 0..99."""
    return tier(person, language, rules) * TIER_WIDTH + min(max(rank, 0), MAX_RANK)


def build_queues(profile: Profile) -> list[QueueSpec]:
    queues = []
    for language in profile.language_codes:
        for topic in profile.topics:
            targets: list[tuple[str | None, list[Person]]]
            if topic.specialties:
                targets = [(s.id, [p for p in profile.people if s.id in p.specialties]) for s in topic.specialties]
            else:
                targets = [(None, [p for p in profile.people if topic.id in p.topics])]
            for specialty, people in targets:
                members = tuple(
                    sorted(
                        (
                            Member(p.id, p.name, penalty(p, language, profile.routing))
                            for p in people
                            if language in p.languages
                        ),
                        key=lambda m: (m.penalty, m.person_id),
                    )
                )
                queues.append(
                    QueueSpec(queue_name(language, topic.id, specialty), language, topic.id, specialty, members)
                )
    return queues
