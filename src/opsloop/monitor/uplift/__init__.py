"""Uplift modelling (whom to target next time) and its evaluation (Qini, AUUC)."""

from opsloop.monitor.uplift.metrics import Curve, coefficient, curve, perfect_curve, uplift_at_k
from opsloop.monitor.uplift.models import METHODS, UpliftModel

__all__ = [
    "METHODS",
    "Curve",
    "UpliftModel",
    "coefficient",
    "curve",
    "perfect_curve",
    "uplift_at_k",
]
