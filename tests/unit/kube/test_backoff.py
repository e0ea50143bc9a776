"""Backoff: pauses double up to the bound, jitter only shortens them, a reset starts over; the watch
cache's pauses spread the relists of many nodes."""

from __future__ import annotations

import collections
import math
import random

import pytest

from multus.kube.backoff import Backoff
from multus.kube.watchcache import RETRY_JITTER, RETRY_PAUSE, RETRY_PAUSE_MAX


def pauses(backoff: Backoff, count: int) -> list[float]:
    return [backoff.next() for _ in range(count)]


def test_pauses_double_up_to_the_bound_and_start_over_after_a_reset() -> None:
    backoff = Backoff(0.5, 3.0, jitter=0.0)
    assert pauses(backoff, 5) == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert pauses(backoff, 2) == [0.5, 1.0]


def test_jitter_takes_at_most_its_fraction_off() -> None:
    draws = iter([0.0, 0.999, 0.5])
    backoff = Backoff(2.0, 60.0, jitter=0.5, rand=lambda: next(draws))
    assert pauses(backoff, 3) == [2.0, 4.0 * (1 - 0.5 * 0.999), 8.0 * 0.75]


def test_many_failures_stay_at_the_bound() -> None:
    backoff = Backoff(1.0, 30.0, jitter=0.0)
    assert pauses(backoff, 2000)[-1] == 30.0
    assert Backoff(0.2, math.inf, jitter=0.0).next() == 0.2


def first_attempts_after(outage: float, clients: int, seed: int) -> list[float]:
    """When each of `clients` watch caches, all broken at 0 s, first tries again once the server is
    back at `outage` seconds, with the watch cache's own pauses."""
    draws = random.Random(seed)  # noqa: S311  repeatable draws, not secrets
    times = []
    for _ in range(clients):
        backoff = Backoff(RETRY_PAUSE, RETRY_PAUSE_MAX, jitter=RETRY_JITTER, rand=draws.random)
        elapsed = 0.0
        while elapsed < outage:
            elapsed += backoff.next()
        times.append(elapsed)
    return times


@pytest.mark.parametrize("outage", [3.0, 6.0, 20.0, 120.0])
def test_watch_retries_after_a_restart_are_spread_and_bounded(outage: float) -> None:
    # 100 nodes' two watches each: no one second takes more than 40 % of the relists, and the last
    # comes within RETRY_PAUSE_MAX of the server's return.
    for seed in range(10):
        times = first_attempts_after(outage, 200, seed)
        busiest = max(collections.Counter(int(t) for t in times).values())
        assert busiest <= 80, (seed, busiest)
        assert max(times) - outage <= RETRY_PAUSE_MAX
