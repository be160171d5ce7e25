"""Adaptive Gauss-Hermite quadrature (AGQ) for a GLMM's log-likelihood.

**One scalar random effect per group** (lme4's ``nAGQ``). Group ``j``'s likelihood is
``int prod_i p(y_ij | u) phi(u) du``. Centred at the conditional mode ``u_j`` and scaled by
``s_j = 1 / sqrt(h_j)``, ``h_j`` the diagonal of ``Lambda' Z' W Z Lambda + I`` there,
with Gauss-Hermite nodes ``t_k`` and weights ``v_k`` for the standard normal,

    log L_j = log s_j + log sum_k v_k exp(log p(y_j | u_j + s_j t_k)
                                           + log phi(u_j + s_j t_k) - log phi(t_k)).

One node (``t = 0``) is the Laplace approximation.

**Nested random intercepts** (``(1 | a/b)``, ``(1 | a/b/c)``; beyond lme4). The random
effects form a tree: each observation belongs to one leaf and to the leaf's ancestors.
``H = Lambda' Z' W Z Lambda + I`` at the joint mode has non-zeros only between a node
and its ancestors, so its Cholesky factor in leaves-first order has no fill, and the
change of variables ``x = x_hat + L^-T t`` makes each node depend on its own ``t`` and
its ancestors' ``x`` only (Pinheiro and Chao 2006):

    x_n = x_hat_n - sum_a (S_na / S_nn) (x_a - x_hat_a) + t_n / sqrt(S_nn),

``S`` being ``H`` after its descendants were eliminated. The integral becomes nested
sums on the tree, computed leaves first: each node's sum over its nodes ``t_n`` of the
sums of its children, for every combination of its ancestors' nodes. The cost per
observation is ``nagq ** depth`` evaluations.

Both functions return minus twice the log-likelihood on the deviance-residual scale
(without the saturated constant, :mod:`mixnb.estimation.laplace`).
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import logsumexp

from mixnb.estimation.pirls import Mode, Response

_LOG_2PI = float(np.log(2 * np.pi))


def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and log-weights of the ``n``-point rule for the standard normal density."""
    nodes, weights = hermegauss(n)
    return nodes, np.log(weights / np.sqrt(2 * np.pi))


def _log_phi(x: np.ndarray) -> np.ndarray:
    return -0.5 * (x**2 + _LOG_2PI)


def agq_deviance(resp: Response, structure, theta: np.ndarray, mode: Mode, nagq: int) -> float:
    """``-2 log L`` by ``nagq``-point AGQ for one scalar random effect per group."""
    nodes, log_w = gauss_hermite(nagq)
    codes, n_groups = structure.codes, structure.n_groups
    u_hat = mode.u[0]
    # h_j = 1 + theta^2 sum_i W_i z_i^2: the diagonal of the (1 x 1) blocks of H
    h = 1.0 + np.bincount(codes, mode.weights * mode.zl[:, 0] ** 2, n_groups)
    s = 1.0 / np.sqrt(h)
    fixed_eta = mode.eta - structure.linear(mode.zl, mode.u)
    terms = np.empty((len(nodes), n_groups))
    for k, t in enumerate(nodes):
        u = u_hat + s * t
        mu = resp.mean(fixed_eta + mode.zl[:, 0] * u[codes])
        half_dev = 0.5 * np.bincount(codes, resp.deviance_terms(mu), n_groups)
        terms[k] = log_w[k] - half_dev + _log_phi(u) - _log_phi(t)
    log_l = np.log(s) + logsumexp(terms, axis=0)
    return float(-2.0 * log_l.sum())


