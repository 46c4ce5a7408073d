"""A recorded prompt (``{file: ...}`` in any language of the profile) in the wrong format (issue 14, item 5).

Every file here is made by the test: real WAV files written byte by byte (the RIFF header packed here, the samples
from numpy), espeak-ng's Hindi voice at its own 22,050 Hz, and an MP3 built from real MPEG frame headers. Each is
either converted to what Asterisk plays (8 kHz mono 16-bit PCM WAV, format_wav), as long as the original and with
the original's tone still in it (not noise), or refused with a RecordingError that names the file and the problem,
and then no prompt is left behind: not a silent one, not half of one. The headers are read again by
``hotline profile check``, which refuses the same files before anything is provisioned.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hotline.cli import main
from profiles.model import parse_profile
from telephony.prompts import (
    RecordingError,
    Segment,
    check_profile_recordings,
    check_recording,
    install_prompts,
    segment_file,
)

ROOT = Path(__file__).resolve().parents[2]
COVID = ROOT / "profiles" / "covid-followup.yaml"

pytestmark = pytest.mark.skipif(
    shutil.which("sox") is None or shutil.which("espeak-ng") is None, reason="sox and espeak-ng not installed"
)

PCM, FLOAT, MULAW, MP3_IN_WAV, EXTENSIBLE = 1, 3, 7, 0x55, 0xFFFE


def tone(rate: int, seconds: float, frequency: float = 440.0, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return level * np.sin(2 * np.pi * frequency * t)


def riff(fmt: bytes, data: bytes, *, declared: int | None = None, extra: bytes = b"") -> bytes:
    """A RIFF/WAVE file: the fmt chunk, any extra chunks, then the data chunk (its length as ``declared`` says)."""
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
    body += b"data" + struct.pack("<I", len(data) if declared is None else declared) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt_chunk(tag: int, channels: int, rate: int, bits: int, *, sub: int | None = None) -> bytes:
    align = channels * bits // 8
    head = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    if tag != EXTENSIBLE:
        return head
    guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"  # KSDATAFORMAT_SUBTYPE_* after the tag
    return head + struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", sub or PCM) + guid_tail


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def pcm8(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 127 + 128).astype("u1").tobytes()


def pcm24(samples: np.ndarray) -> bytes:
    values = (np.clip(samples, -1, 1) * 8388607).astype("<i4")
    return b"".join(int(v).to_bytes(4, "little", signed=True)[:3] for v in values)


def float32(samples: np.ndarray) -> bytes:
    return samples.astype("<f4").tobytes()


def interleave(*channels: np.ndarray) -> np.ndarray:
    return np.stack(channels, axis=1).reshape(-1)


def mp3(frames: int = 40, *, id3: bool = True) -> bytes:
    """An MPEG-1 Layer III stream: 128 kbit/s, 44.1 kHz frames (a real frame header, a silent payload)."""
    frame = b"\xff\xfb\x90\x64" + bytes(417 - 4)
    tag = b"ID3\x03\x00\x00\x00\x00\x00\x00" if id3 else b""
    return tag + frame * frames


def read_output(path: Path) -> tuple[tuple[int, int, int], np.ndarray]:
    with wave.open(str(path)) as audio:
        shape = (audio.getframerate(), audio.getnchannels(), audio.getsampwidth())
        samples = np.frombuffer(audio.readframes(audio.getnframes()), dtype="<i2").astype(float) / 32768
    return shape, samples


def frequencies(samples: np.ndarray, rate: int = 8000) -> list[float]:
    """The frequencies of the spectrum's strongest peaks, strongest first (Hz)."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    bins = np.fft.rfftfreq(len(samples), 1 / rate)
    peaks = [i for i in range(1, len(spectrum) - 1) if spectrum[i - 1] < spectrum[i] >= spectrum[i + 1]]
    peaks.sort(key=lambda i: -spectrum[i])
    return [float(bins[i]) for i in peaks[:2]]


# -- converted --------------------------------------------------------------------------------------------------


CONVERTED: dict[str, tuple[bytes, float, set[int]]] = {
    # name: (the file, its seconds, the tones that must survive)
    "44.1 kHz stereo 16-bit": (
        riff(fmt_chunk(PCM, 2, 44100, 16), pcm16(interleave(tone(44100, 1.5), tone(44100, 1.5)))),
        1.5,
        {440},
    ),
    "8-bit unsigned 11,025 Hz": (riff(fmt_chunk(PCM, 1, 11025, 8), pcm8(tone(11025, 1.0, 660))), 1.0, {660}),
    "48 kHz float stereo, each side its tone": (
        riff(fmt_chunk(FLOAT, 2, 48000, 32), float32(interleave(tone(48000, 2.0, 440), tone(48000, 2.0, 1000)))),
        2.0,
        {440, 1000},
    ),
    "96 kHz 24-bit extensible": (
        riff(fmt_chunk(EXTENSIBLE, 1, 96000, 24, sub=PCM), pcm24(tone(96000, 0.5, 800))),
        0.5,
        {800},
    ),
    "16 kHz with a LIST chunk before the audio": (
        riff(
            fmt_chunk(PCM, 1, 16000, 16),
            pcm16(tone(16000, 1.0, 500)),
            extra=b"LIST" + struct.pack("<I", 5) + b"INFOx\x00",
        ),
        1.0,
        {500},
    ),
    "streamed, length never filled in": (
        riff(fmt_chunk(PCM, 1, 22050, 16), pcm16(tone(22050, 1.0, 440)), declared=0xFFFFFFFF),
        1.0,
        {440},
    ),
}


