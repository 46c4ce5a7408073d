"""Erlang B, C and A: how many people a queue needs for a service level target.

Pure module (standard library only). Numerically robust for large systems:

* Erlang B uses the iterative recursion ``B(0) = 1, B(k) = A·B(k-1) / (k + A·B(k-1))``; no
  factorial or power is ever formed, so 1,000 people and 1,000 Erlangs neither overflow nor lose
  precision.
* Erlang C is derived from Erlang B: ``C = n·B / (n - A·(1 - B))``. It needs ``A < n``; otherwise
  the queue grows without bound and :class:`OverloadError` says so.
* Erlang A (M/M/n+M: callers abandon after an exponential patience) is computed from its
  birth-death stationary distribution (normalised through Erlang B) and, for the service level,
  the exact "offered wait" of a caller who finds ``m`` people ahead, evaluated for all ``m`` at
  once by uniformisation (a numerically stable way to get hypoexponential distributions).

Units: traffic in Erlangs, times in seconds. "Service level" in Erlang C is the probability that
a call is answered within ``target_seconds``; in Erlang A it is the fraction of *offered* calls
answered within ``target_seconds`` (a caller who abandons is never "within target"), which tends
to Erlang C's as patience grows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "ErlangAResult",
    "OverloadError",
    "StaffingError",
    "StaffingResult",
    "agents_needed",
    "agents_needed_erlang_a",
    "average_speed_of_answer",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "seats_after_shrinkage",
    "service_level",
    "traffic_erlangs",
]

MAX_AGENTS = 100_000


class StaffingError(ValueError):
    """Inputs that cannot give a staffing figure (negative load, a target above 100 %, ...)."""


class OverloadError(StaffingError):
    """The offered load is at or above the number of people: without abandonment the queue never empties."""

    def __init__(self, agents: int, traffic: float) -> None:
        self.agents = agents
        self.traffic = traffic
        super().__init__(
            f"offered traffic of {traffic:.2f} Erlangs needs more than {agents} people: "
            "at or above the number of people, the queue grows without bound (Erlang C has no answer)"
        )


def traffic_erlangs(calls: float, interval_seconds: float, aht_seconds: float) -> float:
    """Offered load in Erlangs: calls per interval × handle time / interval length."""
    if calls < 0 or aht_seconds < 0:
        raise StaffingError(f"calls ({calls}) and handle time ({aht_seconds}) must not be negative")
    if interval_seconds <= 0:
        raise StaffingError(f"interval length must be positive, got {interval_seconds}")
    return calls * aht_seconds / interval_seconds


def _check(agents: int, traffic: float) -> None:
    if agents < 0 or int(agents) != agents:
        raise StaffingError(f"number of people must be a whole number >= 0, got {agents!r}")
    if traffic < 0 or math.isnan(traffic) or math.isinf(traffic):
        raise StaffingError(f"traffic must be a finite number >= 0 Erlangs, got {traffic!r}")


def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability of an M/M/n/n loss system (Erlang B), by the stable recursion."""
    _check(agents, traffic)
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return b


