"""GET /metrics (hotline.metrics): the service built as the root builds it, a call fed through its AMI socket
and one FastAGI session, then the Prometheus exposition read and parsed back."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.app import running_service
from support.fake_asterisk import FakeAsterisk, build_environment
from support.streams import ami_stream

from hotline.settings import Settings
from profiles.model import load_profile


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(running, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await running.client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return samples(await response.text())


async def test_a_call_moves_the_figures(tmp_path: Path) -> None:
    async with running_service(tmp_path) as running:
        service = running.service
        before = await scrape(running)
        assert before[("hotline_records_written_total", ())] == 0
        assert before[("hotline_agi_sessions_total", ())] == 0
        assert before[("hotline_ami_reconnects_total", ())] == 0
        assert before[("hotline_record_spool_depth", ())] == 0
        assert not any(name == "hotline_calls_ended_total" for name, _ in before)
        assert ("hotline_webhook_backlog", ()) not in before  # moh-151 keeps no cases

        # one FastAGI session (the caller hangs up at once) and one answered call over AMI
        secret = service.config.credentials.agi_secret
        env = build_environment(f"{secret}/ivr", port=service.agi.port)
        await FakeAsterisk(port=service.agi.port, env=env, replies=["HANGUP\n200 result=-1"] * 3).run()
        for message in ami_stream("answered_call"):
            await running.app_queue.broadcast(dict(message.headers))
        await running.ami.wait_until(lambda: service.records.written == 1)
        await service.records.drained()

        after = await scrape(running)
        assert after[("hotline_calls_ended_total", (("outcome", "answered"),))] == 1
        assert after[("hotline_records_written_total", ())] == 1
        assert after[("hotline_record_spool_depth", ())] == 0
        assert after[("hotline_agi_sessions_total", ())] == 1
        assert after[("hotline_agi_session_seconds_count", (("route", "ivr"),))] == 1
        assert after[("hotline_ami_events_total", ())] > before[("hotline_ami_events_total", ())]

        # an AMI cut: the client logs in again, counted as a reconnect
        for conn in running.ami.logged_in_connections:
            conn.drop()
        await running.ami.wait_until(lambda: service.ami.reconnects == 1 and service.ami.connected, 10)
        assert (await scrape(running))[("hotline_ami_reconnects_total", ())] == 1


async def test_behind_a_proxy_it_takes_the_token(tmp_path: Path) -> None:
    async with running_service(tmp_path) as running:
        assert (await running.client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})).status == 403
        assert (await running.client.get("/metrics", headers={"Forwarded": "for=203.0.113.9"})).status == 403
    async with running_service(tmp_path / "t", metrics_token="m-" + "x" * 30) as running:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic m-" + "x" * 30}):
            assert (await running.client.get("/metrics", headers=headers)).status == 403, headers
        figures = await scrape(running, Authorization="Bearer m-" + "x" * 30, **{"X-Forwarded-For": "203.0.113.9"})
        assert ("hotline_records_written_total", ()) in figures


async def test_the_webhook_backlog_counts_undelivered_events(tmp_path: Path) -> None:
    profile = load_profile(Path(__file__).parents[2] / "profiles" / "municipal-940.yaml")
    settings = {"case_webhook_urls": ("http://127.0.0.1:9/hook",), "case_webhook_secret": "k" * 32}
    async with running_service(tmp_path, profile=profile, **settings) as running:
        assert (await scrape(running))[("hotline_webhook_backlog", ())] == 0
        cases = running.service.cases
        await cases.dispatcher.close()  # nothing delivered: the event stays in the outbox
        await cases.open(category="parks", description="broken bench", caller_number="0791234567", language="ar",
                         actor="boss", source="api")  # fmt: skip
        assert (await scrape(running))[("hotline_webhook_backlog", ())] == 1


def test_a_short_metrics_token_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"HOTLINE_METRICS_TOKEN.*at least 16"):
        Settings.from_env({"HOTLINE_METRICS_TOKEN": "guessable"})
    assert Settings.from_env({"HOTLINE_METRICS_TOKEN": "m" * 16}).metrics_token == "m" * 16
