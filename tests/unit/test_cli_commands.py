"""The ``hotline`` command: each sub-command carries its own function, and the admin commands
call the service's one API (``/api/v1``) with the local token."""

import argparse
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from hotline.cli import build_parser, main

PROFILE = Path(__file__).parents[2] / "profiles" / "moh-151.yaml"


def _leaves(parser, path=()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from _leaves(sub, (*path, name))


def test_every_command_dispatches_to_its_own_function():
    leaves = list(_leaves(build_parser()))
    assert len(leaves) >= 19
    for path, parser in leaves:
        assert callable(parser.get_default("func")), " ".join(path)


def test_profile_check_passes_the_shipped_profile(capsys):
    assert main(["profile", "check", str(PROFILE)]) == 0
    assert "ok — Ministry of Health hotline 151, number 151, 2 languages, 5 topics, 7 people" in capsys.readouterr().out


def test_profile_check_lists_every_problem_of_a_broken_profile(tmp_path, capsys):
    data = yaml.safe_load(PROFILE.read_text(encoding="utf-8"))
    data["topics"][1]["specialties"][0]["key"] = "x"
    data["people"][0]["id"] = "trunk"
    broken = tmp_path / "x.yaml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert main(["profile", "check", str(broken)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"hotline: {broken}: topics[1].specialties[0].key: 'x' is not a single digit"
    assert lines[1].startswith(f"{broken}: people[0].id: 'trunk' is the name of an Asterisk SIP section")


class FakeService(BaseHTTPRequestHandler):
    """The other end: the service's /api/v1, recording what it was asked."""

    requests: ClassVar[list] = []
    status = 200
    answer: ClassVar[dict] = {}

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        type(self).requests.append((self.command, self.path, self.headers.get("Authorization"), body))
        payload = json.dumps(type(self).answer).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PUT = _handle

    def log_message(self, *args):
        pass


@pytest.fixture
def service(tmp_path, monkeypatch):
    """A running service as the CLI finds it: an Asterisk root, the instance's token file, the API port."""
    roots = tmp_path / "cache" / "roots"
    (roots / "r1" / "usr" / "sbin").mkdir(parents=True)
    (roots / "r1" / "usr" / "sbin" / "asterisk").touch()
    (roots / "current").write_text("r1\n")
    # root's service keeps its token in its own folder (HOTLINE_STATE_DIR), anyone else's in the instance folder
    folder = tmp_path / "state" / "default" if os.geteuid() == 0 else roots / "r1" / "hotline" / "default"
    token = folder / "service-token"
    token.parent.mkdir(parents=True)
    token.write_text("local-admin-token\n")
    FakeService.requests, FakeService.status, FakeService.answer = [], 200, {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HOTLINE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOTLINE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HOTLINE_HTTP_PORT", str(server.server_port))
    monkeypatch.delenv("HOTLINE_INSTANCE", raising=False)
    yield FakeService
    server.shutdown()
    server.server_close()
    thread.join()


def test_agent_pause_posts_to_the_v1_api_with_the_reason_and_the_local_token(service, capsys):
    service.answer = {"person": "agent-ar-1", "done": "pause", "paused": True}
    assert main(["agent", "pause", "agent-ar-1", "--reason", "lunch"]) == 0
    assert service.requests == [
        ("POST", "/api/v1/agents/agent-ar-1/pause", "Bearer local-admin-token", {"reason": "lunch"})
    ]
    assert json.loads(capsys.readouterr().out) == service.answer


def test_agent_login_posts_without_a_body(service):
    assert main(["agent", "login", "doc-ar-paed-1"]) == 0
    assert service.requests == [("POST", "/api/v1/agents/doc-ar-paed-1/login", "Bearer local-admin-token", None)]


def test_seats_puts_the_number_to_the_v1_api(service, capsys):
    service.answer = {"queue": "ar-general", "seats": 4, "shift": "day"}
    assert main(["seats", "ar-general", "4"]) == 0
    assert service.requests == [("PUT", "/api/v1/queues/ar-general/seats", "Bearer local-admin-token", {"seats": 4})]
    assert json.loads(capsys.readouterr().out)["seats"] == 4


def test_a_refusal_shows_the_apis_message_and_exits_1(service, capsys):
    service.status, service.answer = 409, {"error": "agent-ar-1 is not logged in"}
    assert main(["agent", "pause", "agent-ar-1"]) == 1
    assert capsys.readouterr().err == "hotline: agent-ar-1 is not logged in\n"


def test_without_a_running_service_the_admin_commands_say_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOTLINE_CACHE_DIR", str(tmp_path / "empty"))
    assert main(["seats", "ar-general", "4"]) == 2
    assert "the service is not running" in capsys.readouterr().err
    assert not (tmp_path / "empty").exists()  # nothing provisioned just to look for the token


def test_console_users_are_added_and_listed_through_their_commands(tmp_path, monkeypatch, capsys):
    import io
    import sys

    monkeypatch.setenv("HOTLINE_DB_URL", f"sqlite:///{tmp_path / 'h.db'}")
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough password\n"))
    assert main(["user", "add", "amal", "--role", "supervisor", "--password-stdin"]) == 0
    assert main(["user", "list"]) == 0
    assert main(["token", "add", "nobody"]) == 1
    captured = capsys.readouterr()
    assert "user 'amal' added (supervisor)" in captured.out and "amal\tsupervisor\ten" in captured.out
    assert "no user named 'nobody'" in captured.err


def test_report_commands_are_dispatched_with_their_errors(capsys):
    assert main(["staffing", "--calls", "100", "--interval-minutes", "30", "--aht", "180",
                 "--service-level", "80/20", "--erlang-a"]) == 2  # fmt: skip
    assert "--erlang-a needs --patience" in capsys.readouterr().err


@pytest.mark.parametrize("reason", ["lunch\r\nAction: Logoff", "", "x" * 65])
def test_a_pause_reason_that_the_api_would_refuse_is_refused_before_sending(service, reason, capsys):
    with pytest.raises(SystemExit) as info:
        main(["agent", "pause", "agent-ar-1", "--reason", reason])
    assert info.value.code == 2 and "1 to 64 printable characters" in capsys.readouterr().err
    assert service.requests == []


def test_console_users_and_tokens_are_ended_from_the_command_line_and_audited(tmp_path, monkeypatch, capsys):
    import asyncio
    import io
    import sys

    from console.db import ConsoleStore

    url = f"sqlite:///{tmp_path / 'h.db'}"
    monkeypatch.setenv("HOTLINE_DB_URL", url)
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough password\nanother long password\n"))
    assert main(["user", "add", "amal", "--role", "supervisor", "--password-stdin"]) == 0
    assert main(["user", "add", "night", "--role", "viewer", "--password-stdin"]) == 0
    assert main(["token", "add", "night", "--label", "tv"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]

    async def state() -> tuple:
        store = ConsoleStore(url)
        try:
            night = await store.user_by_name("night")
            return (
                night.disabled if night else None,
                await store.token_user(token),
                await store.authenticate("night", "a new password for night"),
                [(r["actor"], r["action"], r["target"]) for r in await store.audit_rows()],
            )
        finally:
            await store.close()

    assert main(["token", "list"]) == 0
    listing = capsys.readouterr().out
    assert "night\ttv\t" in listing and "active" in listing and token not in listing
    token_id = listing.split("\t", 1)[0]
    assert main(["token", "revoke", token_id]) == 0
    assert main(["token", "revoke", "999"]) == 1
    monkeypatch.setattr(sys, "stdin", io.StringIO("a new password for night\n"))
    assert main(["user", "password", "night", "--password-stdin"]) == 0
    assert main(["user", "disable", "night"]) == 0
    disabled, token_user, new_password_ok, audit = asyncio.run(state())
    assert disabled is True and token_user is None
    assert new_password_ok is None  # a disabled user cannot sign in, whatever the password
    assert ("cli", "token.revoke", "night") in audit and ("cli", "user.password", "night") in audit
    assert ("cli", "user.disable", "night") in audit
    assert main(["user", "enable", "night"]) == 0
    assert asyncio.run(state())[2] is not None  # enabled again: the new password works
    assert main(["user", "remove", "night"]) == 0
    assert main(["user", "remove", "night"]) == 1
    assert main(["user", "remove", "amal"]) == 1  # the last supervisor stays
    captured = capsys.readouterr()
    assert "no user named 'night'" in captured.err and "supervisor" in captured.err


def test_every_token_of_a_user_is_revoked_from_the_command_line(tmp_path, monkeypatch, capsys):
    import asyncio
    import io
    import sys

    from console.db import ConsoleStore

    url = f"sqlite:///{tmp_path / 'h.db'}"
    monkeypatch.setenv("HOTLINE_DB_URL", url)
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough password\nanother long password\n"))
    assert main(["user", "add", "amal", "--role", "supervisor", "--password-stdin"]) == 0
    assert main(["user", "add", "night", "--role", "viewer", "--password-stdin"]) == 0
    made = {}
    for owner, label in (("night", "tv"), ("night", "laptop"), ("amal", "script")):
        assert main(["token", "add", owner, "--label", label]) == 0
        made[label] = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["token", "revoke"]) == 2 and main(["token", "revoke", "1", "--user", "night"]) == 2
    assert main(["token", "revoke", "--user", "nobody"]) == 1
    assert "no user named 'nobody'" in capsys.readouterr().err
    assert main(["token", "revoke", "--user", "night"]) == 0
    assert "2 tokens of 'night' revoked" in capsys.readouterr().out

    async def users_of() -> dict[str, object]:
        store = ConsoleStore(url)
        try:
            found = {label: await store.token_user(token) for label, token in made.items()}
            return {label: user.name if user else None for label, user in found.items()} | {
                "audit": [(r["actor"], r["action"], r["target"]) for r in await store.audit_rows()]
            }
        finally:
            await store.close()

    state = asyncio.run(users_of())
    assert (state["tv"], state["laptop"], state["script"]) == (None, None, "amal")
    assert state["audit"][:2] == [("cli", "token.revoke", "night")] * 2
