"""pyproject.toml declares ranges; requirements.lock pins what `make` installs. The two must agree: every declared
dependency (the `test` extra included) is pinned in the lock, inside its range, and hash-checked.
(The non-editable install itself is tested in tests/adapters/test_packaging.py.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def _declared() -> list[Requirement]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(line) for line in [*project["dependencies"], *project["optional-dependencies"]["test"]]]


def _locked(text: str) -> dict[str, Version]:
    return {canonicalize_name(m[1]): Version(m[2]) for line in text.splitlines() if (m := PIN.match(line))}


def _disagreements(declared: list[Requirement], locked: dict[str, Version]) -> list[str]:
    environment = {**default_environment(), "extra": "test"}
    problems = []
    for requirement in declared:
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        if name not in locked:
            problems.append(f"{requirement} is not in requirements.lock")
        elif not requirement.specifier.contains(locked[name], prereleases=True):
            problems.append(f"{requirement} but requirements.lock pins {locked[name]}")
    return problems


def test_every_declared_dependency_is_pinned_in_the_lock_within_its_range():
    problems = _disagreements(_declared(), _locked((PROJECT_ROOT / "requirements.lock").read_text(encoding="utf-8")))
    assert not problems, "run `make lock` and commit requirements.lock:\n" + "\n".join(problems)


def test_a_dependency_outside_the_lock_or_its_range_is_reported():
    declared = [Requirement("aiohttp>=3.14,<4"), Requirement("pyworkforce==0.5.1"), Requirement("newlib>=1")]
    locked = {"aiohttp": Version("4.0.1"), "pyworkforce": Version("0.5.1")}
    assert _disagreements(declared, locked) == [
        "aiohttp<4,>=3.14 but requirements.lock pins 4.0.1",
        "newlib>=1 is not in requirements.lock",
    ]


def test_every_pin_in_the_lock_carries_a_hash():
    text = (PROJECT_ROOT / "requirements.lock").read_text(encoding="utf-8")
    entries = re.split(r"\n(?=[A-Za-z0-9])", text)
    pins = [entry for entry in entries if PIN.match(entry)]
    assert pins
    unhashed = [entry.split()[0] for entry in pins if "--hash=sha256:" not in entry]
    assert not unhashed, f"pins without a hash (pip would refuse the whole lock): {unhashed}"
