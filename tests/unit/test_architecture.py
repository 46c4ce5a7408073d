"""The pure core stays pure: import-linter's contract runs as part of the suite."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_pure_core_imports_no_asyncio_panoramisk_aiohttp_or_sqlalchemy():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout
