"""Keep charts of big fits small: draw a sample of rows or of groups, and say so.

A chart is for looking. A million points draw as one blot, take minutes to render and
exceed altair's limit of 5000 rows per data set (``MaxRowsError``). So every chart draws
at most :data:`MAX_ROWS` rows of a data set and at most a few dozen groups, chosen
reproducibly (a fixed seed, or evenly spaced in a sorted order), and its subtitle says
what was drawn: "a random sample of 4,000 of 1,000,000 rows".
"""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd

#: Most rows a chart draws from one data set (altair refuses more than 5000).
MAX_ROWS = 4000
#: Most groups drawn as rows of a chart (caterpillar, shrinkage).
MAX_GROUPS = 60
#: Most groups drawn as separate lines or panels (spaghetti): more are a tangle.
MAX_LINES = 30
#: The seed of every sample, so the same fit always gives the same picture.
SEED = 20240601


def _count(n: int) -> str:
    return f"{n:,}"


def sample_rows(
    data: pd.DataFrame, limit: int = MAX_ROWS, what: str = "rows"
) -> tuple[pd.DataFrame, str | None]:
    """At most ``limit`` rows of ``data`` (a seeded random sample, in their order) and a note.

    The note is None when nothing was left out.
    """
    if len(data) <= limit:
        return data, None
    rng = np.random.default_rng(SEED)
    keep = np.sort(rng.choice(len(data), size=limit, replace=False))
    note = f"showing a random sample of {_count(limit)} of {_count(len(data))} {what}"
    return data.iloc[keep].reset_index(drop=True), note


def sample_groups(
    levels: list[str], limit: int = MAX_GROUPS, *, spread: bool = False
) -> tuple[list[str], str | None]:
    """At most ``limit`` of the group labels ``levels`` (kept in their order) and a note.

    With ``spread`` the groups are evenly spaced along ``levels`` (sorted by the caller, so
    the first and the last are always shown); otherwise a seeded random sample.
    """
    if len(levels) <= limit:
        return list(levels), None
    if spread:
        keep = np.unique(np.round(np.linspace(0, len(levels) - 1, limit)).astype(int))
        how = "evenly spaced in the sorted order"
    else:
        rng = np.random.default_rng(SEED)
        keep = np.sort(rng.choice(len(levels), size=limit, replace=False))
        how = "a random sample"
    note = f"showing {_count(len(keep))} of {_count(len(levels))} groups ({how})"
    return [levels[i] for i in keep], note


def add_notes(title: alt.Title, notes: list[str | None]) -> alt.Title:
    """``title`` with the notes (those not None) appended to its subtitle lines."""
    extra = [n for n in notes if n]
    if not extra:
        return title
    subtitle: Any = title.subtitle
    lines = (
        []
        if subtitle is alt.Undefined
        else (list(subtitle) if isinstance(subtitle, list) else [subtitle])
    )
    return alt.Title(title.text, subtitle=lines + extra)