def _erlang_c_from_b(agents: int, traffic: float, b: float) -> float:
    return agents * b / (agents - traffic * (1.0 - b))


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a call waits (Erlang C). Raises :class:`OverloadError` when ``traffic >= agents``."""
    _check(agents, traffic)
    if traffic == 0:
        return 0.0
    if traffic >= agents:
        raise OverloadError(agents, traffic)
    return _erlang_c_from_b(agents, traffic, erlang_b(agents, traffic))


def service_level(agents: int, traffic: float, aht_seconds: float, target_seconds: float) -> float:
    """Erlang C: probability that a call is answered within ``target_seconds``."""
    if aht_seconds <= 0:
        raise StaffingError(f"handle time must be positive, got {aht_seconds}")
    if traffic == 0:
        return 1.0
    pw = erlang_c(agents, traffic)
    return _sl(pw, agents, traffic, aht_seconds, target_seconds)


def _sl(pw: float, agents: int, traffic: float, aht: float, target: float) -> float:
    return max(0.0, 1.0 - pw * math.exp(-(agents - traffic) * target / aht))


def average_speed_of_answer(agents: int, traffic: float, aht_seconds: float) -> float:
    """Erlang C: mean wait over all calls, in seconds."""
    if traffic == 0:
        return 0.0
    return erlang_c(agents, traffic) * aht_seconds / (agents - traffic)


@dataclass(frozen=True, slots=True)
class StaffingResult:
    agents: int  # people taking calls needed
    traffic: float  # Erlangs
    service_level: float  # achieved with ``agents``
    waiting_probability: float
    asa_seconds: float
    occupancy: float
    abandon_probability: float = 0.0  # Erlang A only


def _check_target(target_sl: float, target_seconds: float, aht_seconds: float) -> None:
    if not 0 <= target_sl < 1:
        raise StaffingError(f"service level target must be in [0, 1) (e.g. 0.8 for 80 %), got {target_sl}")
    if target_seconds < 0:
        raise StaffingError(f"target answer time must be >= 0 s, got {target_seconds}")
    if aht_seconds <= 0:
        raise StaffingError(f"handle time must be positive, got {aht_seconds}")


def agents_needed(
    traffic: float,
    aht_seconds: float,
    target_sl: float,
    target_seconds: float,
    max_agents: int = MAX_AGENTS,
) -> StaffingResult:
    """Erlang C: the fewest people for which ``service_level >= target_sl``.

    Erlang B is carried forward one person at a time, so the search costs O(result).
    """
    _check(0, traffic)
    _check_target(target_sl, target_seconds, aht_seconds)
    if traffic == 0:
        return StaffingResult(0, 0.0, 1.0, 0.0, 0.0, 0.0)
    n = math.floor(traffic) + 1
    if n > max_agents:
        raise StaffingError(f"{traffic:.1f} Erlangs needs more than the limit of {max_agents} people")
    b = erlang_b(n, traffic)
    while True:
        pw = _erlang_c_from_b(n, traffic, b)
        sl = _sl(pw, n, traffic, aht_seconds, target_seconds)
        if sl >= target_sl:
            return StaffingResult(
                agents=n,
                traffic=traffic,
                service_level=sl,
                waiting_probability=pw,
                asa_seconds=pw * aht_seconds / (n - traffic),
                occupancy=traffic / n,
            )
        n += 1
        if n > max_agents:
            raise StaffingError(f"no staffing up to {max_agents} people reaches the target")
        b = traffic * b / (n + traffic * b)


def seats_after_shrinkage(agents: int, shrinkage: float) -> int:
    """People to schedule so that ``agents`` are taking calls when a share ``shrinkage`` is away."""
    if not 0 <= shrinkage < 1:
        raise StaffingError(f"shrinkage must be in [0, 1) (e.g. 0.3 for 30 %), got {shrinkage}")
    return math.ceil(agents / (1.0 - shrinkage) - 1e-9)


# -- Erlang A -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErlangAResult:
    waiting_probability: float  # an arrival finds every person busy
    abandon_probability: float  # an arrival hangs up before being answered
    service_level: float  # answered within target, over offered
    service_level_answered: float  # answered within target, over answered
    mean_wait_seconds: float  # mean time in queue over all offered callers (abandoners included)
    occupancy: float


def _poisson_weights(mean: float, tol: float = 1e-15) -> list[float]:
    """Poisson(mean) probabilities for k = 0..K, with K covering all but ``tol`` of the mass (log-space)."""
    if mean == 0:
        return [1.0]
    upper = int(mean + 12.0 * math.sqrt(mean) + 30)
    log_mean = math.log(mean)
    weights = [math.exp(-mean + k * log_mean - math.lgamma(k + 1)) for k in range(upper + 1)]
    total = sum(weights)
    if total < 1 - 1e-9:  # never expected; stay honest rather than silently wrong
        raise StaffingError(f"Poisson weights for mean {mean} lost mass ({total})")
    return weights


def erlang_a(
    agents: int,
    calls_per_second: float,
    aht_seconds: float,
    patience_seconds: float,
    target_seconds: float,
) -> ErlangAResult:
    """M/M/n+M (Erlang A) with exponential patience of mean ``patience_seconds``."""
    if aht_seconds <= 0 or patience_seconds <= 0:
        raise StaffingError("handle time and patience must be positive")
    if calls_per_second < 0 or target_seconds < 0:
        raise StaffingError("arrival rate and target must not be negative")
    if agents < 1 or int(agents) != agents:
        raise StaffingError(f"Erlang A needs at least one person, got {agents!r}")
    lam, mu, theta, n = calls_per_second, 1.0 / aht_seconds, 1.0 / patience_seconds, agents
    traffic = lam / mu
    if lam == 0:
        return ErlangAResult(0.0, 0.0, 1.0, 1.0, 0.0, 0.0)
    b = erlang_b(n, traffic)
    # t[m] = P(n+m)/P(n) = prod_{j=1..m} lam / (n mu + j theta); stop when negligible and decreasing.
    ratios = [1.0]
    r_sum = 0.0
    m = 0
    while True:
        m += 1
        nxt = ratios[-1] * lam / (n * mu + m * theta)
        ratios.append(nxt)
        r_sum += nxt
        if n * mu + m * theta > lam and nxt < 1e-16 * (1.0 + r_sum):
            break
        if m > 10_000_000:  # pragma: no cover - would need absurd inputs
            raise StaffingError("Erlang A queue distribution does not converge")
    p_n = b / (1.0 + b * r_sum)  # P(all busy, nobody waiting)
    probs = [p_n * t for t in ratios]  # P(n + m), m = 0..M
    p_wait = sum(probs)
    mean_queue = sum(k * p for k, p in enumerate(probs))
    p_abandon = theta * mean_queue / lam
    p_served = 1.0 - p_abandon
    p_immediate = 1.0 - p_wait
    # Caller finding m ahead is served within T with probability E[exp(-theta V_m); V_m <= T],
    # V_m = sum_{i=0..m} Exp(n mu + i theta). Tilting each phase by exp(-theta x) gives
    # prod_i r_i/(r_i+theta) * P(V'_m <= T) with V'_m phases of rate n mu + (i+1) theta.
    big_m = len(probs) - 1
    rates = [n * mu + (i + 1) * theta for i in range(big_m + 1)]
    uni = rates[-1]
    weights = _poisson_weights(uni * target_seconds)
    stay = [1.0 - r / uni for r in rates]
    move = [r / uni for r in rates]
    h = [0.0] * (big_m + 1)  # P(absorbed within k uniformised steps | start i)
    cdf = [0.0] * (big_m + 1)
    for w in weights[1:]:
        prev = h
        h = [move[0] + stay[0] * prev[0]] + [move[i] * prev[i - 1] + stay[i] * prev[i] for i in range(1, big_m + 1)]
        for i in range(big_m + 1):
            cdf[i] += w * h[i]
    # (weights[0] * h_0 = 0: nothing is absorbed in zero steps.) Tail of Poisson mass beyond K is < 1e-15.
    served_within = p_immediate
    factor = 1.0
    for i in range(big_m + 1):
        factor *= (n * mu + i * theta) / (n * mu + (i + 1) * theta)
        served_within += probs[i] * factor * min(1.0, cdf[i])
    mean_wait = mean_queue / lam  # Little's law: mean time in queue over all offered callers
    return ErlangAResult(
        waiting_probability=p_wait,
        abandon_probability=p_abandon,
        service_level=min(1.0, served_within),
        service_level_answered=min(1.0, served_within / p_served) if p_served > 0 else 0.0,
        mean_wait_seconds=mean_wait,
        occupancy=traffic * p_served / n,
    )


def agents_needed_erlang_a(
    calls_per_second: float,
    aht_seconds: float,
    patience_seconds: float,
    target_sl: float,
    target_seconds: float,
    max_agents: int = MAX_AGENTS,
) -> StaffingResult:
    """Erlang A: fewest people for which the share of offered calls answered within target reaches ``target_sl``."""
    _check_target(target_sl, target_seconds, aht_seconds)
    if calls_per_second < 0:
        raise StaffingError("arrival rate must not be negative")
    traffic = calls_per_second * aht_seconds
    if calls_per_second == 0:
        return StaffingResult(0, 0.0, 1.0, 0.0, 0.0, 0.0)

    def ok(n: int) -> ErlangAResult | None:
        res = erlang_a(n, calls_per_second, aht_seconds, patience_seconds, target_seconds)
        return res if res.service_level >= target_sl else None

    hi = max(1, math.ceil(traffic))
    while ok(hi) is None:
        hi *= 2
        if hi > max_agents:
            raise StaffingError(f"no staffing up to {max_agents} people reaches the target")
    lo = 0  # ok(lo) is False (or lo = 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid) is None:
            lo = mid
        else:
            hi = mid
    res = erlang_a(hi, calls_per_second, aht_seconds, patience_seconds, target_seconds)
    return StaffingResult(
        agents=hi,
        traffic=traffic,
        service_level=res.service_level,
        waiting_probability=res.waiting_probability,
        asa_seconds=res.mean_wait_seconds,
        occupancy=res.occupancy,
        abandon_probability=res.abandon_probability,
    )
