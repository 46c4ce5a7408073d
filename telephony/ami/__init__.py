"""The Asterisk Manager Interface: message, parser and client (see each module)."""

from telephony.ami.client import (
    AMIAuthError,
    AMIClient,
    AMIDisconnected,
    AMIError,
    AMIException,
    AMITimeout,
    ConnectCallback,
    EventHandler,
)
from telephony.ami.message import ActionValue, Message, encode_action
from telephony.ami.parser import AMIParser

__all__ = [
    "AMIAuthError",
    "AMIClient",
    "AMIDisconnected",
    "AMIError",
    "AMIException",
    "AMIParser",
    "AMITimeout",
    "ActionValue",
    "ConnectCallback",
    "EventHandler",
    "Message",
    "encode_action",
]
