"""Pre-aggregated samples: the only input the statistics need.

SQL reduces millions of exposures to a handful of sums per arm (``n``, ``Σy``, ``Σy²``
and, for CUPED, ``Σx``, ``Σx²``, ``Σxy``); every test below works on these frozen
numbers, so it never touches the warehouse and costs microseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from opsloop.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class SampleMean:
    """A sample of a numeric metric summarised as ``n``, ``Σy`` and ``Σy²``."""

    n: int
    sum: float
    sum_squares: float

    def __post_init__(self) -> None:
        if self.n < 0:
            raise InvalidInputError(f"n must be >= 0, got {self.n}", where="n")

    @property
    def mean(self) -> float:
        """ȳ = Σy / n."""
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Unbiased s² = (Σy² − (Σy)²/n) / (n − 1), clipped at 0 against rounding."""
        if self.n < 2:
            return 0.0
        return max((self.sum_squares - self.sum * self.sum / self.n) / (self.n - 1), 0.0)

    @property
    def std(self) -> float:
        return math.sqrt(self.variance)


@dataclass(frozen=True, slots=True)
class Proportion:
    """A binary metric (converted or not) summarised as ``n`` and the count of successes."""

    n: int
    sum: float

    def __post_init__(self) -> None:
        if self.n < 0 or self.sum < 0 or self.sum > self.n:
            raise InvalidInputError(
                f"need 0 <= successes <= n, got {self.sum} of {self.n}", where="sum"
            )

    @property
    def mean(self) -> float:
        """p̂ = successes / n."""
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Bernoulli variance p̂(1 − p̂) (the maximum-likelihood form tests use)."""
        p = self.mean
        return p * (1.0 - p)


@dataclass(frozen=True, slots=True)
class Paired:
    """A metric ``y`` with its pre-period covariate ``x`` (for CUPED), as six sums."""

    n: int
    sum_y: float
    sum_squares_y: float
    sum_x: float
    sum_squares_x: float
    sum_xy: float

    @property
    def y(self) -> SampleMean:
        return SampleMean(self.n, self.sum_y, self.sum_squares_y)

    @property
    def x(self) -> SampleMean:
        return SampleMean(self.n, self.sum_x, self.sum_squares_x)

    @property
    def covariance(self) -> float:
        """Unbiased cov(x, y) = (Σxy − Σx·Σy/n) / (n − 1)."""
        if self.n < 2:
            return 0.0
        return (self.sum_xy - self.sum_x * self.sum_y / self.n) / (self.n - 1)


def sample_mean(values: npt.ArrayLike) -> SampleMean:
    """Aggregate raw values (any 1-d array-like) — for tests and small in-memory samples."""
    arr = np.asarray(values, dtype=np.float64)
    return SampleMean(int(arr.size), float(arr.sum()), float((arr * arr).sum()))


def paired(y: npt.ArrayLike, x: npt.ArrayLike) -> Paired:
    """Aggregate raw (y, x) pairs — for tests and small in-memory samples."""
    ya = np.asarray(y, dtype=np.float64)
    xa = np.asarray(x, dtype=np.float64)
    return Paired(
        int(ya.size),
        float(ya.sum()),
        float((ya * ya).sum()),
        float(xa.sum()),
        float((xa * xa).sum()),
        float((xa * ya).sum()),
    )
