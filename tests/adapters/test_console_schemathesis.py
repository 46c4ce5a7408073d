"""Schemathesis against the console's OpenAPI document (generated from the API's pydantic models): no
input may get a 5xx, and every answer fits the schema the document gives for its status.

aiohttp has no in-process ASGI/WSGI entry, so the service (fake app_queue over real AMI, SQLite)
runs on a real localhost port in a thread with its own event loop, and schemathesis calls it over
HTTP with a supervisor's API token. Positive and negative cases, a few examples per operation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from aiohttp import web
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance
from support.fake_ami import FakeAMIServer
from support.fake_app_queue import FakeAppQueue

from console.app import CONSOLE
from hotline.service import SERVICE, ServiceConfig, build_app
from hotline.settings import Settings
from profiles.model import load_profile
from telephony.asterisk import Credentials

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml")
EXAMPLES = 12  # per operation and generation mode: the whole run stays well under a minute


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="console-under-test", daemon=True)
    thread.start()

    def run(coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    async def start() -> tuple[FakeAMIServer, web.AppRunner, int, str]:
        server = FakeAMIServer()
        await server.start()
        FakeAppQueue(server)
        settings = Settings(db_url=f"sqlite:///{tmp_path / 'h.db'}", ami_port=server.port, agi_port=0)
        app = build_app(ServiceConfig(settings, PROFILE, Credentials("hotline", "s3cret", {}), "/s", None))
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        await server.wait_until(lambda: app[SERVICE].desk.synced)
        store = app[CONSOLE].store
        boss = await store.add_user("boss", "correct horse battery", "supervisor")
        return server, runner, port, await store.add_token(boss, "schemathesis")

    server, runner, port, token = run(start())
    try:
        yield f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
    finally:

        async def stop() -> None:
            await runner.cleanup()
            await server.close()

        run(stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_no_input_gets_a_server_error(served: tuple[str, dict[str, str]]) -> None:
    base_url, auth = served
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    tried = 0
    for operation in operations:
        if operation.path == "/api/v1/session" and operation.method.upper() == "DELETE":
            continue  # with a token there is no session to end (400), covered in test_console_api
        if operation.path == "/api/v1/tokens/{id}" and operation.method.upper() == "DELETE":
            continue  # it would revoke the token this run uses (id 1); covered in test_console_security
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            def check(case: schemathesis.Case) -> None:
                nonlocal tried
                tried += 1
                headers = {**(case.headers or {}), **auth}
                response = case.call(base_url=base_url, headers=headers, timeout=10)
                case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

            check()
    assert tried > 100