@pytest.mark.parametrize("name", list(CONVERTED))
def test_a_wav_in_another_format_is_converted_to_what_asterisk_plays(name: str, tmp_path: Path) -> None:
    data, seconds, tones = CONVERTED[name]
    source = tmp_path / "recorded.wav"
    source.write_bytes(data)
    recording = check_recording(source)
    assert recording.seconds == pytest.approx(seconds, abs=0.001)
    out = segment_file(Segment("hi", None, str(source)), tmp_path / "cache")
    shape, samples = read_output(out)
    assert shape == (8000, 1, 2)  # 8 kHz, mono, 16-bit PCM: format_wav
    assert len(samples) / 8000 == pytest.approx(seconds, abs=0.01)  # all of it, not half
    assert np.abs(samples).max() > 0.1  # not silence
    assert {round(f / 10) * 10 for f in frequencies(samples)[: len(tones)]} == tones  # the same sound, not noise


def test_a_real_hindi_recording_at_espeaks_rate_becomes_a_prompt(tmp_path: Path) -> None:
    raw = tmp_path / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", "hi", "-w", str(raw), "--", "कृपया प्रतीक्षा करें।"], check=True)
    with wave.open(str(raw)) as audio:
        assert audio.getframerate() == 22050  # espeak-ng's own rate: not what Asterisk plays
        seconds = audio.getnframes() / audio.getframerate()
    stereo = tmp_path / "studio.wav"  # the same speech as a studio would send it: 44.1 kHz stereo
    subprocess.run(["sox", str(raw), "-r", "44100", "-c", "2", str(stereo)], check=True)
    installed = install_prompts(
        {"hi/campaign-doctor": (Segment("hi", None, str(stereo)),)}, tmp_path / "c", tmp_path / "s"
    )
    shape, samples = read_output(installed["hi/campaign-doctor"])
    assert shape == (8000, 1, 2)
    assert len(samples) / 8000 == pytest.approx(seconds, abs=0.01)
    assert np.sqrt(np.mean(samples**2)) > 0.01  # speech


# -- refused ----------------------------------------------------------------------------------------------------


