"""The recording notice's prompt files: one per language, for a profile that records (the root merges it)."""

from __future__ import annotations

from profiles.model import Profile
from telephony.names import agent_prompt
from telephony.prompts import Segment

__all__ = ["NOTICE", "recording_prompt_plan"]

NOTICE = "recording_notice"  # played as sounds/<language>/recording-notice by hotline-recording-notice


def recording_prompt_plan(profile: Profile) -> dict[str, tuple[Segment, ...]]:
    """``<language>/recording-notice`` in every language; empty when no topic records."""
    if not profile.records_calls:
        return {}
    voices = {lang.code: lang.voice for lang in profile.languages}
    plan: dict[str, tuple[Segment, ...]] = {}
    for code in profile.language_codes:
        prompt = profile.prompt(NOTICE, code)
        assert prompt is not None, "the profile check requires recording_notice with record: true"
        segment = (
            Segment(voices[code], None, str(prompt.file))
            if prompt.file is not None
            else Segment(voices[code], prompt.text, None)
        )
        plan[agent_prompt(code, NOTICE)] = (segment,)
    return plan
