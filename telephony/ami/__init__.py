"""The Asterisk Manager Interface: ``message`` (Message, action encoding), ``parser`` (AMIParser)
and ``client`` (AMIClient and its errors).

The public names are re-exported lazily, so a pure module importing ``telephony.ami.message``
(e.g. ``telephony.events``) does not pull in asyncio through the client.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "AMIAuthError": "client",
    "AMIClient": "client",
    "AMIDisconnected": "client",
    "AMIError": "client",
    "AMIException": "client",
    "AMITimeout": "client",
    "ConnectCallback": "client",
    "EventHandler": "client",
    "ActionValue": "message",
    "Message": "message",
    "encode_action": "message",
    "AMIParser": "parser",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
