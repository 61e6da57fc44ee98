"""Experiment statistics as pure functions over pre-aggregated arms (gbstats style)."""

from opsloop.monitor.stats.aggregates import Paired, Proportion, SampleMean
from opsloop.monitor.stats.bayesian import BayesianResult, beta_binomial, gaussian
from opsloop.monitor.stats.cuped import cuped_adjust, cuped_arms, cuped_theta
from opsloop.monitor.stats.frequentist import mean_interval, two_proportion_ztest, welch_ttest
from opsloop.monitor.stats.results import Comparison, Estimate
from opsloop.monitor.stats.sequential import SequentialResult, sequential
from opsloop.monitor.stats.srm import SrmResult, srm_check

__all__ = [
    "BayesianResult",
    "Comparison",
    "Estimate",
    "Paired",
    "Proportion",
    "SampleMean",
    "SequentialResult",
    "SrmResult",
    "beta_binomial",
    "cuped_adjust",
    "cuped_arms",
    "cuped_theta",
    "gaussian",
    "mean_interval",
    "sequential",
    "srm_check",
    "two_proportion_ztest",
    "welch_ttest",
]
