"""The campaign script's prompt files: each of ``CAMPAIGN_PROMPTS`` in every language, for a profile with campaigns
(the root merges it into the Asterisk plan; ``hotline-campaign-out`` plays them as sounds/<language>/campaign-...)."""

from __future__ import annotations

from profiles.model import CAMPAIGN_PROMPTS, Profile
from telephony.names import agent_prompt
from telephony.prompts import Segment

__all__ = ["campaign_prompt_plan"]


def campaign_prompt_plan(profile: Profile) -> dict[str, tuple[Segment, ...]]:
    """``<language>/campaign-greeting`` ... in every language; empty without campaigns."""
    if profile.outbound is None or not profile.outbound.campaigns:
        return {}
    voices = {lang.code: lang.voice for lang in profile.languages}
    plan: dict[str, tuple[Segment, ...]] = {}
    for code in profile.language_codes:
        for name in CAMPAIGN_PROMPTS:
            prompt = profile.prompt(name, code)
            assert prompt is not None, f"the profile check requires {name} with campaigns"
            segment = (
                Segment(voices[code], None, str(prompt.file))
                if prompt.file is not None
                else Segment(voices[code], prompt.text, None)
            )
            plan[agent_prompt(code, name)] = (segment,)
    return plan
