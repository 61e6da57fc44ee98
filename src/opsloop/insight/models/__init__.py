"""Customer models (churn warning 流失预警, propensity, high-potential lists 高潜名单).

Features are built set-wise in the warehouse, LightGBM learns, held-out metrics say
how good it is, and scores go back to the warehouse as ``model_scores``.
"""

from opsloop.insight.models.metrics import Metrics, evaluate, lift_at
from opsloop.insight.models.scores import high_potential, write_scores
from opsloop.insight.models.tasks import TASKS, TrainReport, train

# The store discovers tables through ``opsloop.<center>.models``: register segments' too.
from opsloop.insight.segments import tables as _segment_tables  # noqa: F401
from opsloop.insight.tags import tables as _tag_tables  # noqa: F401

__all__ = [
    "TASKS",
    "Metrics",
    "TrainReport",
    "evaluate",
    "high_potential",
    "lift_at",
    "train",
    "write_scores",
]