class NestedTree:
    """The tree of nested random intercepts: levels from the top (coarsest) down.

    ``parent[d]`` maps each node of level ``d`` to its node at level ``d - 1``; ``leaf``
    gives each observation's node at the deepest level. ``columns[d]`` is the index of
    level ``d``'s effects in the spherical ``u`` vector of a
    :class:`~mixnb.estimation.pirls.SparseRandom`, ``term[d]`` its theta entry.
    """

    def __init__(
        self, parent: list[np.ndarray], leaf: np.ndarray, columns: list[np.ndarray], term: list[int]
    ) -> None:
        self.parent = parent
        self.leaf = leaf
        self.columns = columns
        self.term = term
        self.depth = len(columns)
        # each observation's node at every level
        nodes = [leaf]
        for d in range(self.depth - 1, 0, -1):
            nodes.insert(0, parent[d][nodes[0]])
        self.obs_nodes = nodes

    @classmethod
    def detect(cls, structure) -> NestedTree | None:
        """The tree of a :class:`SparseRandom` whose terms are scalar and strictly nested;
        ``None`` otherwise."""
        blocks = getattr(structure, "blocks", None)
        if not blocks or any(b.n_columns != 1 for b in blocks):
            return None
        if not all(np.all(b.matrix[:, 0] == 1.0) for b in blocks):
            return None
        order = sorted(range(len(blocks)), key=lambda k: blocks[k].factor.n_levels)
        levels = [blocks[k].factor for k in order]
        parent: list[np.ndarray] = [np.zeros(0, dtype=np.intp)]
        for d in range(1, len(levels)):
            child, up = levels[d].codes, levels[d - 1].codes
            table = np.full(levels[d].n_levels, -1, dtype=np.intp)
            table[child] = up
            if np.any(table[child] != up) or np.any(table < 0):
                return None
            parent.append(table)
        columns = [structure.offsets[k] + np.arange(blocks[k].factor.n_levels) for k in order]
        return cls(parent, levels[-1].codes, columns, order)


def nested_agq_deviance(
    resp: Response, tree: NestedTree, theta: np.ndarray, mode: Mode, nagq: int
) -> float:
    """``-2 log L`` by nested ``nagq``-point AGQ on a tree of nested random intercepts.

    ``mode`` is the joint conditional mode (PIRLS over every level's ``u``).
    """
    nodes, log_w = gauss_hermite(nagq)
    depth, w_obs = tree.depth, mode.weights
    lam = [theta[k] for k in tree.term]
    x_hat = [mode.u[c] for c in tree.columns]
    n_nodes = [len(c) for c in tree.columns]
    s = tree_schur(tree, lam, w_obs)
    fixed_eta = mode.eta - mode.zl @ mode.u
    k = len(nodes)
    # deviation of every level's x from its mode, for each combination of nodes
    # (a grid of shape (k,) * (d + 1) per node of level d)
    obs_anc = tree.obs_nodes
    # per level d: delta[d] has shape (n_nodes[d],) + (k,) * (d + 1)
    delta: list[np.ndarray] = []
    for d in range(depth):
        ancestors = _ancestors(tree, d)
        grid = np.zeros((n_nodes[d],) + (k,) * (d + 1))
        for a in range(d):
            coef = -s[d][a] / s[d][d]
            shape = (n_nodes[d],) + (k,) * (a + 1) + (1,) * (d - a)
            grid = grid + (coef[:, None] * delta[a][ancestors[a]].reshape(n_nodes[d], -1)).reshape(
                shape
            )
        own = (1.0 / np.sqrt(s[d][d]))[:, None] * nodes[None, :]
        grid = grid + own.reshape((n_nodes[d],) + (1,) * d + (k,))
        delta.append(grid)
    # linear predictor of every observation on the full grid (k,) * depth
    eta = np.broadcast_to(fixed_eta.reshape((-1,) + (1,) * depth), (len(fixed_eta),) + (k,) * depth)
    eta = eta.copy()
    for d in range(depth):
        x = x_hat[d][obs_anc[d]].reshape((-1,) + (1,) * depth) + delta[d][obs_anc[d]].reshape(
            (-1,) + (k,) * (d + 1) + (1,) * (depth - d - 1)
        )
        eta += lam[d] * x
    mu = resp.mean(eta.reshape(len(fixed_eta), -1))
    dev = resp.weights[:, None] * resp.family.unit_deviance(resp.y[:, None], mu)
    # sum the observations into their leaves
    leaf_sum = np.zeros((n_nodes[-1], dev.shape[1]))
    np.add.at(leaf_sum, tree.leaf, dev)
    value = -0.5 * leaf_sum.reshape((n_nodes[-1],) + (k,) * depth)
    for d in range(depth - 1, -1, -1):
        x = x_hat[d].reshape((-1,) + (1,) * (d + 1)) + delta[d]
        t = nodes.reshape((1,) * (d + 1) + (k,))
        value = value + _log_phi(x) - _log_phi(t) + log_w.reshape((1,) * (d + 1) + (k,))
        value = logsumexp(value, axis=-1) - 0.5 * np.log(s[d][d]).reshape((-1,) + (1,) * d)
        if d > 0:
            parent = tree.parent[d]
            summed = np.zeros((n_nodes[d - 1],) + value.shape[1:])
            np.add.at(summed, parent, value)
            value = summed
    return float(-2.0 * value.sum())


