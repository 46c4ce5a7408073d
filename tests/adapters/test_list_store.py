"""Contact lists and the do-not-call list on real databases (SQLite file and PostgreSQL): outbound/list_db.py.

An import goes in whole or not at all (one bad row in the middle of a file writes nothing, not even a new list);
the same file again writes nothing; a new file adds, updates, removes and restores; the do-not-call list in any
spelling of a number; two imports at once of one list run one after the other. Hindi text round-trips byte for byte.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, text

from hotline.cli import main
from outbound.list_db import ImportRefused, ImportResult, ListStore
from profiles.model import Profile, parse_profile
from storage.engine import upgrade

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
HINDI = "राम कुमार शर्मा"


def _add_hindi(node: object) -> None:
    if isinstance(node, dict):
        if "en" in node and "ar" in node:
            node["hi"] = node["en"]
        for value in list(node.values()):
            _add_hindi(value)
    elif isinstance(node, list):
        for value in node:
            _add_hindi(value)


def _india_profile() -> Profile:
    """The 151 profile with Hindi (the default) and Indian numbers allowed out; one number never to call."""
    data = yaml.safe_load((PROFILES / "moh-151.yaml").read_text(encoding="utf-8"))
    _add_hindi(data)
    data["languages"].append({"code": "hi", "key": "3", "voice": "hi"})
    data["ivr"]["default"]["language"] = "hi"
    data["outbound"] = {
        "allowed_numbers": [r"[6-9][0-9]{9}", r"\+91[6-9][0-9]{9}"],
        "do_not_call": ["+919999900000"],
    }
    return parse_profile(data, source="india", base_dir=PROFILES)


PROFILE = _india_profile()

FIRST = f"""number,name,language,ward,age
9876543210,{HINDI},hi,Ward 7,54
8765432109,Asha,en,Ward 2,61
7654321098,Mohan,,Ward 7,70
""".encode()


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[ListStore]:
    upgrade(db_url)
    async with ListStore(db_url) as store:
        yield store


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of the list tables, as stored."""
    with engine.connect() as conn:
        return {
            table: [tuple(row) for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY id"))]
            for table in ("contact_lists", "contact_imports", "contacts", "do_not_call")
        }


async def do_import(store: ListStore, data: bytes, *, name: str = "raipur", at: datetime = T0) -> ImportResult:
    return await store.import_csv(name, data, filename="patients.csv", by="cli", profile=PROFILE, now=at)


async def test_a_file_goes_in_with_its_text_as_written(store):
    result = await do_import(store, FIRST)
    assert result == ImportResult(result.list_id, rows=3, added=3, updated=0, removed=0, unchanged=False, dnc=0)
    people = await store.contacts("raipur")
    assert [(p.line, p.number, p.name, p.language, p.district, p.fields) for p in people] == [
        (2, "9876543210", HINDI, "hi", "Ward 7", {"age": "54"}),
        (3, "8765432109", "Asha", "en", "Ward 2", {"age": "61"}),
        (4, "7654321098", "Mohan", "hi", "Ward 7", {"age": "70"}),
    ]
    assert people[0].name.encode() == HINDI.encode()
    assert await store.contact(people[0].id or 0) == people[0]
    assert await store.contact(10**6) is None
    assert await store.list_id("raipur") == result.list_id and await store.list_id("nowhere") is None
    (listed,) = await store.lists()
    assert (listed.id, listed.name, listed.contacts, listed.updated_at) == (result.list_id, "raipur", 3, T0)


async def test_one_bad_row_in_the_middle_writes_nothing_not_even_the_list(store, sync_engine):
    before = snapshot(sync_engine)
    bad = FIRST.replace(b"8765432109,Asha,en", b"8765432109,Asha,fr")
    with pytest.raises(ImportRefused) as refused:
        await do_import(store, bad)
    assert [str(e) for e in refused.value.errors] == ["line 3: unknown language 'fr': one of ar, en, hi (empty: hi)"]
    assert snapshot(sync_engine) == before
    assert await store.lists() == [] and await store.list_id("raipur") is None


async def test_a_bad_file_leaves_a_list_as_it_was(store, sync_engine):
    await do_import(store, FIRST)
    before = snapshot(sync_engine)
    bad = FIRST + b"6543210987,New person,hi,Ward 1,40\n0088212345678,x,hi,,\n5432109876,Last,hi,Ward 1,33\n"
    with pytest.raises(ImportRefused) as refused:
        await do_import(store, bad, at=T0 + timedelta(hours=1))
    assert [e.line for e in refused.value.errors] == [6, 7]  # 00882... and 5432109876 (not a mobile number)
    assert snapshot(sync_engine) == before
    assert [p.number for p in await store.contacts("raipur")] == ["9876543210", "8765432109", "7654321098"]


async def test_the_same_file_again_writes_nothing(store, sync_engine):
    first = await do_import(store, FIRST)
    before = snapshot(sync_engine)
    again = await do_import(store, FIRST, at=T0 + timedelta(days=1))
    assert again == ImportResult(first.list_id, rows=3, added=0, updated=0, removed=0, unchanged=True, dnc=0)
    assert snapshot(sync_engine) == before
    assert len(before["contact_imports"]) == 1


async def test_a_new_file_adds_updates_removes_and_restores(store, sync_engine):
    first = await do_import(store, FIRST)
    ids = {p.number: p.id for p in await store.contacts("raipur")}
    second = f"""number,name,language,ward,age
7654321098,Mohan,,Ward 7,70
9876543210,{HINDI},hi,Ward 8,54
6543210987,Sita,hi,Ward 1,45
""".encode()
    t1 = T0 + timedelta(days=1)
    result = await do_import(store, second, at=t1)
    assert result == ImportResult(first.list_id, rows=3, added=1, updated=1, removed=1, unchanged=False, dnc=0)
    people = {p.number: p for p in await store.contacts("raipur")}
    assert set(people) == {"7654321098", "9876543210", "6543210987"}
    assert people["9876543210"].district == "Ward 8" and people["9876543210"].id == ids["9876543210"]
    assert people["7654321098"].line == 2  # it moved up: its line follows the file, it is not counted as updated
    asha = await store.contact(ids["8765432109"] or 0)  # removed, kept for her attempts
    assert asha is not None and asha.name == "Asha"
    with sync_engine.connect() as conn:
        removed = conn.execute(text("SELECT number FROM contacts WHERE removed_at IS NOT NULL")).scalars().all()
        imports = conn.execute(text("SELECT rows, added, updated, removed FROM contact_imports ORDER BY id")).all()
    assert removed == ["8765432109"]
    assert [tuple(r) for r in imports] == [(3, 3, 0, 0), (3, 1, 1, 1)]
    assert (await store.lists())[0].contacts == 3

    # the first file again: Asha comes back (same row), Sita goes; one import row per file, brought up to date
    t2 = T0 + timedelta(days=2)
    result = await do_import(store, FIRST, at=t2)
    assert result == ImportResult(first.list_id, rows=3, added=1, updated=1, removed=1, unchanged=False, dnc=0)
    people = {p.number: p for p in await store.contacts("raipur")}
    assert set(people) == {"9876543210", "8765432109", "7654321098"}
    assert people["8765432109"].id == ids["8765432109"]
    with sync_engine.connect() as conn:
        imports = conn.execute(text("SELECT rows, added, updated, removed FROM contact_imports ORDER BY id")).all()
    assert [tuple(r) for r in imports] == [(3, 1, 1, 1), (3, 1, 1, 1)]
    assert (await do_import(store, FIRST, at=t2 + timedelta(hours=1))).unchanged


async def test_lists_are_apart(store):
    await do_import(store, FIRST, name="raipur")
    other = await do_import(store, FIRST, name="bilaspur")  # the same file, another list: imported
    assert not other.unchanged and other.added == 3
    assert [(x.name, x.contacts) for x in await store.lists()] == [("bilaspur", 3), ("raipur", 3)]
    with pytest.raises(ImportRefused) as refused:
        await do_import(store, FIRST, name="Raipur List")
    assert "must be an id" in str(refused.value.errors[0])


async def test_two_imports_of_one_new_list_at_once_run_one_after_the_other(db_url):
    upgrade(db_url)
    async with ListStore(db_url) as one, ListStore(db_url) as two:
        results = await asyncio.gather(do_import(one, FIRST), do_import(two, FIRST))
        assert sorted(r.unchanged for r in results) == [False, True]
        assert len(await one.contacts("raipur")) == 3 and len(await one.lists()) == 1


async def test_do_not_call_in_any_spelling(store, sync_engine):
    assert await store.is_dnc("+91 99999 00000", PROFILE)  # the profile's
    assert await store.is_dnc("0091-99999-00000", PROFILE)
    assert not await store.is_dnc("+918765432109", PROFILE)
    entry = await store.add_dnc("+91 87654 32109", "asked not to be called", by="cli", now=T0)
    assert (entry.number, entry.reason, entry.added_at, entry.added_by) == (
        "+918765432109",
        "asked not to be called",
        T0,
        "cli",
    )
    again = await store.add_dnc("0091 8765432109", "another reason", by="console:asha", now=T0 + timedelta(hours=1))
    assert again == entry  # already there: as it was
    for spelling in ("+918765432109", "918765432109", "00918765432109", "+91 (87654) 32109"):
        assert await store.is_dnc(spelling, PROFILE), spelling
    assert [e.number for e in await store.dnc()] == ["+918765432109"]

    # a listed number imports, counted, and stays listed
    result = await do_import(store, FIRST.replace(b"8765432109", b"+918765432109"))
    assert result.dnc == 1 and result.rows == 3

    assert await store.remove_dnc("918765432109")
    assert not await store.remove_dnc("918765432109")
    assert not await store.is_dnc("+918765432109", PROFILE)
    assert await store.dnc() == []
    for bad_number, reason in (("", "x"), ("12ab", "x"), ("9876543210", "  "), ("9876543210", "a\nb")):
        with pytest.raises(ValueError):
            await store.add_dnc(bad_number, reason, by="cli", now=T0)
    assert snapshot(sync_engine)["do_not_call"] == []


async def test_a_long_hindi_name_fits_its_column(store):
    name = ("क्ष" * 128)[:255]
    data = f"number,name,note\n9876543210,{name},{'ग' * 1000}\n".encode()
    await do_import(store, data)
    (person,) = await store.contacts("raipur")
    assert person.name == name and len(person.name) == 255 and person.fields == {"note": "ग" * 1000}


# -- the commands: hotline campaign import|lists, hotline dnc add|remove|list --------------------------------------


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    """The test profile as a file, for --profile."""
    data = yaml.safe_load((PROFILES / "moh-151.yaml").read_text(encoding="utf-8"))
    _add_hindi(data)
    data["languages"].append({"code": "hi", "key": "3", "voice": "hi"})
    data["ivr"]["default"]["language"] = "hi"
    data["outbound"] = {"allowed_numbers": [r"[6-9][0-9]{9}", r"\+91[6-9][0-9]{9}"], "do_not_call": ["+919999900000"]}
    path = tmp_path / "india.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_campaign_import_prints_the_counts_then_unchanged(sqlite_url, profile_file, tmp_path, capsys):
    patients = tmp_path / "patients.csv"
    patients.write_bytes(FIRST + b"+91 99999 00000,Listed,hi,Ward 1,50\n")
    args = ["campaign", "import", "--list", "raipur", str(patients), "--db", sqlite_url, "--profile", str(profile_file)]
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines() == [
        "raipur: 4 rows, 4 added, 0 updated, 0 removed",
        "1 on the do-not-call list: imported, never called",
    ]
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines()[0] == "raipur: unchanged, this file is already imported (4 rows)"
    assert main(["campaign", "lists", "--db", sqlite_url]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.split()[:3] == ["raipur", "4", "people"]


def test_campaign_import_of_a_bad_file_prints_every_bad_row_and_imports_nothing(
    sqlite_url, profile_file, tmp_path, capsys
):
    patients = tmp_path / "patients.csv"
    patients.write_bytes(FIRST + b"0088212345678,Sat,hi,,\n9876543210,Again,xx,,\n")
    args = ["campaign", "import", "--list", "raipur", str(patients), "--db", sqlite_url, "--profile", str(profile_file)]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"{patients}: refused, nothing imported (2 bad rows):",
        "line 5: the number '0088212345678' matches none of the profile's outbound.allowed_numbers "
        "(an international number needs a pattern naming its 00 or + prefix)",
        "line 6: the number 9876543210 is also on line 2",
        "line 6: unknown language 'xx': one of ar, en, hi (empty: hi)",
    ]
    assert main(["campaign", "lists", "--db", sqlite_url]) == 0
    assert capsys.readouterr().out == "no contact lists (hotline campaign import --list NAME FILE)\n"
    assert main([*args[:4], str(tmp_path / "missing.csv"), *args[5:]]) == 2
    assert "No such file" in capsys.readouterr().err


def test_dnc_commands(sqlite_url, profile_file, capsys):
    db = ["--db", sqlite_url]
    assert main(["dnc", "add", "+91 87654 32109", "--reason", "asked on the phone", *db]) == 0
    assert capsys.readouterr().out.startswith("+918765432109: on the do-not-call list since ")
    assert main(["dnc", "list", *db, "--profile", str(profile_file)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split() == ["+919999900000", "the", "profile"]
    assert listed[1].split()[0] == "+918765432109" and listed[1].endswith("cli          asked on the phone")
    assert main(["dnc", "add", "12ab", "--reason", "x", *db]) == 2
    assert capsys.readouterr().err == "hotline dnc add: not a phone number: '12ab'\n"
    assert main(["dnc", "remove", "918765432109", *db, "--profile", str(profile_file)]) == 0
    assert main(["dnc", "remove", "918765432109", *db, "--profile", str(profile_file)]) == 1
    assert main(["dnc", "remove", "9999900000", *db, "--profile", str(profile_file)]) == 1
    assert main(["dnc", "remove", "+919999900000", *db, "--profile", str(profile_file)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "hotline dnc remove: 918765432109 is not on the do-not-call list",
        "hotline dnc remove: 9999900000 is not on the do-not-call list",
        "hotline dnc remove: +919999900000 is in the profile's outbound.do_not_call: change it there",
    ]


def test_the_hotline_command_itself_refuses_a_bad_file(sqlite_url, profile_file, tmp_path):
    patients = tmp_path / "patients.csv"
    patients.write_bytes(b"number,name\n9876543210,a\x00b\n")
    run = subprocess.run(
        [sys.executable, "-m", "hotline.cli", "campaign", "import", "--list", "raipur", str(patients),
         "--db", sqlite_url, "--profile", str(profile_file)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert run.stderr.splitlines()[-1] == "line 2: the name has a control character (U+0000)"
