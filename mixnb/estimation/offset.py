"""A mixed model with one fixed effect held at a value (moved into an offset).

Profiling a fixed effect minimises the deviance of the smaller model with ``x_j b_j`` as an
offset; the cross-products of ``[X y]`` are mapped instead of formed again.
"""

from __future__ import annotations

import numpy as np

from mixnb.estimation.deviance import ProfiledDeviance
from mixnb.estimation.pls import Absorbed, FixedCrossproducts, RandomEffectsSystem


class OffsetSystem(RandomEffectsSystem):
    """The random-effects system of ``[X y]`` seen through a column map ``[X y] T``.

    With ``T`` dropping column ``j`` of ``X`` and replacing ``y`` by ``y - b_j x_j`` this
    is the model with ``x_j b_j`` as an offset, without forming any cross-product again.
    """

    def __init__(self, base: RandomEffectsSystem, transform: np.ndarray) -> None:
        self.base = base
        self.layout = base.layout
        shift = getattr(base, "response_shift", None)
        if shift is not None:
            # the base absorbs [X, y - X b0] = [X y] T0; [X y] is [X, y - X b0] T0^-1
            undo = np.eye(len(shift) + 1)
            undo[: len(shift), -1] = shift
            transform = undo @ transform
        self.transform = transform

    def absorb(self, theta: np.ndarray) -> Absorbed:
        absorbed = self.base.absorb(theta)
        t = self.transform
        return Absorbed(logdet=absorbed.logdet, s=t.T @ absorbed.s @ t)


def offset_deviance(
    system: RandomEffectsSystem, crossproducts: np.ndarray, n: int, j: int, value: float
) -> ProfiledDeviance:
    """ML profiled deviance of the model with fixed effect ``j`` held at ``value``."""
    p = crossproducts.shape[0] - 1
    keep = [k for k in range(p) if k != j]
    t = np.zeros((p + 1, p))
    t[keep, np.arange(p - 1)] = 1.0
    t[p, p - 1] = 1.0
    t[j, p - 1] = -value
    c = t.T @ crossproducts @ t
    fixed = FixedCrossproducts(
        xtx=c[: p - 1, : p - 1], xty=c[: p - 1, p - 1], yty=float(c[p - 1, p - 1]), n=n, p=p - 1
    )
    return ProfiledDeviance(OffsetSystem(system, t), fixed, reml=False)
