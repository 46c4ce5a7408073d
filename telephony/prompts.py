"""Prompts: every menu prompt in every language, made with espeak-ng and sox, cached by content.

Each file the menu can ask for (the IVR's ``ivr.menu.prompt_plan``, handed in by the root) is made of
segments: a text spoken in one language's voice, or a recorded file. Segments and whole prompts are cached under
``<cache>/prompts`` by a hash of what they are made of, so a second set-up costs nothing.
Output: 8 kHz mono 16-bit WAV, which Asterisk plays with format_wav.

A recorded file (``{file: ...}`` in the profile) may come in any rate, channels and sample format a WAV holds
(PCM 8 to 32 bits, float, A-law, µ-law, ADPCM, GSM): sox converts it. What would play as silence or noise is
refused with a :class:`RecordingError` that names the file and the problem: a file that is no WAV (an MP3 or an
Ogg renamed ``.wav``, garbage), a header that does not hold together, an encoding sox cannot read, a truncated
file (its header announces more audio than it holds: sox would play half of it without a word), a file with no
audio, or one that is silent once converted. ``hotline profile check`` reads the headers
(:func:`check_profile_recordings`); making the prompts (``hotline provision``, the start of an instance) checks the
header again, converts, and checks the result.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import struct
import subprocess
import sys
import wave
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from profiles.model import Profile, Prompt

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


class RecordingError(PromptError):
    """A recorded prompt file that cannot be made into a prompt: the file and what is wrong with it."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class Recording:
    """What a WAV file's header says it holds."""

    path: Path
    encoding: str  # "PCM 16-bit", "float 32-bit", "A-law", ...
    rate: int
    channels: int
    seconds: float
    exact: bool = True  # the length is exact (PCM, float, A-law, µ-law); else the header's average byte rate


#: The WAV encodings sox reads (format tag -> name); the bits each allows (None: any the header gives).
_WAV_ENCODINGS: dict[int, tuple[str, tuple[int, ...] | None]] = {
    0x0001: ("PCM", (8, 16, 24, 32)),
    0x0003: ("float", (32, 64)),
    0x0006: ("A-law", (8,)),
    0x0007: ("µ-law", (8,)),
    0x0002: ("MS ADPCM", None),
    0x0011: ("IMA ADPCM", None),
    0x0031: ("GSM 6.10", None),
}
#: Well-known tags sox cannot read, named in the refusal.
_OTHER_TAGS = {0x0050: "MPEG audio", 0x0055: "MP3", 0x00FF: "AAC", 0x0161: "Windows Media Audio", 0x2000: "AC-3"}
_EXTENSIBLE = 0xFFFE
_UNKNOWN_LENGTH = 0xFFFFFFFF  # a streaming writer that never went back to fill the length in: read to the end
#: A converted recording whose loudest sample stays below this (1 % of full scale) is silence.
SILENCE_PEAK = 328
#: A converted recording may differ from the header's length by this much (resampling rounds at the edges).
LENGTH_TOLERANCE_SECONDS = 0.05


def _sniff(head: bytes) -> str:
    """What a file that is no WAV looks like, for the refusal."""
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "is an MP3 file, not a WAV: convert it (for example with ffmpeg -i in.mp3 -ar 8000 -ac 1 out.wav)"
    if head.startswith(b"OggS"):
        return "is an Ogg file, not a WAV: convert it to WAV"
    if head.startswith(b"fLaC"):
        return "is a FLAC file, not a WAV: convert it to WAV"
    if head.startswith((b"RIFX", b"RF64")):
        return f"is a {head[:4].decode()} file (not a plain little-endian WAV): save it as a plain WAV"
    if head.startswith(b"RIFF"):
        return f"is a RIFF file of type {head[8:12]!r}, not WAVE"
    return "is not a WAV file (no RIFF/WAVE header)"


