"""Progress bars for long computations (bootstrap replicates, MCMC iterations).

One place decides whether a bar shows and builds it, so that every long loop in
:mod:`mixnb.estimation` behaves the same way: ``progress=None`` shows a bar only when the
work is long enough to wait for, ``True`` or ``False`` force it on or off, and the bar
(tqdm's ``tqdm.auto``: a widget in Jupyter, text in a terminal) disappears when done.
"""

from __future__ import annotations

from typing import Any


def progress_bar(total: int, progress: bool | None, description: str, threshold: int) -> Any:
    """A tqdm bar over ``total`` steps, or ``None`` when none should show.

    Parameters
    ----------
    total
        The number of steps the loop will make.
    progress
        ``True`` or ``False`` to show the bar or not; ``None`` to show it from
        ``threshold`` steps on.
    description
        The bar's label.
    threshold
        The smallest ``total`` for which ``progress=None`` shows a bar.

    Returns
    -------
    tqdm.auto.tqdm or None
        Call ``update(n)`` as steps finish and ``close()`` at the end (also on errors).

    Examples
    --------
    >>> progress_bar(10, None, "work", threshold=100) is None
    True
    """
    show = total >= threshold if progress is None else bool(progress)
    if not show:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, desc=description, leave=False)
