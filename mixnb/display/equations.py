"""A fitted model written as equations, and its matrices, as the seed's slides show them.

``fit.equation()`` gives the two forms of the seed's "mixed model" slide:

* hierarchical: a level-1 equation whose coefficients vary by group, and level-2 equations
  saying how (``b0j = b0 + u0j``);
* combined (fixed/random): ``y_ij = (b0 + b1 x_ij) + (u0j + u1j x_ij + e_ij)``;

each with the distributional assumptions, with symbols or with the estimates substituted.
``fit.matrices()`` shows ``X``, ``Z``, ``Omega``, ``W`` and ``V = Z Omega Z' + W`` for a few
rows (the "matrix form" slide). Both return objects that notebooks render with MathJax.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import singledispatch
from typing import Any

import numpy as np

from mixnb.errors import MixnbError
from mixnb.results.least_squares import OlsResult
from mixnb.results.mixed import LmmResult

FORMS = ("hierarchical", "combined")
_GROUP_INDEX = "jklmnpqrs"
_EFFECT_LETTER = "uvwabcdfg"

# --------------------------------------------------------------------------- rendering objects


@dataclass(frozen=True)
class Equation:
    """Equations in LaTeX, shown by notebooks (``_repr_markdown_``, ``_repr_latex_``).

    Attributes
    ----------
    lines : list of str
        LaTeX rows of an ``aligned`` environment.
    legend : list of str
        Markdown sentences (with ``$...$`` math) saying what the indices and symbols mean.
    """

    lines: list[str]
    legend: list[str] = field(default_factory=list)

    @property
    def latex(self) -> str:
        """The equations as one LaTeX ``aligned`` block (without ``$$``)."""
        return "\\begin{aligned}\n" + " \\\\\n".join(self.lines) + "\n\\end{aligned}"

    def _repr_latex_(self) -> str:
        return f"$$\n{self.latex}\n$$"

    def _repr_markdown_(self) -> str:
        legend = "".join(f"\n- {item}" for item in self.legend)
        return f"$$\n{self.latex}\n$$\n{legend}\n"

    def __str__(self) -> str:
        return self.latex

    def __repr__(self) -> str:
        return self.latex


@dataclass(frozen=True)
class Matrices:
    """Named matrices in LaTeX, each with a caption (``fit.matrices()``)."""

    blocks: list[tuple[str, str]]
    caption: str = ""

    @property
    def latex(self) -> str:
        """All matrices, one ``$$ ... $$`` display each."""
        return "\n\n".join(f"$$\n{body}\n$$" for _, body in self.blocks)

    def _repr_latex_(self) -> str:
        return self.latex

    def _repr_markdown_(self) -> str:
        parts = [self.caption] if self.caption else []
        for text, body in self.blocks:
            parts += [text, f"$$\n{body}\n$$"] if text else [f"$$\n{body}\n$$"]
        return "\n\n".join(parts) + "\n"

    def __repr__(self) -> str:
        return self.latex


# --------------------------------------------------------------------------- pieces

_MATH_SPECIAL = str.maketrans(
    {
        "\\": r"\backslash ",
        "{": r"\{",
        "}": r"\}",
        "_": r"\_",
        "#": r"\#",
        "%": r"\%",
        "&": r"\&",
        "$": r"\$",
        "^": r"\hat{}",
        "~": r"\sim ",
        " ": r"\ ",
        ":": "{:}",  # an ordinary symbol, not a relation with spaces around it
        # MathJax's names, so that no raw "<" or ">" reaches a notebook's HTML
        "<": r"\lt ",
        ">": r"\gt ",
    }
)


def latex_name(name: str) -> str:
    """A column name as upright math text: ``Days`` -> ``\\mathrm{Days}``.

    Examples
    --------
    >>> latex_name("log_dose")
    '\\\\mathrm{log\\\\_dose}'
    """
    return r"\mathrm{" + str(name).translate(_MATH_SPECIAL) + "}"


def latex_number(x: float, digits: int = 4) -> str:
    """``x`` to ``digits`` significant digits, exponents as ``\\times 10^{k}``.

    Examples
    --------
    >>> latex_number(251.40510), latex_number(-0.0000123)
    ('251.4', '-1.23 \\\\times 10^{-5}')
    """
    if not math.isfinite(x):
        return r"\mathrm{NA}"
    text = f"{x:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa} \\times 10^{{{int(exponent)}}}"
    return text


def _sub(*parts: str) -> str:
    """A subscript from index pieces, with commas when a piece has more than one character."""
    parts = tuple(p for p in parts if p)
    joiner = "," if any(len(p) > 1 for p in parts) else ""
    return "_{" + joiner.join(parts) + "}"


def _join(terms: list[tuple[float | None, str]]) -> str:
    """Sum of ``(coefficient, rest)`` terms; a numeric coefficient brings its own sign."""
    out = ""
    for coefficient, rest in terms:
        if coefficient is None:
            piece, negative = rest, False
        else:
            negative = coefficient < 0
            number = latex_number(abs(coefficient))
            piece = f"{number}\\,{rest}" if rest else number
        if not out:
            out = ("-" if negative else "") + piece
        else:
            out += (" - " if negative else " + ") + piece
    return out or "0"


@dataclass(frozen=True)
class _Coefficient:
    """One column of the model: its index, name, fixed estimate and where it varies."""

    index: str
    name: str
    fixed: float | None  # None: symbol-only when not estimated; nan: no fixed part
    in_fixed: bool
    factors: tuple[int, ...]


def _columns_of(result: LmmResult) -> tuple[list[_Coefficient], list[str]]:
    design = result.design
    fixed = list(design.fixed.columns)
    estimates = dict(zip(fixed, result.fixed_effects["estimate"], strict=True))
    factor_names = list(dict.fromkeys(b.factor.name for b in design.random))
    varies: dict[str, set[int]] = {}
    for block in design.random:
        for column in block.columns:
            varies.setdefault(column, set()).add(factor_names.index(block.factor.name))
    names = fixed + [c for c in varies if c not in fixed]
    start = 0 if "Intercept" in names else 1
    ordered = ["Intercept"] if "Intercept" in names else []
    ordered += [n for n in names if n != "Intercept"]
    coefficients = [
        _Coefficient(
            index=str(start + k),
            name=name,
            fixed=estimates.get(name),
            in_fixed=name in estimates,
            factors=tuple(sorted(varies.get(name, ()))),
        )
        for k, name in enumerate(ordered)
    ]
    return coefficients, factor_names


def _x(name: str, obs: str) -> str:
    return "" if name == "Intercept" else latex_name(name) + _sub(obs)


# --------------------------------------------------------------------------- mixed models


def lmm_equation(
    result: LmmResult, form: str = "hierarchical", estimates: bool = False
) -> Equation:
    """The mixed model as equations (see :meth:`mixnb.LmmResult.equation`).

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", mixnb.load_dataset("sleepstudy"))
    >>> print(lmm_equation(fit).lines[1])
    &\\text{Level 2:} && \\beta_{0j} = \\beta_{0} + u_{0j}
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(map(repr, FORMS))}, not {form!r}.")
    design = result.design
    coefficients, factor_names = _columns_of(result)
    single = len(factor_names) == 1
    group = [_GROUP_INDEX[f] for f in range(len(factor_names))]
    letter = ["u"] if single else [_EFFECT_LETTER[f] for f in range(len(factor_names))]
    obs = "ij" if single else "i"
    y = latex_name(design.response_name) + _sub(obs)

    def beta(c: _Coefficient, varying: bool) -> str:
        subs = [c.index] + ([group[f] for f in c.factors] if varying else [])
        return r"\beta" + _sub(*subs)

    def effect(c: _Coefficient, f: int) -> str:
        return letter[f] + _sub(c.index, group[f])

    lines: list[str] = []
    if form == "hierarchical":
        level1 = []
        for c in coefficients:
            x = _x(c.name, obs)
            if c.factors:
                level1.append((None, beta(c, True) + (r"\," + x if x else "")))
            elif estimates:
                level1.append((c.fixed, x))
            else:
                level1.append((None, beta(c, False) + (r"\," + x if x else "")))
        level1.append((None, "e" + _sub(obs)))
        lines.append(f"&\\text{{Level 1:}} && {y} = {_join(level1)}")
        first = True
        for c in coefficients:
            if not c.factors:
                continue
            rhs = []
            if c.in_fixed:
                rhs.append((c.fixed, "") if estimates else (None, beta(c, False)))
            rhs += [(None, effect(c, f)) for f in c.factors]
            label = "\\text{Level 2:}" if first else ""
            lines.append(f"&{label} && {beta(c, True)} = {_join(rhs)}")
            first = False
    else:
        fixed_part = []
        for c in coefficients:
            if not c.in_fixed:
                continue
            x = _x(c.name, obs)
            if estimates:
                fixed_part.append((c.fixed, x))
            else:
                fixed_part.append((None, beta(c, False) + (r"\," + x if x else "")))
        random_part = []
        for c in coefficients:
            x = _x(c.name, obs)
            random_part += [(None, effect(c, f) + (r"\," + x if x else "")) for f in c.factors]
        random_part.append((None, "e" + _sub(obs)))
        lines.append(
            f"&{y} = \\left({_join(fixed_part)}\\right) + \\left({_join(random_part)}\\right)"
        )
    lines += _assumptions(result, coefficients, factor_names, letter, group, obs, estimates)
    if form == "combined":
        lines.append(
            r"&\text{matrix form: } y = X\beta + Zu + e,\quad "
            r"u \sim N(0, \Omega),\quad e \sim N(0, \sigma^2_e I),\quad "
            r"\operatorname{var}(y) = V = Z\Omega Z' + \sigma^2_e I"
        )
    return Equation(lines, _legend(result, factor_names, group, obs, single))


