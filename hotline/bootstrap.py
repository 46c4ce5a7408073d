"""The composition root: what the features ask of Asterisk, and (next) the service's object graph.

Only this package knows every feature. It hands each one what it needs, so that no feature
imports another's internals and the Asterisk boundary (``telephony``) imports no feature.
"""

from __future__ import annotations

from ivr.menu import prompt_plan
from profiles.model import Profile
from routing.queues import build_queues, default_queue
from telephony.asterisk import Plan


def asterisk_plan(profile: Profile) -> Plan:
    """The queues (with their members), the IVR's fallback queue and every prompt, for rendering."""
    return Plan(queues=build_queues(profile), default_queue=default_queue(profile), prompts=prompt_plan(profile))