def check_recording(path: str | Path) -> Recording:
    """Read a WAV file's header and refuse (:class:`RecordingError`) what cannot become a prompt: see the module."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(12)
            if size == 0:
                raise RecordingError(path, "is empty")
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                raise RecordingError(path, _sniff(head))
            fmt: tuple[int, int, int, int, int, int] | None = None
            while True:
                chunk = handle.read(8)
                if len(chunk) < 8:
                    what = "no audio (no data chunk)" if fmt else "no fmt chunk"
                    raise RecordingError(path, f"is truncated or damaged: {what}")
                name, length = struct.unpack("<4sI", chunk)
                if name == b"fmt ":
                    body = handle.read(length + (length & 1))
                    if length < 16 or len(body) < 16:
                        raise RecordingError(path, "is damaged: its fmt chunk is too short")
                    tag, channels, rate, byte_rate, block_align, bits = struct.unpack("<HHIIHH", body[:16])
                    if tag == _EXTENSIBLE and length >= 26:
                        tag = struct.unpack("<H", body[24:26])[0]  # the sub-format's first two bytes
                    fmt = (tag, channels, rate, byte_rate, block_align, bits)
                elif name == b"data":
                    if fmt is None:
                        raise RecordingError(path, "is damaged: its audio comes before its fmt chunk")
                    return _recording(path, fmt, length, size - handle.tell())
                else:
                    handle.seek(length + (length & 1), os.SEEK_CUR)
    except OSError as exc:
        raise RecordingError(path, f"cannot be read: {exc.strerror or exc}") from exc


def _recording(path: Path, fmt: tuple[int, int, int, int, int, int], declared: int, present: int) -> Recording:
    tag, channels, rate, byte_rate, block_align, bits = fmt
    if tag not in _WAV_ENCODINGS:
        name = _OTHER_TAGS.get(tag, "an unknown encoding")
        raise RecordingError(path, f"holds {name} (WAV format 0x{tag:04x}), which cannot be converted: save it as PCM")
    encoding, allowed_bits = _WAV_ENCODINGS[tag]
    if not 1 <= channels <= 8:
        raise RecordingError(path, f"is damaged: its header gives {channels} channels")
    if not 1000 <= rate <= 384_000:
        raise RecordingError(path, f"is damaged: its header gives a sample rate of {rate} Hz")
    if allowed_bits is not None:
        if bits not in allowed_bits:
            raise RecordingError(path, f"is damaged: {encoding} with {bits} bits per sample")
        if block_align != channels * bits // 8 or byte_rate != rate * block_align:
            raise RecordingError(path, "is damaged: its header's block size or byte rate does not match its format")
        encoding = f"{encoding} {bits}-bit" if tag in (0x0001, 0x0003) else encoding
    if byte_rate == 0 or block_align == 0:
        raise RecordingError(path, "is damaged: its header gives no byte rate")
    if declared == _UNKNOWN_LENGTH:
        declared = present
    elif declared > present:
        raise RecordingError(
            path,
            f"is truncated: its header announces {declared / byte_rate:.2f} s of audio, "
            f"the file holds {present / byte_rate:.2f} s",
        )
    if declared < block_align:
        raise RecordingError(path, "holds no audio (its data chunk is empty)")
    return Recording(path, encoding, rate, channels, declared / byte_rate, exact=allowed_bits is not None)


def check_converted(out: Path, recording: Recording) -> None:
    """Refuse a conversion that is not what Asterisk plays, is silent, or is not as long as the original."""
    try:
        with wave.open(str(out), "rb") as converted:
            shape = (converted.getframerate(), converted.getnchannels(), converted.getsampwidth())
            frames = converted.readframes(converted.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise RecordingError(recording.path, f"could not be converted: {exc}") from exc
    if shape != (8000, 1, 2):
        raise RecordingError(
            recording.path, f"was converted to {shape[0]} Hz, {shape[1]} channels, {shape[2] * 8} bits"
        )
    samples = array("h", frames)
    if sys.byteorder == "big":
        samples.byteswap()
    seconds = len(samples) / 8000
    share = 0.01 if recording.exact else 0.05
    if abs(seconds - recording.seconds) > max(LENGTH_TOLERANCE_SECONDS, recording.seconds * share):
        raise RecordingError(
            recording.path, f"was converted to {seconds:.2f} s of audio, its header announces {recording.seconds:.2f} s"
        )
    if not samples or max(max(samples), -min(samples)) < SILENCE_PEAK:
        raise RecordingError(recording.path, f"holds only silence ({recording.encoding}, {recording.seconds:.2f} s)")


def convert_recording(source: Path, out: Path) -> Recording:
    """Convert a recorded file into ``out`` (8 kHz mono 16-bit WAV), or refuse it (:class:`RecordingError`)."""
    try:
        with source.open("rb") as handle:
            riff = handle.read(4) == b"RIFF"
    except OSError as exc:
        raise RecordingError(source, f"cannot be read: {exc.strerror or exc}") from exc
    wav = riff or source.suffix.lower() == ".wav"
    recording = check_recording(source) if wav else None
    # -G: guard against clipping when mixing channels and resampling; a WAV named otherwise is read as one
    command = ["sox", "-G", *(("-t", "wav") if wav else ()), str(source), *FORMAT, str(out)]
    result = subprocess.run(command, capture_output=True, text=True)
    try:
        if result.returncode != 0:
            raise RecordingError(source, f"could not be converted: {result.stderr.strip()[-500:] or 'sox failed'}")
        if recording is None:  # another format sox reads (FLAC, Ogg...): as long as sox made it
            recording = Recording(source, source.suffix.lstrip(".") or "audio", 8000, 1, _seconds(out))
        check_converted(out, recording)
    except (RecordingError, OSError, EOFError, wave.Error) as exc:
        out.unlink(missing_ok=True)
        if isinstance(exc, RecordingError):
            raise
        raise RecordingError(source, f"could not be converted: {exc}") from exc
    return recording


def _seconds(wav_file: Path) -> float:
    with wave.open(str(wav_file), "rb") as handle:
        return handle.getnframes() / handle.getframerate()


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
        try:
            stat = source.stat()
        except OSError as exc:
            raise RecordingError(source, f"cannot be read: {exc.strerror or exc}") from exc
        key = _digest("file-2", str(source), str(stat.st_mtime_ns), str(stat.st_size))  # 2: checked, -G
    else:
        assert segment.text is not None
        key = _digest("espeak", segment.voice, segment.text)
    out = cache / "segments" / f"{key}.wav"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial(out)
    if segment.file is not None:
        convert_recording(Path(segment.file), partial)
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


def profile_recordings(profile: Profile) -> list[tuple[str, Path]]:
    """Every recorded file the profile names, with where (``prompts.closed.en``, ``topics.faq.info.message.ar``...)."""
    found: list[tuple[str, Prompt]] = []
    for table in (profile.prompts, profile.case_prompts, profile.extra_prompts):
        found += [(f"prompts.{name}.{code}", prompt) for name, by in table.items() for code, prompt in by.items()]
    for topic in profile.topics:
        if topic.info is not None:
            found += [(f"topics.{topic.id}.info.message.{code}", p) for code, p in topic.info.message.items()]
    if profile.survey is not None:
        for question in profile.survey.questions:
            found += [(f"survey.questions.{question.id}.text.{code}", p) for code, p in question.text.items()]
        found += [(f"survey.thanks.{code}", p) for code, p in profile.survey.thanks.items()]
    return [(where, prompt.file) for where, prompt in found if prompt.file is not None]


def check_profile_recordings(profile: Profile) -> list[str]:
    """The problems of the profile's recorded files, one line each (``where: file: problem``), read from their
    headers (``hotline profile check``); the conversion at provisioning checks the rest (silence)."""
    problems = []
    for where, path in profile_recordings(profile):
        if path.suffix.lower() != ".wav" and not _starts_with_riff(path):
            continue  # another format: sox tells at provisioning
        try:
            check_recording(path)
        except RecordingError as exc:
            problems.append(f"{where}: {exc}")
    return problems


def _starts_with_riff(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"RIFF"
    except OSError:
        return True  # check_recording names the error


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
