"""bench/campaign_sim.py on a tiny population (issue 14): it prints one JSON object on its last line with the figures of
both pacings, and what it simulates holds: with progressive pacing nobody who presses 2 waits for a doctor and no
more calls are in flight than doctors free, while a fixed rate on the same patients makes some wait. No timing."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).parents[2]
BENCH = ROOT / "bench" / "campaign_sim.py"
TINY = ["--patients", "300", "--doctors", "3", "--share-doctor", "0.3", "--seed", "7"]
KEYS = {
    "reached", "reached_share", "not_reached_after_all_attempts", "not_reached_window_closed", "not_reached_share",
    "calls_placed", "answered", "pressed_1", "pressed_2", "pressed_9", "no_key", "waited_after_2", "abandoned_after_2",
    "longest_wait_after_2_s", "p95_wait_after_2_s", "mean_wait_after_2_s", "occupancy", "peak_calls_in_flight",
    "peak_waiting_after_2", "last_call_placed_at",
}  # fmt: skip


@cache
def _bench():
    spec = importlib.util.spec_from_file_location("campaign_sim", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["campaign_sim"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_last_line_is_one_json_object_with_both_pacings() -> None:
    run = subprocess.run([sys.executable, str(BENCH), *TINY], capture_output=True, text=True, check=True, cwd=ROOT)
    lines = run.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert {"seed", "patients", "doctors", "window", "rules", "fixed_rate_per_minute", "assumptions"} <= set(figures)
    assert figures["rules"]["attempts_per_day"] == 3 and figures["rules"]["retry_after_seconds"] == [1800, 3600]
    assert figures["window_hours"] == 8.0
    for mode in ("progressive", "fixed"):
        result = figures[mode]
        assert set(result) == KEYS
        assert any(line.strip().startswith(f"{mode}:") for line in lines[:-1])  # and a line for people
        left = result["not_reached_after_all_attempts"] + result["not_reached_window_closed"]
        assert result["reached"] + left == 300
        assert result["answered"] == result["pressed_1"] + result["pressed_2"] + result["pressed_9"] + result["no_key"]
        assert result["reached"] <= result["calls_placed"] <= 300 * 3


def test_progressive_pacing_never_keeps_a_2_waiting_and_a_fixed_rate_does() -> None:
    bench = _bench()
    figures = bench.simulate(bench.parse_args(TINY))
    progressive, fixed = figures["progressive"], figures["fixed"]
    assert progressive["pressed_2"] == fixed["pressed_2"] > 0  # the same patients, the same keys
    assert progressive["longest_wait_after_2_s"] == 0.0
    assert progressive["waited_after_2"] == 0 and progressive["abandoned_after_2"] == 0
    assert progressive["peak_calls_in_flight"] <= 3  # never more calls in flight than doctors
    assert fixed["waited_after_2"] > 0
    assert fixed["longest_wait_after_2_s"] > progressive["longest_wait_after_2_s"]


def test_the_same_seed_gives_the_same_figures_and_another_seed_others() -> None:
    bench = _bench()
    first = bench.simulate(bench.parse_args(TINY))
    assert bench.simulate(bench.parse_args(TINY)) == first
    other = bench.simulate(bench.parse_args([*TINY[:-1], "8"]))
    assert other["progressive"] != first["progressive"]
