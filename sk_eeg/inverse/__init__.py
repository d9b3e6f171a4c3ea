"""Sparse source imaging through an MNE forward model (MxNE, irMxNE, Lasso, MNE)."""

from ._estimator import SparseSourceLocalizer

__all__ = ["SparseSourceLocalizer"]