def _truncated() -> bytes:
    whole = riff(fmt_chunk(PCM, 2, 44100, 16), pcm16(interleave(tone(44100, 2.0), tone(44100, 2.0))))
    return whole[: len(whole) // 2]  # a download cut off: the header still announces 2 s


REFUSED: dict[str, tuple[bytes, str]] = {
    "truncated": (_truncated(), r"is truncated: its header announces 2\.00 s of audio, the file holds 1\.00 s"),
    "garbage": (bytes(range(256)) * 40, r"is not a WAV file \(no RIFF/WAVE header\)"),
    "an MP3 renamed .wav": (mp3(), r"is an MP3 file, not a WAV"),
    "an MP3 without its ID3 tag renamed .wav": (mp3(id3=False), r"is an MP3 file, not a WAV"),
    "MP3 inside a WAV header": (
        riff(fmt_chunk(MP3_IN_WAV, 1, 44100, 0), mp3(id3=False)),
        r"holds MP3 \(WAV format 0x0055\)",
    ),
    "empty file": (b"", r"is empty"),
    "a header and no audio": (riff(fmt_chunk(PCM, 1, 8000, 16), b""), r"holds no audio"),
    "only a header, cut before the data chunk": (riff(fmt_chunk(PCM, 1, 8000, 16), b"")[:36], r"no data chunk"),
    "silence": (
        riff(fmt_chunk(PCM, 1, 16000, 16), pcm16(np.zeros(16000))),
        r"holds only silence \(PCM 16-bit, 1\.00 s\)",
    ),
    "8-bit silence (all 128)": (riff(fmt_chunk(PCM, 1, 8000, 8), bytes([128]) * 8000), r"holds only silence"),
    "a header that contradicts itself": (
        riff(struct.pack("<HHIIHH", PCM, 2, 44100, 44100 * 4, 3, 16), pcm16(tone(44100, 0.5))),
        r"block size or byte rate does not match",
    ),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_broken_recording_is_refused_naming_the_file_and_no_prompt_is_made(name: str, tmp_path: Path) -> None:
    data, problem = REFUSED[name]
    source = tmp_path / "greeting.wav"
    source.write_bytes(data)
    cache, sounds = tmp_path / "cache", tmp_path / "sounds"
    plan = {"hi/campaign-greeting": (Segment("hi", "नमस्ते", None), Segment("hi", None, str(source)))}
    with pytest.raises(RecordingError, match=problem) as refused:
        install_prompts(plan, cache, sounds)
    assert str(refused.value).startswith(f"{source}: ")  # the file first, then what is wrong with it
    assert refused.value.path == str(source)
    assert not (sounds / "hi" / "campaign-greeting.wav").exists()  # no prompt, not a silent or half one
    left = sorted(p.name for p in (cache / "segments").glob("*.wav"))
    assert len(left) == 1  # only the spoken "नमस्ते": nothing of the recording, no partial file


def test_a_refused_file_that_is_replaced_by_a_good_one_is_converted(tmp_path: Path) -> None:
    source = tmp_path / "thanks.wav"
    source.write_bytes(_truncated())
    with pytest.raises(RecordingError, match="truncated"):
        segment_file(Segment("en", None, str(source)), tmp_path / "cache")
    source.write_bytes(riff(fmt_chunk(PCM, 1, 44100, 16), pcm16(tone(44100, 1.0))))
    shape, samples = read_output(segment_file(Segment("en", None, str(source)), tmp_path / "cache"))
    assert shape == (8000, 1, 2) and len(samples) == 8000


# -- at profile check time ------------------------------------------------------------------------------------


def _covid_with(tmp_path: Path, files: dict[tuple[str, str], bytes]) -> Path:
    data: dict[str, Any] = yaml.safe_load(COVID.read_text(encoding="utf-8"))
    for (name, language), content in files.items():
        (tmp_path / f"{name}-{language}.wav").write_bytes(content)
        data["prompts"][name][language] = {"file": f"{name}-{language}.wav"}  # relative to the profile's folder
    path = tmp_path / "covid.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_profile_check_refuses_broken_recordings_by_prompt_and_file(tmp_path: Path, capsys) -> None:
    good = riff(fmt_chunk(PCM, 2, 44100, 16), pcm16(interleave(tone(44100, 1.0), tone(44100, 1.0))))
    path = _covid_with(
        tmp_path,
        {("campaign_thanks", "hi"): _truncated(), ("campaign_doctor", "en"): mp3(), ("campaign_greeting", "hi"): good},
    )
    assert main(["profile", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "2 recorded prompts cannot be used" in err
    assert f"prompts.campaign_thanks.hi: {tmp_path / 'campaign_thanks-hi.wav'}: is truncated" in err
    assert f"prompts.campaign_doctor.en: {tmp_path / 'campaign_doctor-en.wav'}: is an MP3 file" in err
    assert "campaign_greeting" not in err  # the good one (44.1 kHz stereo) is converted at provisioning


def test_profile_check_passes_recordings_in_any_wav_format(tmp_path: Path, capsys) -> None:
    files = {("campaign_thanks", "hi"): CONVERTED["8-bit unsigned 11,025 Hz"][0],
             ("welcome", "en"): CONVERTED["48 kHz float stereo, each side its tone"][0]}  # fmt: skip
    path = _covid_with(tmp_path, files)
    assert main(["profile", "check", str(path)]) == 0
    assert ": ok — Raipur COVID-19 call centre" in capsys.readouterr().out
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    profile = parse_profile(data, source=str(path), base_dir=tmp_path)
    assert check_profile_recordings(profile) == []
    welcome = profile.prompt("welcome", "en")
    assert welcome is not None and welcome.file == tmp_path / "welcome-en.wav"


# -- the shipped Hindi profile's prompts ------------------------------------------------------------------------


def test_every_prompt_of_the_covid_profile_is_made_in_hindi_and_english(tmp_path: Path) -> None:
    from hotline.bootstrap import asterisk_plan
    from profiles.model import CAMPAIGN_PROMPTS, load_profile
    from telephony.names import agent_prompt

    profile = load_profile(COVID)
    plan = asterisk_plan(profile).prompts  # the IVR's, the callbacks', the campaign script's (outbound.prompts)
    campaign = {agent_prompt(code, name) for code in ("hi", "en") for name in CAMPAIGN_PROMPTS}
    assert campaign <= set(plan)  # what a patient hears on the daily call, in both languages
    hindi = {name for name in plan if name.startswith("hi/")}
    assert len(hindi) >= 30
    assert all(s.voice == "hi" and s.text for name in hindi for s in plan[name])  # espeak-ng's Hindi voice
    installed = install_prompts(plan, tmp_path / "cache", tmp_path / "sounds")
    assert set(installed) == set(plan)
    for name, path in installed.items():
        shape, samples = read_output(path)
        assert shape == (8000, 1, 2), name
        assert len(samples) > 8000 * 0.2 and np.sqrt(np.mean(samples**2)) > 0.01, name  # spoken, not silence
    question = agent_prompt("hi", "campaign_question"), agent_prompt("en", "campaign_question")
    hi, en = (read_output(installed[name])[1] for name in question)
    assert len(hi) != len(en) or not np.array_equal(hi, en)  # two languages, not one file twice
