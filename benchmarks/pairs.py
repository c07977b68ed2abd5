"""Alternating-pairs timing: the one way the benchmarks compare two implementations.

Timing A and then B on a shared, busy machine lets a slow minute land on one side only. Here the
two callables run in alternation (A B, B A, A B, ...), each pair yields one ratio A/B, and the
median ratio is what the benchmarks report, together with the range over the pairs.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class PairTiming:
    """Seconds of every run of A and B (in pair order) and the per-pair ratios A/B."""
    a_seconds: tuple[float, ...]
    b_seconds: tuple[float, ...]

    @property
    def ratios(self) -> tuple[float, ...]:
        return tuple(a / b for a, b in zip(self.a_seconds, self.b_seconds))

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def ratio_range(self) -> tuple[float, float]:
        return min(self.ratios), max(self.ratios)

    @property
    def a_median(self) -> float:
        return statistics.median(self.a_seconds)

    @property
    def b_median(self) -> float:
        return statistics.median(self.b_seconds)


def _seconds(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def time_pairs(a: Callable[[], object], b: Callable[[], object], pairs: int, warmup: int = 1) -> PairTiming:
    """Run ``a`` and ``b`` ``warmup`` times each, then ``pairs`` alternating pairs.

    The order inside a pair flips every pair (AB, BA, ...) so that neither side always runs on a
    cache the other one warmed.
    """
    if pairs < 1:
        raise ValueError(f"pairs must be >= 1, got {pairs}")
    for _ in range(warmup):
        a()
        b()
    a_s, b_s = [], []
    for i in range(pairs):
        if i % 2 == 0:
            a_s.append(_seconds(a))
            b_s.append(_seconds(b))
        else:
            b_s.append(_seconds(b))
            a_s.append(_seconds(a))
    return PairTiming(tuple(a_s), tuple(b_s))
