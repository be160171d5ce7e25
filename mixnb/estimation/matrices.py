"""The matrix form of a mixed model, ``y = X b + Z u + e``, for a few chosen rows.

The seed's "matrix form" slide writes ``var(y) = V = Z Omega Z' + W`` with ``Omega = var(u)``
block diagonal and ``W = sigma^2 I``. These helpers build ``Z``, ``Omega`` and ``V`` restricted
to the rows and random-effect columns a display shows, so that a data set with thousands of
rows never forms an ``n x n`` matrix.

Columns of ``Z`` follow lme4's order: term by term, and within a term level by level, each
level contributing the term's columns. ``Z`` and ``V`` themselves come from
:mod:`mixnb.estimation.random_terms`, the one place they are built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixnb.design import Design
from mixnb.estimation.random_terms import marginal_covariance as terms_marginal_covariance
from mixnb.estimation.random_terms import random_design_rows, random_terms


@dataclass(frozen=True)
class RandomColumn:
    """One column of ``Z``: which term, grouping factor, level and term column it belongs to."""

    term: int
    factor: str
    level: object
    name: str


def random_columns(design: Design) -> list[RandomColumn]:
    """Every column of ``Z`` in lme4's order."""
    out = []
    for k, block in enumerate(design.random):
        for level in block.factor.levels:
            out.extend(RandomColumn(k, block.factor.name, level, c) for c in block.columns)
    return out


def random_effects_rows(design: Design, rows: np.ndarray) -> np.ndarray:
    """``Z[rows, :]`` as a dense ``len(rows) x q`` array."""
    return random_design_rows(random_terms(design), rows)


def random_effects_covariance(
    design: Design, covariances: list[np.ndarray], columns: np.ndarray
) -> np.ndarray:
    """``Omega[columns][:, columns]``: the covariance of the chosen random effects."""
    info = random_columns(design)
    chosen = [info[i] for i in np.asarray(columns, dtype=np.intp)]
    position = {
        (k, name): j
        for k, block in enumerate(design.random)
        for j, name in enumerate(block.columns)
    }
    out = np.zeros((len(chosen), len(chosen)))
    for a, ca in enumerate(chosen):
        for b, cb in enumerate(chosen):
            if ca.term == cb.term and ca.level == cb.level:
                cov = covariances[ca.term]
                out[a, b] = cov[position[(ca.term, ca.name)], position[(cb.term, cb.name)]]
    return out


def marginal_covariance(
    design: Design, covariances: list[np.ndarray], sigma2: float, rows: np.ndarray
) -> np.ndarray:
    """``V = Z Omega Z' + sigma^2 I`` restricted to ``rows`` (positions in the model rows);
    see :func:`mixnb.estimation.random_terms.marginal_covariance`."""
    return terms_marginal_covariance(random_terms(design), covariances, sigma2, rows)
