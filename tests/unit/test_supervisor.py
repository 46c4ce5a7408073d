"""The service's own user: what needs no root (the rest is in tests/e2e/test_service_user.py)."""

import tomllib
from pathlib import Path

from hotline import supervisor

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"


def test_the_runtime_links_every_package_of_the_project():
    include = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    assert sorted(supervisor.PACKAGES) == sorted(name.rstrip("*") for name in include)
    assert all((supervisor.code_root() / name / "__init__.py").is_file() for name in supervisor.PACKAGES)
