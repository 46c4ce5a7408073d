"""The survey after the case read-back, against a real Asterisk 22 with SIPp (the municipal 940 profile, Arabic only,
with a survey added on the agent's topic): the agent opens a case during the call and hangs up; the caller hears
the case number read back, then the survey's question, presses 5, and the answer is on the call with its agent.

One Asterisk and one service for the module (a profile with cases: see test_cases_phone.py for the rig).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import Rig, _free_tcp_port, service_db_url  # tests/e2e is on sys.path
from tcp_proxy import TcpProxy
from test_cases_phone import LINES, Events, _logged_in, _short, _start_verbose_service, agi_lines, call

from cases.db import CaseStore
from cases.service import CaseService
from cdr.builder import Outcome
from profiles.model import load_profile
from survey.db import SurveyStore
from survey.model import SurveyResponse
from telephony.asterisk import Credentials
from telephony.sipp.driver import free_udp_port

pytestmark = pytest.mark.e2e

LINE = LINES[0]  # 940: the agent of roads_networks takes key 5
SURVEY_TIMEOUT = 30


def _with_survey(target: Path) -> Path:
    _short(LINE, target)
    data = yaml.safe_load(target.read_text(encoding="utf-8"))
    data["survey"] = {
        "questions": [{"id": "score", "max": 5, "text": {"ar": "قيم"}}],
        "thanks": {"ar": "شكرا"},
        "timeout_seconds": SURVEY_TIMEOUT,
    }
    for topic in data["topics"]:
        if topic["id"] == LINE.agent_topic:
            topic["survey"] = True
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-survey-case")
    sip_port, http_port, ami_port = free_udp_port(), _free_tcp_port(), _free_tcp_port()
    instance = f"e2e-survey-case-{os.getpid()}"
    db_url = service_db_url(instance)
    env = {
        **os.environ,
        "HOTLINE_PROFILE": str(_with_survey(workdir / "profile.yaml")),
        "HOTLINE_DB_URL": db_url,
        "HOTLINE_INSTANCE": instance,
        "HOTLINE_SIP_PORT": str(sip_port),
        "HOTLINE_AMI_PORT": str(ami_port),
        "HOTLINE_AGI_PORT": str(_free_tcp_port()),
        "HOTLINE_HTTP_PORT": str(http_port),
        "HOTLINE_TRUNK_CONTACT": f"sip:127.0.0.1:{free_udp_port()}",
    }
    rig = Rig(workdir, env, sip_port, http_port, db_url, Credentials("", "", {}), ami_port=ami_port)
    rig.ami_proxy = TcpProxy(ami_port)
    asterisk = rig._spawn("asterisk", "start", log_name="asterisk.log")
    instance_dir: Path | None = None
    try:
        deadline = time.monotonic() + 180
        while "Asterisk is up" not in (workdir / "asterisk.log").read_text(errors="replace"):
            if asterisk.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Asterisk did not start:\n" + (workdir / "asterisk.log").read_text())
            time.sleep(0.2)
        from hotline.settings import Settings
        from telephony.asterisk import AsteriskInstance
        from telephony.provision import current_root

        settings = Settings.from_env(env)
        root = current_root(settings.cache_dir)
        assert root is not None
        instance_dir = AsteriskInstance(root, settings).host_dir
        rig.credentials = AsteriskInstance(root, settings).credentials()
        _start_verbose_service(rig)
        yield rig
    finally:
        rig.stop_service()
        rig.ami_proxy.close()
        asterisk.send_signal(signal.SIGTERM)
        try:
            asterisk.wait(30)
        except subprocess.TimeoutExpired:
            asterisk.kill()
            asterisk.wait()
        if instance_dir is not None and instance_dir.is_dir():
            shutil.copytree(instance_dir / "log", workdir / "asterisk-log", dirs_exist_ok=True)
            shutil.rmtree(instance_dir, ignore_errors=True)
        from hotline.settings import Settings as _Settings

        shutil.rmtree(_Settings.from_env(env).service_dir, ignore_errors=True)


async def test_the_survey_follows_the_case_read_back(rig: Rig) -> None:
    caller = "0551400001"
    profile = load_profile(rig.env["HOTLINE_PROFILE"])
    store = CaseStore(rig.db_url)
    cases = CaseService(profile, store)
    try:
        async with (
            _logged_in(rig, LINE.agent, talk_seconds=4.0) as agent,
            Events(rig, ["AgentConnect", "UserEvent"]) as events,
        ):
            # the agent hangs up ~5 s in, the read-back then lasts ~26 s (measured), the question waits 30 s: 5 at ~41 s
            dtmf = [(1.0, LINE.agent_key), (40.0, "5")]
            caller_call = asyncio.create_task(call(rig, caller, dtmf, max_duration=90))
            connected = await events.wait(
                lambda e: e.get("Event") == "AgentConnect" and e.get("CallerIDNum") == caller, 25, "agent connect"
            )
            case = await cases.open(
                category=LINE.agent_topic,
                description="حفرة في الطريق",
                caller_number=caller,
                language="ar",
                actor=LINE.agent,
                linkedid=connected["Linkedid"],
            )
            readback = await events.wait(
                lambda e: e.get("UserEvent") == "HotlineCaseReadback" and e.get("CallerIDNum") == caller,
                40,
                "read-back",
            )
            read_at = time.time()
            result = await caller_call
            answered = agent.answered_calls()
    finally:
        await store.close()

    assert readback["Case"] == case.number and readback["Status"] == "SUCCESS"
    assert result.answered and result.remote_hung_up and result.dtmf_sent == 2, result.error
    assert result.ended_at is not None and result.ended_at > read_at  # the survey came after the read-back
    assert [c.caller_number for c in answered] == [caller]
    (record,) = await rig.records_of(caller)
    assert record.outcome is Outcome.ANSWERED and record.agent == LINE.agent
    survey = SurveyStore(rig.db_url)
    try:
        response = await rig.wait_for(lambda: survey.of_call(record.linkedid), timeout=10, what="the survey")
    finally:
        await survey.close()
    assert response == SurveyResponse(record.linkedid, response.asked_at, LINE.agent_topic, LINE.agent, "ar", 5, None)
    sent = agi_lines(rig, record.linkedid)
    readback_at = next(i for i, line in enumerate(sent) if "HOTLINE_CASE_PROMPT=" in line)
    asked_at = next(i for i, line in enumerate(sent) if '/ar/survey-q-score" "30000" "1"' in line)
    assert readback_at < asked_at  # the read-back, then the survey
