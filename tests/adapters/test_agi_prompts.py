"""espeak-ng is given ``--`` before the text (issue 10 item 9): a prompt text that starts with ``-``
is spoken, never taken as an option. (Named test_agi_* with the other FastAGI hardening tests.)"""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest

from telephony.prompts import Segment, espeak_command, segment_file


@pytest.mark.parametrize("text", ["-a", "--help", "-w /tmp/elsewhere.wav", "- 5 minutes", "مرحبا"])
def test_the_text_comes_after_a_double_dash(text: str, tmp_path: Path) -> None:
    command = espeak_command("en", text, tmp_path / "out.wav")
    assert command[0] == "espeak-ng"
    assert command[-2:] == ["--", text]
    assert command.index("--") == len(command) - 2  # every option is before it
    assert command[command.index("-w") + 1] == str(tmp_path / "out.wav")


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None, reason="espeak-ng and sox not installed"
)
def test_a_text_starting_with_a_dash_is_spoken(tmp_path: Path) -> None:
    # Without "--", espeak-ng takes "-a" as its amplitude option, fails for the missing value, and no
    # prompt is made.
    out = segment_file(Segment("en", "-a", None), tmp_path)
    with wave.open(str(out)) as audio:
        assert audio.getframerate() == 8000
        assert audio.getnframes() > 8000 * 0.1  # speech, not an empty file
