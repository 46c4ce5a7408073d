"""The ``agent`` role: a console user with the person id of their desk (a person of the profile), made with
``hotline user add NAME --role agent --person ID``; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

import pytest

from console.db import ConsoleError, ConsoleStore, check_person
from hotline.cli import main
from storage.engine import upgrade

PASSWORD = "correct horse battery"
PEOPLE = frozenset({"agent-940-1", "agent-940-2"})
MUNICIPAL = Path(__file__).parents[2] / "profiles" / "municipal-940.yaml"


@pytest.fixture
async def store(db_url):
    await asyncio.to_thread(upgrade, db_url)
    console = ConsoleStore(db_url)
    yield console
    await console.close()


async def test_an_agent_has_the_person_of_their_desk_and_changes_nothing_else(store):
    agent = await store.add_user("reem", PASSWORD, "agent", "ar", person="agent-940-2", people=PEOPLE)
    assert (agent.role, agent.person, agent.is_agent, agent.can_change) == ("agent", "agent-940-2", True, False)
    assert (await store.user_by_name("reem")).person == "agent-940-2"
    assert (await store.authenticate("reem", PASSWORD)).person == "agent-940-2"
    secret, _ = await store.new_session(agent)
    assert (await store.session(secret)).user.person == "agent-940-2"
    boss = await store.add_user("boss", PASSWORD, "supervisor")
    assert boss.person is None and not boss.is_agent


@pytest.mark.parametrize(
    ("role", "person", "message"),
    [
        ("agent", None, "an agent needs the person id of their desk"),
        ("agent", "  ", "an agent needs the person id of their desk"),
        ("agent", "agent-ar-1", "'agent-ar-1' is not a person of the profile"),
        ("viewer", "supervisor-1", "only an agent or a supervisor has a person id"),
        ("viewer", "agent-940-1", "only an agent or a supervisor has a person id"),
        ("janitor", None, "role must be one of supervisor, viewer, agent"),
    ],
)
async def test_a_bad_role_or_person_is_refused_and_nothing_is_added(store, role, person, message):
    with pytest.raises(ConsoleError, match=message):
        await store.add_user("x", PASSWORD, role, person=person, people=PEOPLE)
    assert await store.users() == []


def test_the_person_is_checked_without_the_profile_only_for_its_presence():
    assert check_person("agent", " agent-940-1 ") == "agent-940-1"
    assert check_person("viewer", None) is None


def test_the_command_adds_an_agent_of_the_profile_and_refuses_an_unknown_person(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOTLINE_DB_URL", f"sqlite:///{tmp_path / 'h.db'}")
    monkeypatch.setenv("HOTLINE_PROFILE", str(MUNICIPAL))
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough password\n"))
    assert main(["user", "add", "reem", "--role", "agent", "--person", "agent-940-2", "--password-stdin"]) == 0
    assert main(["user", "add", "ghost", "--role", "agent", "--person", "agent-ar-1", "--password-stdin"]) == 1
    assert main(["user", "add", "nobody", "--role", "agent", "--password-stdin"]) == 1
    assert main(["user", "list"]) == 0
    captured = capsys.readouterr()
    assert "user 'reem' added (agent, agent-940-2)" in captured.out
    assert "reem\tagent\ten\tagent-940-2" in captured.out and "ghost" not in captured.out
    assert "'agent-ar-1' is not a person of the profile" in captured.err
    assert "an agent needs the person id of their desk" in captured.err
