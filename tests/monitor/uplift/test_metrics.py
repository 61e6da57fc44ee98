"""Qini / uplift curves and their areas against a brute-force, threshold-by-threshold oracle."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsloop.errors import InvalidInputError
from opsloop.monitor.uplift import coefficient, curve, perfect_curve, uplift_at_k


def brute_curve(
    y: list[float], t: list[int], s: list[float], kind: str
) -> list[tuple[float, float]]:
    """For every distinct score (high to low): everyone scoring at least it is targeted."""
    pts = [(0.0, 0.0)]
    for thr in sorted(set(s), reverse=True):
        top = [i for i in range(len(s)) if s[i] >= thr]
        nt = sum(1 for i in top if t[i] == 1)
        nc = len(top) - nt
        yt = sum(y[i] for i in top if t[i] == 1)
        yc = sum(y[i] for i in top if t[i] == 0)
        if kind == "qini":
            g = yt - (yc * nt / nc if nc else 0.0)
        else:
            g = ((yt / nt if nt else 0.0) - (yc / nc if nc else 0.0)) * len(top)
        pts.append((float(len(top)), g))
    return pts


def trapezoid(pts: list[tuple[float, float]]) -> float:
    return sum((x1 - x0) * (g0 + g1) / 2 for (x0, g0), (x1, g1) in itertools.pairwise(pts))


def brute_coefficient(y: list[float], t: list[int], s: list[float], kind: str) -> float:
    if kind == "qini":
        best = [y[i] if t[i] else -y[i] for i in range(len(y))]
    else:
        cr = sum(1 for i in range(len(y)) if y[i] and not t[i])
        tn = sum(1 for i in range(len(y)) if not y[i] and t[i])
        best = [
            2.0 * ((y[i] > 0) == (t[i] == 1)) + (y[i] if cr > tn else t[i]) for i in range(len(y))
        ]
    perfect = brute_curve(y, t, best, kind)
    base = perfect[-1][0] * perfect[-1][1] / 2
    denom = trapezoid(perfect) - base
    return float("nan") if denom == 0 else (trapezoid(brute_curve(y, t, s, kind)) - base) / denom


rows = st.lists(
    st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 6)), min_size=4, max_size=60
).filter(lambda r: 0 < sum(x[1] for x in r) < len(r))


@settings(max_examples=150, deadline=None)
@given(rows, st.sampled_from(["qini", "uplift"]))
def test_curve_and_coefficient_match_brute_force(r: list[tuple[int, int, int]], kind: str) -> None:
    y = [float(a) for a, _, _ in r]
    t = [b for _, b, _ in r]
    s = [c / 2.0 for _, _, c in r]  # few distinct values: many ties
    got = curve(y, t, s, kind=kind)  # type: ignore[arg-type]
    want = brute_curve(y, t, s, kind)
    assert np.allclose(got.x, [p[0] for p in want])
    assert np.allclose(got.y, [p[1] for p in want])
    assert got.area() == pytest.approx(trapezoid(want), abs=1e-9)
    want_c = brute_coefficient(y, t, s, kind)
    got_c = coefficient(y, t, s, kind=kind)  # type: ignore[arg-type]
    if np.isnan(got_c):
        assert np.isnan(want_c)
    else:
        assert got_c == pytest.approx(want_c, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(rows, st.floats(0.1, 0.9))
def test_uplift_at_k_matches_brute_force(r: list[tuple[int, int, int]], k: float) -> None:
    y = np.array([a for a, _, _ in r], dtype=float)
    t = np.array([b for _, b, _ in r])
    s = np.array([float(c) for _, _, c in r])
    # brute force: rank by score, ties later row first; take the first int(n*k)
    ranked = sorted(range(len(y)), key=lambda i: (-s[i], -i))[: int(len(y) * k)]
    yt = [y[i] for i in ranked if t[i] == 1]
    yc = [y[i] for i in ranked if t[i] == 0]
    got = uplift_at_k(y, t, s, k=k)
    if not yt or not yc:
        assert np.isnan(got)
    else:
        assert got == pytest.approx(sum(yt) / len(yt) - sum(yc) / len(yc), abs=1e-12)


def test_perfect_ranking_scores_one_and_reversed_ranking_scores_below_random() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400).astype(float)
    t = rng.integers(0, 2, 400)
    best = y * t - y * (1 - t)
    assert coefficient(y, t, best) == pytest.approx(1.0)
    assert coefficient(y, t, -best) < 0
    assert perfect_curve(y, t).area() >= curve(y, t, rng.random(400)).area()


def test_constant_score_is_the_random_line() -> None:
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=float)
    t = np.array([1, 1, 1, 0, 0, 0, 1, 0])
    c = curve(y, t, np.zeros(8))
    assert list(c.x) == [0.0, 8.0]
    assert c.area() == pytest.approx(c.random_area())
    assert coefficient(y, t, np.zeros(8)) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("y", "t", "s", "where"),
    [
        ([1, 0], [1, 2], [0.1, 0.2], "t"),
        ([1, 0], [1, 1], [0.1, 0.2], "t"),
        ([1, 0], [1, 0], [0.1], "score"),
        ([1, float("nan")], [1, 0], [0.1, 0.2], "y"),
    ],
)
def test_bad_input_names_the_argument(
    y: list[float], t: list[int], s: list[float], where: str
) -> None:
    with pytest.raises(InvalidInputError) as err:
        curve(y, t, s)
    assert err.value.where == where
