"""Backoff: pauses double up to the bound, jitter only shortens them, a reset starts over."""

from __future__ import annotations

import math

from multus.kube.backoff import Backoff


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