def _assumptions(
    result: LmmResult,
    coefficients: list[_Coefficient],
    factor_names: list[str],
    letter: list[str],
    group: list[str],
    obs: str,
    estimates: bool,
) -> list[str]:
    by_name = {c.name: c for c in coefficients}
    single = len(factor_names) == 1
    lines = []
    for block, cov in zip(result.design.random, result.estimates.covariances, strict=True):
        f = factor_names.index(block.factor.name)
        cs = [by_name[name] for name in block.columns]
        effects = [letter[f] + _sub(c.index, group[f]) for c in cs]
        prefix = "" if single else letter[f]

        indices = [c.index for c in cs]
        entry = [
            [_covariance_entry(cov, a, b, prefix, indices, estimates) for b in range(len(cs))]
            for a in range(len(cs))
        ]
        if len(cs) == 1:
            lines.append(f"&{effects[0]} \\sim N\\left(0,\\ {entry[0][0]}\\right)")
            continue
        vector = r"\begin{pmatrix}" + r" \\ ".join(effects) + r"\end{pmatrix}"
        rows = [" & ".join(row) for row in entry]
        omega = r"\begin{pmatrix}" + r" \\ ".join(rows) + r"\end{pmatrix}"
        lines.append(f"&{vector} \\sim N\\left(\\mathbf{{0}},\\ {omega}\\right)")
    residual = latex_number(result.sigma**2) if estimates else r"\sigma^2_e"
    lines.append(
        f"&e{_sub(obs)} \\sim N\\left(0,\\ {residual}\\right),"
        r"\quad \text{all independent}"
    )
    return lines


