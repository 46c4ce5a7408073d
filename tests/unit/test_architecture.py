"""The house keeps its shape: import-linter's contracts (layers, independent features, a pure core) run in the suite."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_imports_run_down_the_layers_features_are_independent_and_the_core_is_pure():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_every_test_module_has_a_name_of_its_own():
    """The test folders are not packages: two modules of one name in two folders stop the whole collection."""
    from collections import Counter

    tests = Path(__file__).parents[1]
    names = Counter(path.name for path in tests.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
