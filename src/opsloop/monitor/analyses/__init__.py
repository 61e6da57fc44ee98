"""Analysis models of the monitoring center (event, funnel, retention, distribution, path,
attribution, interval, LTV, KPIs): validated documents compiled to one Ibis expression."""

from opsloop.monitor.analyses.model import AnalysisDocument
from opsloop.monitor.analyses.service import run_analysis, shape, validate_analysis

__all__ = ["AnalysisDocument", "run_analysis", "shape", "validate_analysis"]