def _covariance_entry(
    cov: np.ndarray, a: int, b: int, prefix: str, indices: list[str], estimates: bool
) -> str:
    """Entry ``(a, b)`` of a term's covariance: its estimate, or ``sigma^2_0`` / ``sigma_01``."""
    if estimates:
        return latex_number(cov[a, b])
    if a == b:
        return r"\sigma^2" + _sub(prefix + indices[a])
    low, high = indices[min(a, b)], indices[max(a, b)]
    pair = f"{low},{high}" if len(low) > 1 or len(high) > 1 else low + high
    return r"\sigma" + _sub(prefix + pair)


def _legend(
    result: LmmResult, factor_names: list[str], group: list[str], obs: str, single: bool
) -> list[str]:
    ngroups = result.ngroups
    if single:
        name = factor_names[0]
        return [
            f"$j = 1, \\dots, {ngroups[name]}$: the groups (levels of `{name}`), level 2;",
            "$i = 1, \\dots, n_j$: the observations within group $j$, level 1"
            f" ({result.nobs} in all).",
        ]
    out = [f"$i = 1, \\dots, {result.nobs}$: the observations;"]
    out += [
        f"${g}$: the level of `{name}` ({ngroups[name]} levels) of observation $i$;"
        for g, name in zip(group, factor_names, strict=False)
    ]
    return out


