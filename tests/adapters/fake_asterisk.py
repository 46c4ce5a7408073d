"""Moved to :mod:`support.fake_asterisk` (tests/support); kept so older imports keep working."""

from support.fake_asterisk import (
    REPLY_510,
    REPLY_511,
    USAGE_520,
    FakeAsterisk,
    asterisk_parse_args,
    asterisk_separate_app_args,
    build_environment,
    environment_bytes,
    run_fake,
)

__all__ = [
    "REPLY_510", "REPLY_511", "USAGE_520", "FakeAsterisk", "asterisk_parse_args", "asterisk_separate_app_args",
    "build_environment", "environment_bytes", "run_fake",
]  # fmt: skip
