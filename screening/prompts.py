"""The screening prompts the IVR plays at call start, before the caller's language is known: ``blocked`` and
``nuisance_warning``, each in every language of the profile, one after the other (like ``closed``)."""

from __future__ import annotations

from ivr.handler import BLOCKED_PROMPT, WARNING_PROMPT
from profiles.model import Profile, Prompt
from telephony.prompts import Segment


def _segment(voice: str, prompt: Prompt) -> Segment:
    if prompt.file is not None:
        return Segment(voice, None, str(prompt.file))
    return Segment(voice, prompt.text, None)


def prompt_plan(profile: Profile) -> dict[str, tuple[Segment, ...]]:
    """The files for the profile's screening prompts (none when it has neither)."""
    plan: dict[str, tuple[Segment, ...]] = {}
    for name, file in (("blocked", BLOCKED_PROMPT), ("nuisance_warning", WARNING_PROMPT)):
        segments = []
        for language in profile.languages:
            prompt = profile.prompt(name, language.code)
            if prompt is not None:
                segments.append(_segment(language.voice, prompt))
        if segments:
            plan[file] = tuple(segments)
    return plan