# --------------------------------------------------------------------------- least squares


def ols_equation(result: OlsResult, form: str = "combined", estimates: bool = False) -> Equation:
    """A least-squares model as one equation with its assumption.

    The hierarchical and combined forms coincide: the model has one level.

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.ols("Reaction ~ Days", mixnb.load_dataset("sleepstudy"))
    >>> print(ols_equation(fit, estimates=True).lines[0])
    &\\mathrm{Reaction}_{i} = 251.4 + 10.47\\,\\mathrm{Days}_{i} + e_{i}
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(map(repr, FORMS))}, not {form!r}.")
    names = list(result.design.fixed.columns)
    values = result.coefficients["estimate"].to_numpy()
    start = 0 if "Intercept" in names else 1
    terms = []
    for k, (name, value) in enumerate(zip(names, values, strict=True)):
        x = _x(name, "i")
        if estimates:
            terms.append((float(value), x))
        else:
            terms.append((None, r"\beta" + _sub(str(start + k)) + (r"\," + x if x else "")))
    terms.append((None, "e_{i}"))
    y = latex_name(result.design.response_name) + "_{i}"
    residual = latex_number(result.sigma**2) if estimates else r"\sigma^2"
    return Equation(
        [
            f"&{y} = {_join(terms)}",
            f"&e_{{i}} \\sim N\\left(0,\\ {residual}\\right),\\quad \\text{{independent}}",
        ],
        [f"$i = 1, \\dots, {result.nobs}$: the observations."],
    )


# --------------------------------------------------------------------------- matrices


def _shown_rows(codes: np.ndarray, max_rows: int) -> np.ndarray:
    """Rows to show: the first few of the first groups, so that ``V`` shows its blocks."""
    if len(codes) <= max_rows:
        return np.arange(len(codes))
    per_group = max(2, max_rows // 2)
    n_groups = math.ceil(max_rows / per_group)
    counts: dict[int, int] = {}
    rows: list[int] = []
    for position, code in enumerate(codes):
        if code not in counts and len(counts) == n_groups:
            continue
        counts[code] = counts.get(code, 0) + 1
        if counts[code] <= per_group:
            rows.append(position)
        if len(rows) == max_rows:
            break
    return np.array(rows)


def _gaps(shown: np.ndarray, total: int) -> list[int]:
    """Positions in ``shown`` after which rows were skipped (-1: before the first)."""
    gaps = [-1] if len(shown) and shown[0] != 0 else []
    gaps += [k for k in range(len(shown) - 1) if shown[k + 1] != shown[k] + 1]
    if len(shown) and shown[-1] != total - 1:
        gaps.append(len(shown) - 1)
    return gaps


def _slots(n: int, gaps: list[int]) -> list[Any]:
    """Data positions ``0..n-1`` with ``("gap", k)`` after position ``k`` where rows were cut."""
    out: list[Any] = [("gap", -1)] if -1 in gaps else []
    for k in range(n):
        out.append(k)
        if k in gaps:
            out.append(("gap", k))
    return out


def _matrix(
    values: np.ndarray,
    row_gaps: list[int],
    col_gaps: list[int],
    header: list[str] | None = None,
    square: bool = False,
) -> str:
    """A bracketed LaTeX array with dots where rows or columns were cut.

    A cut row shows ``\\vdots``, a cut column ``\\cdots``; where both meet, ``\\ddots``
    (in a square matrix only on the diagonal).
    """
    row_slots = _slots(values.shape[0], row_gaps)
    col_slots = _slots(values.shape[1], col_gaps)

    def cell(r: Any, c: Any) -> str:
        r_cut, c_cut = isinstance(r, tuple), isinstance(c, tuple)
        if not (r_cut or c_cut):
            return latex_number(values[r, c])
        if r_cut and c_cut:
            return r"\ddots" if (not square or r == c) else ""
        return r"\vdots" if r_cut else r"\cdots"

    lines = []
    if header is not None:
        lines.append(
            " & ".join(
                "" if isinstance(c, tuple) else r"\scriptsize " + latex_name(header[c])
                for c in col_slots
            )
        )
    lines += [" & ".join(cell(r, c) for c in col_slots) for r in row_slots]
    body = r" \\ ".join(lines)
    columns = "c" * len(col_slots)
    return rf"\left[\begin{{array}}{{{columns}}}{body}\end{{array}}\right]"


def lmm_matrices(result: LmmResult, max_rows: int = 8, max_columns: int = 8) -> Matrices:
    """``y``, ``X``, ``Z``, ``Omega``, ``W`` and ``V`` for a few rows (see ``fit.matrices()``).

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
    >>> [name for name, _ in lmm_matrices(fit, max_rows=4).blocks][:2]
    ['The response $y$ and the fixed-effects design $X$:', 'The random-effects design $Z$:']
    """
    n = result.nobs
    m = result.model_matrices(
        _shown_rows(result.design.random[0].factor.codes, max_rows), max_columns
    )
    row_gaps = _gaps(m.rows, n)
    col_gaps = _gaps(m.columns, m.n_random)
    blocks = [
        (
            "The response $y$ and the fixed-effects design $X$:",
            f"y = {_matrix(m.y, row_gaps, [])},\\quad "
            f"X = {_matrix(m.x, row_gaps, [], header=m.fixed_names)}",
        ),
        (
            "The random-effects design $Z$:",
            f"Z = {_matrix(m.z, row_gaps, col_gaps, header=m.random_names)}",
        ),
        (
            r"The covariance of the random effects, $\Omega = \operatorname{var}(u)$ "
            "(block diagonal, one block per group):",
            f"\\Omega = {_matrix(m.omega, col_gaps, col_gaps, square=True)}",
        ),
        (
            r"The residual covariance, $W = \operatorname{var}(e) = \sigma^2_e I$:",
            f"W = {_matrix(m.w, row_gaps, row_gaps, square=True)}",
        ),
        (
            r"The covariance of the observations, $V = Z \Omega Z' + W$:",
            f"V = Z\\Omega Z' + W = {_matrix(m.v, row_gaps, row_gaps, square=True)}",
        ),
    ]
    shown = ", ".join(str(r + 1) for r in m.rows)
    caption = (
        f"Rows {shown} of {n} (counted among the rows the model used)"
        if len(m.rows) < n
        else f"All {n} rows"
    ) + f"; {len(m.columns)} of {m.n_random} random effects."
    return Matrices(blocks, caption)


# --------------------------------------------------------------------------- dispatch


@singledispatch
def equation(result: Any, **options: Any) -> Equation:
    """The equations of any fitted model (``fit.equation()``), by the result's type."""
    raise MixnbError(f"{type(result).__name__} has no equation form.")


equation.register(LmmResult, lmm_equation)
equation.register(OlsResult, ols_equation)
