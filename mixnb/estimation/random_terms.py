"""Random terms: the one home of ``Z``, its levels, ``Z b`` and per-level cross-products.

A :class:`RandomTerm` is one grouping factor with its model columns: each row belongs to
one level (``codes``) and carries the term's ``q`` column values (``matrix``). Its part of
``Z`` is ``n x (levels * q)``, level by level and within a level column by column (lme4's
order), with row ``i``'s values in the columns of its level. Nothing ever needs ``Z``
dense: the term gives ``Z b``, ``Z' M`` and ``Z'Z`` per level, and ``Z`` as a sparse
matrix for the systems that want one.

:func:`random_terms` gives one term per formula term (the order of the design and of
theta); :func:`by_factor` merges the terms that share a grouping factor into one
(``(1 | g) + (0 + x | g)`` is one factor with two columns and a
:class:`~mixnb.estimation.structures.BlockDiagonal` or
:class:`~mixnb.estimation.structures.Diagonal` structure), as the blocked system and the
conditional covariances want them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from mixnb.design import Design
from mixnb.estimation.structures import CovarianceStructure, Unstructured, combine


@dataclass(eq=False)
class RandomTerm:
    """One grouping factor's random effects.

    Attributes
    ----------
    name
        The grouping factor's name (``cask:batch``).
    codes
        Each row's level, ``0 .. n_levels - 1``.
    n_levels
        Number of levels.
    matrix
        ``n x q``: the term's model columns.
    columns
        Their names.
    structure
        Which entries of the term's ``q x q`` factor are parameters.
    theta_index
        Where the structure's parameters sit in the model's theta vector.
    terms
        The formula terms (indices into ``design.random``) this term is made of.
    """

    name: str
    codes: np.ndarray
    n_levels: int
    matrix: np.ndarray
    columns: list[str]
    structure: CovarianceStructure
    theta_index: np.ndarray
    terms: tuple[int, ...]

    @property
    def q(self) -> int:
        """Columns per level."""
        return self.matrix.shape[1]

    @property
    def n_random(self) -> int:
        """Columns of this term's part of ``Z``."""
        return self.n_levels * self.q

    @property
    def nobs(self) -> int:
        return len(self.codes)

    def factor(self, theta: np.ndarray) -> np.ndarray:
        """The term's ``q x q`` relative covariance factor ``Lambda`` at the model's theta."""
        return self.structure.factor(np.asarray(theta, dtype=float)[self.theta_index])

    def column_index(self) -> np.ndarray:
        """``(n, q)``: the column of ``Z`` (within this term) each row's value sits in."""
        return self.codes[:, None] * self.q + np.arange(self.q)

    @cached_property
    def z(self) -> sp.csc_matrix:
        """This term's part of ``Z`` as a sparse ``n x (levels q)`` matrix."""
        n = self.nobs
        rows = np.repeat(np.arange(n), self.q)
        return sp.csc_matrix(
            (self.matrix.ravel(), (rows, self.column_index().ravel())),
            shape=(n, self.n_random),
        )

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """``Z[rows, :]`` of this term as a dense ``len(rows) x (levels q)`` array."""
        rows = np.asarray(rows, dtype=np.intp)
        out = np.zeros((len(rows), self.n_random))
        out[np.arange(len(rows))[:, None], self.column_index()[rows]] = self.matrix[rows]
        return out

    def times(self, b: np.ndarray) -> np.ndarray:
        """``Z b`` for effects ``b`` of shape ``(levels, q)``: one value per row."""
        return np.einsum("ij,ij->i", self.matrix, np.asarray(b)[self.codes])

    def gram(self) -> np.ndarray:
        """``Z_l'Z_l`` for every level ``l``, stacked: ``(q, q, levels)``."""
        q, out = self.q, np.empty((self.q, self.q, self.n_levels))
        for i in range(q):
            for j in range(i + 1):
                sums = np.bincount(
                    self.codes,
                    weights=self.matrix[:, i] * self.matrix[:, j],
                    minlength=self.n_levels,
                )
                out[i, j] = out[j, i] = sums
        return out

    def crossproducts(self, m: np.ndarray) -> np.ndarray:
        """``Z_l' M_l`` for every level ``l`` and an ``n x c`` matrix ``M``: ``(q, c, levels)``."""
        m = np.asarray(m, dtype=float).reshape(self.nobs, -1)
        out = np.empty((self.q, m.shape[1], self.n_levels))
        for i in range(self.q):
            for c in range(m.shape[1]):
                out[i, c] = np.bincount(
                    self.codes, weights=self.matrix[:, i] * m[:, c], minlength=self.n_levels
                )
        return out


def random_terms(design: Design) -> list[RandomTerm]:
    """One :class:`RandomTerm` per formula term, in the design's (and theta's) order."""
    out, start = [], 0
    for k, block in enumerate(design.random):
        structure = Unstructured(block.n_columns)
        out.append(
            RandomTerm(
                name=block.factor.name,
                codes=np.asarray(block.factor.codes, dtype=np.intp),
                n_levels=block.factor.n_levels,
                matrix=np.asarray(block.matrix, dtype=float),
                columns=list(block.columns),
                structure=structure,
                theta_index=np.arange(start, start + structure.n_theta),
                terms=(k,),
            )
        )
        start += structure.n_theta
    return out


def by_factor(terms: list[RandomTerm]) -> list[RandomTerm]:
    """The terms that share a grouping factor merged into one (first appearance order)."""
    groups: dict[str, list[RandomTerm]] = {}
    for term in terms:
        groups.setdefault(term.name, []).append(term)
    out = []
    for name, parts in groups.items():
        if len(parts) == 1:
            out.append(parts[0])
            continue
        out.append(
            RandomTerm(
                name=name,
                codes=parts[0].codes,
                n_levels=parts[0].n_levels,
                matrix=np.column_stack([p.matrix for p in parts]),
                columns=[c for p in parts for c in p.columns],
                structure=combine([p.structure for p in parts]),
                theta_index=np.concatenate([p.theta_index for p in parts]),
                terms=tuple(k for p in parts for k in p.terms),
            )
        )
    return out


def random_design_matrix(terms: list[RandomTerm]) -> sp.csc_matrix:
    """``Z`` of all terms side by side (term by term, lme4's order), sparse."""
    return sp.hstack([t.z for t in terms], format="csc")


def random_design_rows(terms: list[RandomTerm], rows: np.ndarray) -> np.ndarray:
    """``Z[rows, :]`` of all terms as a dense ``len(rows) x q`` array."""
    return np.hstack([t.rows(rows) for t in terms])


def marginal_covariance(
    terms: list[RandomTerm], covariances: list[np.ndarray], sigma2: float, rows: np.ndarray
) -> np.ndarray:
    """``V = Z Omega Z' + sigma^2 I`` restricted to ``rows`` (positions in the model rows).

    Each row belongs to one level per term, so term ``k`` adds ``z_a' Sigma_k z_b`` to the
    entry of rows ``a`` and ``b`` when they share that term's level, and nothing otherwise.
    """
    rows = np.asarray(rows, dtype=np.intp)
    v = sigma2 * np.eye(len(rows))
    for term, cov in zip(terms, covariances):
        z = term.matrix[rows]
        codes = term.codes[rows]
        same = codes[:, None] == codes[None, :]
        v += np.where(same, z @ cov @ z.T, 0.0)
    return v
