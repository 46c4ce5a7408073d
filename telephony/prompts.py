"""Prompts: every menu prompt in every language, made with espeak-ng and sox, cached by content.

Each file the menu can ask for (the IVR's ``ivr.menu.prompt_plan``, handed in by the root) is made of
segments: a text spoken in one language's voice, or a recorded file. Segments and whole prompts are cached under
``<cache>/prompts`` by a hash of what they are made of, so a second set-up costs nothing.
Output: 8 kHz mono 16-bit WAV, which Asterisk plays with format_wav.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from profiles.model import Profile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Segment:
    """A piece of a prompt file: a text in one language's voice, or a recorded file."""

    voice: str
    text: str | None
    file: str | None


PromptPlan = Mapping[str, tuple[Segment, ...]]
"""Prompt name (e.g. ``ar/topics``) -> the segments it is made of."""

FORMAT = ["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"]
PAUSE_SECONDS = 0.25
VERSION = "1"  # bump to invalidate the cache when the recipe changes


class PromptError(RuntimeError):
    """A prompt could not be made."""


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise PromptError(f"{command[0]} failed (exit {result.returncode}): {result.stderr.strip()[-500:]}")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join((VERSION, *parts)).encode()).hexdigest()[:24]


def _partial(out: Path, what: str = "part") -> Path:
    """A file to write ``out`` into before renaming it in place: its own per process, so two processes making the
    same prompt at once (two services, parallel test workers) never write into one file."""
    return out.with_name(f"{out.stem}.{what}.{os.getpid()}{out.suffix}")


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        raise PromptError(f"{tool} is not installed: run 'make deps' (apt-get install espeak-ng sox) as root")


def espeak_command(voice: str, text: str, out: Path) -> list[str]:
    """The espeak-ng command that speaks ``text`` in ``voice`` into the WAV file ``out``. The text
    follows ``--``, so a text that starts with ``-`` is spoken, never taken as an option."""
    return ["espeak-ng", "-v", voice, "-s", "150", "-w", str(out), "--", text]


def segment_file(segment: Segment, cache: Path) -> Path:
    if segment.file is not None:
        source = Path(segment.file)
        key = _digest("file", str(source), str(source.stat().st_mtime_ns), str(source.stat().st_size))
    else:
        assert segment.text is not None
        key = _digest("espeak", segment.voice, segment.text)
    out = cache / "segments" / f"{key}.wav"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial(out)
    if segment.file is not None:
        _run(["sox", segment.file, *FORMAT, str(partial)])
    else:
        raw = _partial(out, "espeak")
        _run(espeak_command(segment.voice, segment.text or "", raw))
        _run(["sox", str(raw), *FORMAT, str(partial)])
        raw.unlink()
    partial.rename(out)
    return out


def _silence(cache: Path) -> Path:
    out = cache / "segments" / f"silence-{PAUSE_SECONDS}.wav"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = _partial(out)
        _run(["sox", "-n", *FORMAT, str(partial), "trim", "0", str(PAUSE_SECONDS)])
        partial.rename(out)
    return out


def build_prompt(segments: tuple[Segment, ...], cache: Path) -> Path:
    parts = [segment_file(s, cache) for s in segments]
    key = _digest("joined", *(p.name for p in parts))
    out = cache / "joined" / f"{key}.wav"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    pause = _silence(cache)
    sequence: list[str] = []
    for index, part in enumerate(parts):
        if index:
            sequence.append(str(pause))
        sequence.append(str(part))
    partial = _partial(out)
    if len(sequence) == 1:
        shutil.copyfile(sequence[0], partial)
    else:
        _run(["sox", *sequence, str(partial)])
    partial.rename(out)
    return out


def hold_music(cache: Path) -> Path:
    """A calm, generated tone pattern for callers waiting in a queue (no third-party recordings)."""
    out = cache / "moh" / f"hold-{VERSION}.wav"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial(out)
    _run(
        [
            "sox",
            "-n",
            *FORMAT,
            str(partial),
            "synth",
            "0.6",
            "sine",
            "440",
            "sine",
            "554",
            ":",
            "synth",
            "0.6",
            "sine",
            "659",
            ":",
            "synth",
            "1.8",
            "sine",
            "0",
            ":",
            "synth",
            "0.6",
            "sine",
            "494",
            ":",
            "synth",
            "0.6",
            "sine",
            "587",
            ":",
            "synth",
            "1.8",
            "sine",
            "0",
            "vol",
            "0.25",
            "fade",
            "0.05",
            "0",
            "0.05",
            "repeat",
            "3",
        ]
    )
    partial.rename(out)
    return out


