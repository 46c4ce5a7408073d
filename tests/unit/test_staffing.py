"""Erlang B, C and A against pyworkforce, published table values and exact special cases."""

from __future__ import annotations

import argparse
import heapq
import io
import math
import random

import pytest

from cdr import cli
from cdr.staffing import (
    OverloadError,
    StaffingError,
    agents_needed,
    agents_needed_erlang_a,
    average_speed_of_answer,
    erlang_a,
    erlang_b,
    erlang_c,
    seats_after_shrinkage,
    service_level,
    traffic_erlangs,
)

pyworkforce_queuing = pytest.importorskip("pyworkforce.queuing", reason="pyworkforce (test-only dependency)")
ErlangC = pyworkforce_queuing.ErlangC

LOADS = [1.0, 2.5, 7.3, 10.0, 24.0, 50.0, 99.5, 180.0, 333.3, 500.0]


def _pyworkforce(traffic: float, aht_seconds: float = 180.0, target_seconds: float = 20.0, shrinkage: float = 0.0):
    # pyworkforce works in minutes: intensity = transactions / interval * aht
    return ErlangC(
        transactions=traffic * 30 / (aht_seconds / 60),
        aht=aht_seconds / 60,
        asa=target_seconds / 60,
        interval=30,
        shrinkage=shrinkage,
    )


# -- Erlang B -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "traffic"),
    # Erlang B table, 1 % blocking (GoS 0.01): traffic in Erlangs for n lines, as published (2 decimals)
    [(1, 0.0101), (5, 1.36), (10, 4.46), (20, 12.03), (50, 37.90), (100, 84.06)],
)
def test_erlang_b_matches_the_published_one_percent_table(lines: int, traffic: float) -> None:
    assert erlang_b(lines, traffic) == pytest.approx(0.01, abs=0.0005)


def test_erlang_b_small_cases_by_hand() -> None:
    assert erlang_b(0, 3.0) == 1.0
    assert erlang_b(1, 1.0) == pytest.approx(0.5)  # A / (1 + A)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)  # (A²/2) / (1 + A + A²/2)


def test_erlang_b_and_c_stay_finite_up_to_a_thousand_people() -> None:
    b = erlang_b(1000, 990.0)
    assert 0 < b < 1 and math.isfinite(b)
    assert 0 < erlang_c(1000, 990.0) < 1
    assert agents_needed(950.0, 180, 0.8, 20).agents >= 951
    assert erlang_b(1000, 10.0) == pytest.approx(0.0, abs=1e-300)


# -- Erlang C -----------------------------------------------------------------------------------


