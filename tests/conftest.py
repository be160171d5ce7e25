"""Shared fixtures: the committed lme4 reference values and the fits they describe."""

from __future__ import annotations

import json
import re
import warnings
from functools import cache
from pathlib import Path

import pytest

import mixnb

REFERENCE = Path(__file__).parent / "reference" / "lme4_reference.json"


@cache
def reference() -> dict:
    return json.loads(REFERENCE.read_text())


def python_term(r_name: str) -> str:
    """R's coefficient name as formulaic spells it: recipeB -> recipe[T.B], dayN -> day[T.N]."""
    if r_name == "(Intercept)":
        return "Intercept"
    parts = []
    for part in r_name.split(":"):
        match = re.fullmatch(r"(recipe|day)([A-Z])", part)
        parts.append(f"{match.group(1)}[T.{match.group(2)}]" if match else part)
    return ":".join(parts)


@cache
def fitted(key: str, iterative: bool = False) -> mixnb.LmmResult:
    """The mixnb fit of reference fit ``key`` (e.g. ``sleepstudy_rs_reml``), fitted once.

    ``iterative=True`` refits by IGLS (ML fits) or RIGLS (REML fits) instead of PLS.
    """
    spec = reference()["fits"][key]
    data = mixnb.load_dataset(spec["dataset"])
    method = ("RIGLS" if spec["reml"] else "IGLS") if iterative else "PLS"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixnb.SingularFitWarning)
        return mixnb.lmm(spec["formula"], data, reml=spec["reml"], method=method)


@pytest.fixture(scope="session")
def sleep():
    """sleepstudy, shared: a test that changes data works on ``sleep.copy()``."""
    return mixnb.load_dataset("sleepstudy")


@pytest.fixture(scope="session")
def slopes() -> mixnb.LmmResult:
    """sleepstudy's correlated random-slope REML fit, shared (results are not modified)."""
    return mixnb.lmm("Reaction ~ Days + (Days | Subject)", mixnb.load_dataset("sleepstudy"))


@pytest.fixture(params=sorted(reference()["fits"]))
def fit_key(request) -> str:
    return request.param