HOLD_MUSIC_PROMPT = "hold_music"  # the profile's optional prompt, per language: a file or a text


def hold_music_class(language: str) -> str:
    """The music-on-hold class of one language's queues when the profile gives that language hold music."""
    return f"hotline-{language}"


def hold_music_name(language: str) -> str:
    """The plan's name (and file, under the sounds folder) of one language's hold music: ``moh/<language>/hold``."""
    return f"moh/{language}/hold"


def hold_music_plan(profile: Profile) -> dict[str, tuple[Segment, ...]]:
    """The hold music of each language the profile gives ``prompts.hold_music`` for (a recorded file,
    converted, or a text spoken in that language's voice), as prompts of the plan the root hands the
    instance. Each lands alone in ``sounds/moh/<language>/``: the folder of that language's class
    (``musiconhold.conf``), the class of that language's queues (``queues.conf``). A language without
    it keeps the generated ``hotline`` class."""
    plan: dict[str, tuple[Segment, ...]] = {}
    for language in profile.languages:
        prompt = profile.prompt(HOLD_MUSIC_PROMPT, language.code)
        if prompt is None:
            continue
        if prompt.file is not None:
            plan[hold_music_name(language.code)] = (Segment(language.voice, None, str(prompt.file)),)
        elif prompt.text:
            plan[hold_music_name(language.code)] = (Segment(language.voice, prompt.text, None),)
    return plan


TRANSFER_HOLD_PROMPT = "transfer_hold"  # played as sounds/<language>/transfer-hold to a caller handed on blind


def transfer_hold_plan(profile: Profile) -> dict[str, tuple[Segment, ...]]:
    """What a caller handed on blind hears before the queue, person or destination (``prompts.transfer_hold``,
    optional): ``<language>/transfer-hold`` for each language the profile gives it in."""
    plan: dict[str, tuple[Segment, ...]] = {}
    for language in profile.languages:
        prompt = profile.prompt(TRANSFER_HOLD_PROMPT, language.code)
        if prompt is None:
            continue
        name = f"{language.code}/{TRANSFER_HOLD_PROMPT.replace('_', '-')}"
        if prompt.file is not None:
            plan[name] = (Segment(language.voice, None, str(prompt.file)),)
        elif prompt.text:
            plan[name] = (Segment(language.voice, prompt.text, None),)
    return plan


def install_prompts(plan: PromptPlan, cache: Path, sounds_dir: Path) -> dict[str, Path]:
    """Make every prompt of the plan and copy it into ``sounds_dir``. Returns name -> file."""
    _need("sox")
    if any(s.text is not None for segments in plan.values() for s in segments):
        _need("espeak-ng")
    installed = {}
    for name, segments in plan.items():
        source = build_prompt(segments, cache)
        target = sounds_dir / f"{name}.wav"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        installed[name] = target
    moh = sounds_dir / "moh" / "hold.wav"
    moh.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(hold_music(cache), moh)
    log.info("%d prompts installed in %s", len(installed), sounds_dir)
    return installed


OFFER_DIR = "offer"  # sounds/offer/<queue>.wav: app_queue's periodic announcement of each queue


def offer_file(sounds_dir: Path, queue: str) -> Path:
    return sounds_dir / OFFER_DIR / f"{queue}.wav"


def set_offer(sounds_dir: Path, queue: str, language: str | None) -> None:
    """Switch a queue's periodic announcement to the callback offer in ``language``, or to silence.

    app_queue reads the file each time it plays it, so this takes effect at the next announcement.
    The switch is atomic (rename), so a caller never hears half a file.
    """
    source = sounds_dir / language / "callback-offer.wav" if language else sounds_dir / OFFER_DIR / "silence.wav"
    target = offer_file(sounds_dir, queue)
    partial = target.with_suffix(".part")
    shutil.copyfile(source, partial)
    # The service runs with umask 077; Asterisk (its own user) must still read the file: the
    # folder's owner and a readable mode, as the files installed at provisioning have.
    folder = target.parent.stat()
    if os.geteuid() == 0:
        os.chown(partial, folder.st_uid, folder.st_gid)
    os.chmod(partial, 0o644)
    partial.rename(target)


def offer_off(sounds_dir: Path, queues: Iterable[str]) -> None:
    folder = sounds_dir / OFFER_DIR
    folder.mkdir(parents=True, exist_ok=True)
    silence = folder / "silence.wav"
    _run(["sox", "-n", *FORMAT, str(silence), "trim", "0", "0.1"])
    for queue in queues:
        set_offer(sounds_dir, queue, None)
