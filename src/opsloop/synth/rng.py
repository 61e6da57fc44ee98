"""Random streams keyed by (seed, purpose, chunk): results never depend on scheduling.

Every chunk of customers draws from its own generator, derived from the seed, the
table or purpose it is drawing for, and the chunk's index. Two processes, or one,
or chunks run in any order, produce the same bytes.
"""

from __future__ import annotations

import zlib

import numpy as np


def rng(seed: int, purpose: str, chunk: int = 0) -> np.random.Generator:
    """The generator for ``purpose`` (e.g. ``"customers"``) in chunk ``chunk``."""
    key = zlib.crc32(purpose.encode())
    return np.random.default_rng(np.random.SeedSequence([seed, key, chunk]))
