"""Pauses between attempts: doubling up to a bound, with jitter so that many clients do not retry in step."""

from __future__ import annotations

import random
from collections.abc import Callable

# Enough doublings to pass any bound; the count may grow further, the exponent need not.
_DOUBLINGS = 64


class Backoff:
    """`initial` seconds after the first failure, doubling per failure up to `maximum`; each pause is
    shortened by up to `jitter` of itself (a fraction) at random. `rand` returns a number in [0, 1)."""

    def __init__(
        self,
        initial: float,
        maximum: float,
        *,
        jitter: float = 0.5,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.initial, self.maximum, self.jitter = initial, maximum, jitter
        self._rand = rand
        self.failures = 0  # since the last reset

    def next(self) -> float:
        """The pause before the next attempt, counting one more failure."""
        ceiling = min(self.maximum, self.initial * 2.0 ** min(self.failures, _DOUBLINGS))
        self.failures += 1
        return ceiling * (1 - self.jitter * self._rand())

    def reset(self) -> None:
        """Things work again: the next failure waits `initial` again."""
        self.failures = 0
