"""A plain, non-editable ``pip install .`` works on its own: the profile, the Asterisk templates, the SIPp scenarios,
the console's pages and the migrations all come from the installed package, never from the source tree.

The project is copied (only what a build needs: pyproject.toml, README.md and the packages it lists) so that the
build leaves nothing in the work tree. A fresh venv gets the project installed, without its dependencies: a ``.pth``
file lends it the test venv's site-packages (never processed as a site directory, so the editable install of the
source tree stays invisible), which keeps the test offline. Every command then runs from an empty directory.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sysconfig
import tomllib
import venv
from importlib import metadata
from pathlib import Path

import pytest
from packaging.version import Version

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROFILE = "profiles/moh-151.yaml"
PIP_OPTIONS = ("--quiet", "--no-deps", "--no-build-isolation", "--no-index", "--ignore-installed", "--no-cache-dir")

RENDER = """
import json, sys
from pathlib import Path

import console, hotline, profiles, storage, telephony
from hotline.bootstrap import asterisk_plan
from hotline.settings import Settings
from profiles.model import load_profile
from telephony.asterisk import AsteriskInstance, Credentials

settings = Settings()
profile = load_profile(settings.profile_path)
instance = AsteriskInstance(Path(sys.argv[1]), settings)
(instance.host_dir / "etc").mkdir(parents=True)
instance.render(profile, asterisk_plan(profile), Credentials.generate(profile))
print(json.dumps({
    "modules": {m.__name__: m.__file__ for m in (console, hotline, profiles, storage, telephony)},
    "profile_path": str(settings.profile_path),
    "number": profile.number,
    "etc": str(instance.host_dir / "etc"),
}))
"""


def _packages(pyproject: dict) -> list[str]:
    """The top-level packages that pyproject.toml's ``packages.find`` includes ("telephony*" -> "telephony")."""
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted({pattern.split("*")[0].split(".")[0] for pattern in patterns})


def _data_files(src: Path, packages: list[str]) -> set[str]:
    """Every file in the packages that is not Python source or bytecode: what must be installed as package data."""
    return {
        path.relative_to(src).as_posix()
        for package in packages
        for path in (src / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".py", ".pyc"}
    }


def _run(args: list[str | Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


class Installed:
    def __init__(self, root: Path):
        self.src = root / "src"
        self.venv = root / "venv"
        self.cwd = root / "cwd"
        self.purelib = Path(sysconfig.get_path("purelib", vars={"base": str(self.venv), "platbase": str(self.venv)}))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "PYTHON", "VIRTUAL_ENV"))}
        self.env["HOME"] = str(root / "home")  # the default cache dir, ~/.cache/hotline, stays inside the test
        self.env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{self.env.get('PATH', '')}"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(self, *args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return _run(list(args), self.cwd, {**self.env, **(env or {})})


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    if Version(metadata.version("setuptools")) < Version("77"):
        pytest.fail("setuptools>=77 (pinned in requirements.lock) is needed to build offline: run `make venv`")
    box = Installed(tmp_path_factory.mktemp("packaging"))
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    box.src.mkdir()
    for name in ("pyproject.toml", pyproject["project"]["readme"]):
        shutil.copy2(PROJECT_ROOT / name, box.src / name)
    for package in _packages(pyproject):
        shutil.copytree(PROJECT_ROOT / package, box.src / package, ignore=shutil.ignore_patterns("__pycache__"))
    venv.EnvBuilder(with_pip=False).create(box.venv)
    box.purelib.mkdir(parents=True, exist_ok=True)
    (box.purelib / "_hotline_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    box.cwd.mkdir()
    # `pip install .`, from the project's directory, as a user would; --ignore-installed: the test venv's editable
    # hotline (visible through the .pth) is neither a reason to skip nor something to uninstall.
    _run([box.python, "-m", "pip", "install", *PIP_OPTIONS, "."], box.src, box.env)
    return box


def test_every_data_file_of_the_packages_is_installed(installed: Installed):
    packages = _packages(tomllib.loads((installed.src / "pyproject.toml").read_text(encoding="utf-8")))
    expected = _data_files(installed.src, packages)
    assert {"profiles/moh-151.yaml", "storage/migrations/script.py.mako", "console/static/console.css"} <= expected
    assert any(name.startswith("telephony/templates/dialplan/") for name in expected)
    assert any(name.startswith("telephony/sipp/scenarios/") for name in expected)
    missing = sorted(name for name in expected if not (installed.purelib / name).is_file())
    assert not missing, f"not in the installed package (add them to [tool.setuptools.package-data]): {missing}"
    migrations = sorted((installed.src / "storage" / "migrations" / "versions").glob("[0-9]*.py"))
    assert migrations
    assert all((installed.purelib / m.relative_to(installed.src)).is_file() for m in migrations)


def test_installed_hotline_checks_the_profile_from_an_empty_directory(installed: Installed):
    (installed.cwd / "profiles").mkdir(exist_ok=True)
    shutil.copy2(PROJECT_ROOT / PROFILE, installed.cwd / PROFILE)
    given = installed.run("hotline", "profile", "check", PROFILE)
    assert ": ok" in given.stdout
    default = installed.run("hotline", "profile", "check")  # the profile shipped in the package
    assert default.stdout.startswith(str(installed.purelib / "profiles" / "moh-151.yaml") + ": ok")


def test_installed_package_renders_the_asterisk_configuration_from_its_own_templates(installed: Installed):
    root = installed.cwd / "asterisk-root"
    done = installed.run(installed.python, "-c", RENDER, root)
    result = json.loads(done.stdout)
    for name, file in result["modules"].items():
        assert Path(file).is_relative_to(installed.purelib), f"{name} was imported from {file}, not from the venv"
    assert Path(result["profile_path"]).is_relative_to(installed.purelib)
    templates = sorted((installed.src / "telephony" / "templates").glob("*/*.j2"))
    rendered = sorted(p.name for p in Path(result["etc"]).iterdir())
    assert rendered == sorted(t.name.removesuffix(".j2") for t in templates)
    assert result["number"] in (Path(result["etc"]) / "extensions.conf").read_text(encoding="utf-8")


def test_installed_package_migrates_a_new_database(installed: Installed):
    db = installed.cwd / "records.db"
    installed.run("hotline", "db", "upgrade", env={"HOTLINE_DB_URL": f"sqlite:///{db}"})
    with sqlite3.connect(db) as connection:
        (version,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    heads = sorted((installed.src / "storage" / "migrations" / "versions").glob("[0-9]*.py"))
    assert version in heads[-1].read_text(encoding="utf-8")
