"""The callback offer switched at run time stays readable by Asterisk, whatever the service's umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from telephony.prompts import offer_file, offer_off, set_offer


def test_an_offer_switched_by_a_service_with_umask_077_is_readable_by_asterisk(tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    (sounds / "ar").mkdir(parents=True)
    (sounds / "ar" / "callback-offer.wav").write_bytes(b"RIFF offer")
    offer_off(sounds, ["ar-virus"])
    old = os.umask(0o077)
    try:
        set_offer(sounds, "ar-virus", "ar")
    finally:
        os.umask(old)
    target = offer_file(sounds, "ar-virus")
    assert target.read_bytes() == b"RIFF offer"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert (target.stat().st_uid, target.stat().st_gid) == (target.parent.stat().st_uid, target.parent.stat().st_gid)
    assert not list(target.parent.glob("*.part"))