def tree_schur(tree: NestedTree, lam: list[float], w: np.ndarray) -> list[list[np.ndarray]]:
    """``S[d][a]``: for each node of level ``d``, its entry of ``H = Lambda' Z' W Z Lambda +
    I`` with its ancestor at level ``a <= d``, after the nodes below it were eliminated
    (leaves first; no fill). ``S[d][d]`` are the pivots: ``L_nn^2`` of the Cholesky factor."""
    depth = tree.depth
    n_nodes = [len(c) for c in tree.columns]
    s = []
    for d in range(depth):
        rows = tree.obs_nodes[d]
        s.append([lam[d] * lam[a] * np.bincount(rows, w, n_nodes[d]) for a in range(d + 1)])
        s[d][d] = s[d][d] + 1.0
    for d in range(depth - 1, 0, -1):  # eliminate leaves first
        ancestors = _ancestors(tree, d)
        for a in range(d):
            for b in range(a + 1):
                update = s[d][a] * s[d][b] / s[d][d]
                # node of level d contributes to the entry (ancestor at a, ancestor at b)
                s[a][b] = s[a][b] - np.bincount(ancestors[a], update, n_nodes[a])
    return s


class TreeFactor:
    """The Cholesky factor of ``H`` for nested random intercepts, leaves first (no fill):
    ``solve``, ``logdet`` and the selected inverse (``H^-1`` between each node and its
    ancestors, Takahashi's recursion top-down), all in O(nodes x depth^2)."""

    def __init__(self, tree: NestedTree, lam: list[float], w: np.ndarray, n_random: int) -> None:
        self.tree, self.lam, self.n = tree, lam, n_random
        self.s = tree_schur(tree, lam, w)
        self.anc = [_ancestors(tree, d) for d in range(tree.depth)]
        self.root = [np.sqrt(self.s[d][d]) for d in range(tree.depth)]
        self._z = None

    def logdet(self) -> float:
        return float(sum(np.log(self.s[d][d]).sum() for d in range(self.tree.depth)))

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        rhs = np.asarray(rhs, dtype=float)
        flat = rhs.ndim == 1
        b = rhs[:, None] if flat else rhs
        depth, cols = self.tree.depth, self.tree.columns
        r = [b[c].copy() for c in cols]
        y = [None] * depth
        for d in range(depth - 1, -1, -1):  # L y = r, leaves first
            y[d] = r[d] / self.root[d][:, None]
            for a in range(d):
                np.add.at(r[a], self.anc[d][a], -(self.s[d][a] / self.root[d])[:, None] * y[d])
        x = [None] * depth
        for d in range(depth):  # L' x = y, top first
            acc = y[d].copy()
            for a in range(d):
                acc -= (self.s[d][a] / self.root[d])[:, None] * x[a][self.anc[d][a]]
            x[d] = acc / self.root[d][:, None]
        out = np.empty_like(b)
        for d in range(depth):
            out[cols[d]] = x[d]
        return out[:, 0] if flat else out

    def selected_inverse(self) -> list[list[np.ndarray]]:
        """``Z[d][a]``: ``(H^-1)`` between each node of level ``d`` and its ancestor at level
        ``a <= d``."""
        if self._z is None:
            depth = self.tree.depth
            z: list[list[np.ndarray]] = []
            for d in range(depth):
                ell = [self.s[d][b] / self.s[d][d] for b in range(d)]  # L_bn / L_nn
                row: list[np.ndarray] = [None] * (d + 1)

                def between(a, b, d=d):  # Z between the node's ancestors at levels a and b
                    hi, lo = max(a, b), min(a, b)
                    return z[hi][lo][self.anc[d][hi]] if hi < d else None

                for a in range(d):
                    row[a] = -sum(ell[b] * between(b, a) for b in range(d))
                row[d] = 1.0 / self.s[d][d] - sum(ell[b] * row[b] for b in range(d))
                z.append(row)
            self._z = z
        return self._z


def _ancestors(tree: NestedTree, d: int) -> list[np.ndarray]:
    """For the nodes of level ``d``, their ancestor at each level ``a < d``."""
    out = [None] * d
    current = np.arange(len(tree.columns[d]))
    for a in range(d - 1, -1, -1):
        current = tree.parent[a + 1][current]
        out[a] = current
    return out
