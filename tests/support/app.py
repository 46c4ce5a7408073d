"""The service as the root builds it (``hotline.service.build_app``), in aiohttp's test client,
against a fake app_queue over a real AMI socket, and a real SQLite database.

``service_app`` (a fixture, registered in tests/conftest.py) yields a :class:`ServiceApp` once the
routing desk has synced with the fake app_queue. :func:`running_service` is the same as an async
context manager, for a test that needs other settings or a second start.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hotline.service import SERVICE, ServiceConfig, build_app
from hotline.settings import Settings
from profiles.model import Profile, load_profile
from support.fake_ami import FakeAMIServer
from support.fake_app_queue import FakeAppQueue
from telephony.asterisk import Credentials

__all__ = ["AMI_SECRET", "AMI_USERNAME", "PROFILE", "ServiceApp", "running_service", "service_app"]

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml")
AMI_USERNAME = "hotline"
AMI_SECRET = "s3cret"


@dataclass
class ServiceApp:
    """A running service and what a test reaches it through."""

    client: TestClient
    app: web.Application
    ami: FakeAMIServer
    app_queue: FakeAppQueue
    db_path: Path
    token_file: Path

    @property
    def service(self) -> Any:
        return self.app[SERVICE]

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.db_path}"


@contextlib.asynccontextmanager
async def running_service(
    tmp_path: Path, *, profile: Profile = PROFILE, sync_timeout: float = 5.0, **settings: Any
) -> AsyncIterator[ServiceApp]:
    """Start the fake AMI server and app_queue, then the service on them; stop both after.

    ``settings`` override :class:`hotline.settings.Settings` fields (the database, AMI and AGI ports
    are set here unless given)."""
    ami = FakeAMIServer(AMI_USERNAME, AMI_SECRET)
    await ami.start()
    try:
        app_queue = FakeAppQueue(ami)
        db_path = tmp_path / "hotline.db"
        token_file = tmp_path / "service-token"
        values = {"db_url": f"sqlite:///{db_path}", "ami_port": ami.port, "agi_port": 0, **settings}
        config = ServiceConfig(Settings(**values), profile, Credentials(AMI_USERNAME, AMI_SECRET, {}), "/s",
                               token_file)  # fmt: skip
        client = TestClient(TestServer(build_app(config)))
        await client.start_server()
        try:
            running = ServiceApp(client, client.server.app, ami, app_queue, db_path, token_file)
            await ami.wait_until(lambda: running.service.desk.synced, sync_timeout)
            yield running
        finally:
            await client.close()
    finally:
        await ami.close()


@pytest.fixture
async def service_app(tmp_path: Path) -> AsyncIterator[ServiceApp]:
    """The service with the default profile, synced with a fake app_queue (see the module)."""
    async with running_service(tmp_path) as running:
        yield running
