"""The FastAGI secret from the credentials to the rendered dialplan to our server.

The dialplan is rendered the way ``AsteriskInstance.prepare`` renders it. Each ``AGI(...)`` URL is
then turned into what Asterisk 22 sends (``res_agi.c`` ``launch_netscript``: everything after
``host:port/`` becomes ``agi_network_script``) and sent over a real socket to an AGIServer built with
the same credentials, as ``hotline/service.py`` builds it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.fake_asterisk import FakeAsterisk, build_environment

from hotline.settings import Settings
from profiles.model import load_profile
from routing.queues import build_queues, default_queue
from telephony import names as v
from telephony.agi import AGIServer, AGISession
from telephony.asterisk import AsteriskInstance, Credentials, Plan

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml")
AGI_CALL = re.compile(r"AGI\((agi://[^,)]+)(?:,([^)]*(?:\([^)]*\)[^)]*)*))?\)")


def render_dialplan(tmp_path: Path, credentials: Credentials) -> list[str]:
    instance = AsteriskInstance(tmp_path, Settings(cache_dir=tmp_path))
    (instance.host_dir / "etc").mkdir(parents=True)
    instance.render(PROFILE, Plan(build_queues(PROFILE), default_queue(PROFILE), {}), credentials)
    return (instance.host_dir / "etc" / "extensions.conf").read_text().splitlines()


def agi_urls(lines: list[str]) -> list[str]:
    return [m.group(1) for line in lines if (m := AGI_CALL.search(line))]


def network_script(url: str) -> str:
    """What Asterisk sends as agi_network_script for AGI(<url>,...)."""
    host_and_path = url.removeprefix("agi://")
    return host_and_path.partition("/")[2]


def test_every_agi_url_of_the_rendered_dialplan_starts_with_this_starts_secret(tmp_path: Path) -> None:
    first, second = Credentials.generate(PROFILE), Credentials.generate(PROFILE)
    assert first.agi_secret != second.agi_secret
    lines = render_dialplan(tmp_path / "1", first)
    urls = agi_urls(lines)
    assert sum("AGI(" in line for line in lines) == len(urls) == 3  # ivr, agent, callback
    routes = ("ivr", "agent", "callback")
    assert [network_script(url) for url in urls] == [f"{first.agi_secret}/{route}" for route in routes]
    assert all(second.agi_secret not in line for line in lines)
    assert all(second.agi_secret in url for url in agi_urls(render_dialplan(tmp_path / "2", second)))


def test_the_agent_route_gets_the_endpoint_from_asterisk(tmp_path: Path) -> None:
    (line,) = [line for line in render_dialplan(tmp_path, Credentials.generate(PROFILE)) if "/agent," in line]
    assert line.endswith("/agent,${EXTEN},${CHANNEL(endpoint)})")


@pytest.mark.parametrize("matching", [True, False], ids=["same credentials", "another start's credentials"])
async def test_the_rendered_urls_reach_the_routes_only_of_a_server_with_the_same_secret(
    tmp_path: Path, matching: bool
) -> None:
    credentials = Credentials.generate(PROFILE)
    urls = agi_urls(render_dialplan(tmp_path, credentials))
    server_secret = credentials.agi_secret if matching else Credentials.generate(PROFILE).agi_secret
    server = AGIServer("127.0.0.1", 0, secret=server_secret, call_deadline=5.0)
    served: list[str] = []

    def route(session: AGISession) -> None:
        served.append(session.script)

    for name in ("ivr", "agent", "callback"):
        server.add_route(name, route)
    async with server:
        for url in urls:
            env = build_environment(network_script(url), port=server.port)
            assert (await FakeAsterisk(port=server.port, env=env).run()).closed_by_server
    assert served == (["ivr", "agent", "callback"] if matching else [])


def test_every_agi_call_is_followed_by_the_check_of_our_result_so_a_refusal_falls_back(tmp_path: Path) -> None:
    """Asterisk marks an AGI FAILURE only when it cannot connect; a refused, capped or failed session
    leaves our result unset, and the next step of the dialplan must route on that."""
    lines = render_dialplan(tmp_path, Credentials.generate(PROFILE))
    check = f'GotoIf($["${{{v.RESULT}}}" = "{v.RESULT_OK}"]?'
    calls = [i for i, line in enumerate(lines) if "AGI(" in line]
    assert calls
    for i in calls:
        assert lines[i - 1].endswith(f"Set({v.RESULT}=)"), lines[i - 1]  # never a stale result
        assert check in lines[i + 1], lines[i + 1]
    ivr = next(i for i in calls if "/ivr)" in lines[i])
    fallback = next(i for i in range(ivr, len(lines)) if "(fallback)" in lines[i])
    # between the IVR and the fallback only branches on a result we set: anything else falls through
    assert all(f'GotoIf($["${{{v.RESULT}}}" = "' in line for line in lines[ivr + 1 : fallback]), lines[ivr:fallback]
    assert any(f"Set({v.QUEUE}=${{HOTLINE_DEFAULT_QUEUE}})" in line for line in lines[ivr : ivr + 12])


def test_credentials_keep_the_agi_secret_and_old_files_still_load() -> None:
    credentials = Credentials.generate(PROFILE)
    again = Credentials.from_json(credentials.to_json())
    assert again == credentials and json.loads(credentials.to_json())["agi"] == {"secret": credentials.agi_secret}
    AGIServer(secret=credentials.agi_secret)  # a secret the server accepts

    old = json.dumps({"ami": {"username": "hotline", "secret": "s"}, "phones": {"agent-ar-1": "p"}})
    loaded = Credentials.from_json(old)
    assert (loaded.ami_username, loaded.ami_secret, loaded.phones) == ("hotline", "s", {"agent-ar-1": "p"})
    AGIServer(secret=loaded.agi_secret)  # a fresh one, never empty
    assert loaded.agi_secret != Credentials.from_json(old).agi_secret
