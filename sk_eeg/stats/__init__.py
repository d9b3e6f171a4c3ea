"""Mass-univariate mixed models with cluster-based permutation correction."""

from ._estimator import ClusterLMETest

__all__ = ["ClusterLMETest"]
