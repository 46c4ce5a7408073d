"""The routing desk on its own: its own AMI client to a fake app_queue, and a real database."""

from __future__ import annotations

from routing.db import RoutingStore
from routing.service import AgentDesk
from support.app import AMI_SECRET, AMI_USERNAME, PROFILE
from support.fake_ami import FakeAMIServer
from telephony.ami.client import AMIClient
from telephony.ami.message import Message
from telephony.events import parse_event

__all__ = ["Running"]


class Running:
    """A desk with its own AMI client, wired as the root wires it: one AMI handler parses each
    event once and hands the typed event to the desk."""

    def __init__(self, server: FakeAMIServer, db_url: str, wired: bool = True) -> None:
        self.client = AMIClient("127.0.0.1", server.port, AMI_USERNAME, AMI_SECRET, backoff_initial=0.05,
                                backoff_max=0.2)  # fmt: skip
        self.store = RoutingStore(db_url)
        self.desk = AgentDesk(PROFILE, self.client, self.store)
        if wired:
            self.client.add_event_handler(self.on_ami_event)

    def on_ami_event(self, message: Message) -> None:
        event = parse_event(message)
        if event is not None:
            self.desk.on_event(event)

    async def __aenter__(self) -> AgentDesk:
        await self.desk.start()
        await self.client.start()
        await self.client.wait_connected(5)
        return self.desk

    async def __aexit__(self, *exc: object) -> None:
        await self.desk.close()
        await self.client.close()
        await self.store.close()
