"""Moved to :mod:`support.fake_ami` (tests/support); kept so older imports keep working."""

from support.fake_ami import BANNER, FakeAction, FakeAMIConnection, FakeAMIServer, encode

__all__ = ["BANNER", "FakeAMIConnection", "FakeAMIServer", "FakeAction", "encode"]
