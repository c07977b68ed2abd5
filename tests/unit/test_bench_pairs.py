"""benchmarks/pairs.py: alternation order and the per-pair ratios (no timing asserted)."""
import pytest

from benchmarks import pairs


def test_pairs_alternate_and_pair_ratios(monkeypatch):
    calls = []
    fake = iter([1.0, 2.0, 6.0, 3.0, 4.0, 8.0])  # seconds of the timed runs, in call order
    monkeypatch.setattr(pairs, "_seconds", lambda fn: (fn(), next(fake))[1])
    result = pairs.time_pairs(lambda: calls.append("a"), lambda: calls.append("b"), pairs=3, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert result.a_seconds == (1.0, 3.0, 4.0) and result.b_seconds == (2.0, 6.0, 8.0)
    assert result.ratios == (0.5, 0.5, 0.5) and result.median_ratio == 0.5


def test_pairs_rejects_zero_pairs():
    with pytest.raises(ValueError, match="pairs"):
        pairs.time_pairs(lambda: None, lambda: None, pairs=0)
