"""The whisper on connect (issue 12): the agent of a queue whose topic has ``whisper: true`` hears who is calling (the
caller's language and topic, and specialty) before the caller is put through; the caller does not hear it.

One prompt per such queue, ``sounds/whisper/<queue>.wav``: the profile's ``whisper`` prompt in the queue's language
("Arabic caller: {label}."), ``{label}`` the topic's label in that language (and the specialty's), spoken in that
language's voice, so the agent hears both the language and the topic. The root adds :func:`whisper_prompt_plan` to
the prompt plan; the dialplan names each file in a global (``HOTLINE_WHISPER_<queue>``) that app_queue plays to the
agent as the announce override of ``Queue()`` (a queue without a whisper has no global: no announcement). Pure.
"""

from __future__ import annotations

from profiles.model import Profile
from routing.queues import build_queues
from telephony.names import whisper_prompt
from telephony.prompts import Segment

WHISPER = "whisper"  # the profile's prompt


def whisper_label(profile: Profile, language: str, topic_id: str, specialty_id: str | None) -> str:
    """The topic's label in ``language``, and the specialty's after a comma: "a medical consultation, paediatrics"."""
    topic = profile.topic(topic_id)
    label = topic.label[language]
    if specialty_id is not None:
        specialty = next(s for s in topic.specialties if s.id == specialty_id)
        label = f"{label}، {specialty.label[language]}" if language == "ar" else f"{label}, {specialty.label[language]}"
    return label


def whisper_prompt_plan(profile: Profile) -> dict[str, tuple[Segment, ...]]:
    """The whisper of every queue whose topic whispers (none when no topic does)."""
    voices = {language.code: language.voice for language in profile.languages}
    whispering = {topic.id for topic in profile.topics if topic.whisper}
    plan: dict[str, tuple[Segment, ...]] = {}
    for queue in build_queues(profile):
        if queue.topic not in whispering:
            continue
        prompt = profile.prompt(WHISPER, queue.language)
        if prompt is None:  # the profile check requires it with whisper: true
            continue
        voice = voices[queue.language]
        label = whisper_label(profile, queue.language, queue.topic, queue.specialty)
        if prompt.file is not None:  # a recording cannot say the topic: the label follows it
            plan[whisper_prompt(queue.name)] = (Segment(voice, None, str(prompt.file)), Segment(voice, label, None))
        else:
            assert prompt.text is not None
            plan[whisper_prompt(queue.name)] = (Segment(voice, prompt.text.replace("{label}", label), None),)
    return plan