@pytest.mark.parametrize("traffic", LOADS)
def test_erlang_c_waiting_probability_and_service_level_match_pyworkforce(traffic: float) -> None:
    ref = _pyworkforce(traffic)
    for n in (math.floor(traffic) + 1, math.ceil(traffic * 1.1) + 1, math.ceil(traffic * 1.3) + 2):
        assert erlang_c(n, traffic) == pytest.approx(ref.waiting_probability(n), rel=1e-9)
        assert service_level(n, traffic, 180, 20) == pytest.approx(ref.service_level(n), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("traffic", LOADS)
@pytest.mark.parametrize(("target", "seconds", "aht"), [(0.8, 20, 180), (0.9, 15, 300), (0.7, 60, 240)])
def test_people_needed_matches_pyworkforce(traffic: float, target: float, seconds: float, aht: float) -> None:
    ref = _pyworkforce(traffic, aht, seconds, shrinkage=0.3).required_positions(service_level=target)
    ours = agents_needed(traffic, aht, target, seconds)
    assert ours.agents == ref["raw_positions"]
    seats = seats_after_shrinkage(ours.agents, 0.3)
    if seats != ref["positions"]:
        # pyworkforce takes ceil(343 / 0.7) = ceil(490.00000000000006) = 491; 490 is exact
        assert ref["positions"] == seats + 1 and ours.agents / 0.7 == pytest.approx(seats, abs=1e-9)
    assert ours.service_level == pytest.approx(ref["service_level"], rel=1e-9)


def test_the_textbook_example_100_calls_in_30_minutes() -> None:
    # 100 calls / 30 min, AHT 180 s: 10 Erlangs; 80 % within 20 s needs 14 people (SL 88.8 %)
    traffic = traffic_erlangs(100, 1800, 180)
    assert traffic == 10
    res = agents_needed(traffic, 180, 0.8, 20)
    assert (res.agents, round(res.service_level, 3)) == (14, 0.888)
    assert res.occupancy == pytest.approx(10 / 14)
    assert res.asa_seconds == pytest.approx(average_speed_of_answer(14, 10, 180))
    assert seats_after_shrinkage(14, 0.3) == 20


@pytest.mark.parametrize(("agents", "traffic"), [(10, 10.0), (10, 12.5), (1, 1.0)])
def test_load_at_or_above_the_people_is_a_clear_error(agents: int, traffic: float) -> None:
    with pytest.raises(OverloadError, match=r"Erlangs needs more than \d+ people"):
        erlang_c(agents, traffic)
    with pytest.raises(OverloadError):
        service_level(agents, traffic, 180, 20)


def test_bad_inputs_are_staffing_errors() -> None:
    with pytest.raises(StaffingError):
        agents_needed(5, 180, 1.2, 20)
    with pytest.raises(StaffingError):
        agents_needed(-1, 180, 0.8, 20)
    with pytest.raises(StaffingError):
        seats_after_shrinkage(10, 1.0)
    assert agents_needed(0, 180, 0.8, 20).agents == 0


# -- Erlang A -----------------------------------------------------------------------------------


def _poisson(mean: float, k: int) -> float:
    return math.exp(-mean + k * math.log(mean) - math.lgamma(k + 1))


@pytest.mark.parametrize(("agents", "traffic"), [(5, 4.0), (10, 9.0), (50, 55.0), (200, 190.0)])
def test_erlang_a_with_patience_equal_to_handle_time_is_an_infinite_server_queue(agents: int, traffic: float) -> None:
    # theta = mu: death rate k·mu in every state, so the number in system is Poisson(A)
    aht = 180.0
    res = erlang_a(agents, traffic / aht, aht, aht, 20)
    tail = sum(_poisson(traffic, k) for k in range(agents, agents + 2000))
    excess = sum((k - agents) * _poisson(traffic, k) for k in range(agents, agents + 2000))
    assert res.waiting_probability == pytest.approx(tail, rel=1e-9)
    assert res.abandon_probability == pytest.approx(excess / traffic, rel=1e-9)


@pytest.mark.parametrize("traffic", [1.0, 10.0, 50.0, 200.0])
def test_erlang_a_with_endless_patience_is_erlang_c(traffic: float) -> None:
    ref = _pyworkforce(traffic)
    n = math.ceil(traffic * 1.15) + 1
    res = erlang_a(n, traffic / 180, 180, 1e9, 20)
    assert res.waiting_probability == pytest.approx(ref.waiting_probability(n), rel=1e-6)
    assert res.service_level == pytest.approx(ref.service_level(n), rel=1e-6)
    assert res.abandon_probability == pytest.approx(0.0, abs=1e-5)
    assert (
        agents_needed_erlang_a(traffic / 180, 180, 1e9, 0.8, 20).agents == agents_needed(traffic, 180, 0.8, 20).agents
    )


def _simulate(n: int, lam: float, aht: float, patience: float, target: float, calls: int, seed: int):
    """M/M/n+M, first come first served: share answered within target, share abandoned."""
    rng = random.Random(seed)
    free = [0.0] * n
    t = 0.0
    within = abandoned = 0
    for _ in range(calls):
        t += rng.expovariate(lam)
        tau = rng.expovariate(1 / patience)
        start = max(t, free[0])
        if start - t > tau:
            abandoned += 1
            continue
        heapq.heapreplace(free, start + rng.expovariate(1 / aht))
        within += start - t <= target
    return within / calls, abandoned / calls


def test_erlang_a_service_level_and_abandonment_agree_with_a_simulation() -> None:
    res = erlang_a(10, 9 / 180, 180, 180, 20)
    sl, abandoned = _simulate(10, 9 / 180, 180, 180, 20, 400_000, seed=7)
    assert res.service_level == pytest.approx(sl, abs=0.012)
    assert res.abandon_probability == pytest.approx(abandoned, abs=0.006)
    assert 0 < res.service_level < res.service_level_answered < 1


def test_erlang_a_staffing_handles_overload_and_needs_no_more_than_erlang_c() -> None:
    # 500 Erlangs: Erlang A may staff below the load (callers abandon), Erlang C never can
    a = agents_needed_erlang_a(500 / 180, 180, 120, 0.8, 20)
    c = agents_needed(500, 180, 0.8, 20)
    assert a.agents <= c.agents
    assert a.service_level >= 0.8 > erlang_a(a.agents - 1, 500 / 180, 180, 120, 20).service_level
    assert 0 < a.abandon_probability < 0.2


# -- CLI ----------------------------------------------------------------------------------------


def _run(argv: list[str]) -> tuple[int | None, str, str]:
    parser = argparse.ArgumentParser(prog="hotline")
    cli.add_commands(parser.add_subparsers(dest="command"))
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(parser.parse_args(argv), settings=None, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_staffing_prints_people_and_seats() -> None:
    code, out, _ = _run(
        [
            "staffing",
            "--calls",
            "100",
            "--interval-minutes",
            "30",
            "--aht",
            "180",
            "--service-level",
            "80/20",
            "--shrinkage",
            "0.3",
        ]
    )
    assert code == 0
    assert "traffic: 10.00 Erlangs" in out
    assert "people needed: 14" in out
    assert "seats after 30% shrinkage: 20" in out


def test_cli_staffing_erlang_a_needs_patience_and_uses_it() -> None:
    code, _, err = _run(
        [
            "staffing",
            "--calls",
            "100",
            "--interval-minutes",
            "30",
            "--aht",
            "180",
            "--service-level",
            "80/20",
            "--erlang-a",
        ]
    )
    assert code == 2 and "--patience" in err
    code, out, _ = _run(
        [
            "staffing",
            "--calls",
            "100",
            "--interval-minutes",
            "30",
            "--aht",
            "180",
            "--service-level",
            "80/20",
            "--erlang-a",
            "--patience",
            "60",
        ]
    )
    assert code == 0 and "Erlang A" in out and "abandoned" in out


def test_cli_run_ignores_other_commands_and_rejects_bad_service_levels() -> None:
    assert cli.run(argparse.Namespace(command="records"), settings=None) is None
    with pytest.raises(SystemExit):
        _run(["staffing", "--calls", "1", "--interval-minutes", "30", "--aht", "1", "--service-level", "eighty"])
    assert cli.parse_service_level("80/20") == (0.8, 20.0)
    assert cli.parse_service_level("0.9/15") == (0.9, 15.0)
