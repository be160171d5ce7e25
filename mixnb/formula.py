"""Split an lme4-style model formula into its fixed part and random-effect terms.

A mixed-model formula such as ``Reaction ~ Days + (Days | Subject)`` has a
response (``Reaction``), a fixed part (``Days``) that formulaic turns into the
fixed-effects design matrix, and random-effect terms (``(Days | Subject)``)
that say which effects vary between the groups of a grouping factor.

This module only reads text; it never touches data.  It follows lme4's rules
(``findbars``, ``nobars``, ``expandSlash`` and ``expandDoubleVerts``):

* ``(x || g)`` means uncorrelated effects and expands to ``(1 | g) + (0 + x | g)``;
* ``(1 | a/b)`` means ``b`` nested in ``a`` and expands to ``(1 | a) + (1 | b:a)``;
* ``(1 | a:b)`` groups by the interaction of ``a`` and ``b``.

The text is read by a small scanner that tracks bracket depth, backtick-quoted
names and string literals, so nested calls such as
``C(center, contr.treatment(base=2))`` pass through to the fixed part untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations, pairwise

from mixnb.errors import FormulaError

__all__ = ["ParsedFormula", "RandomTerm", "parse_formula"]

_EXAMPLE = "y ~ x + (1 | group)"
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {close: open_ for open_, close in _OPENERS.items()}
_QUOTES = "`'\""
# Characters after which a following "+" or "-" is a sign, not a term separator.
_BINDING_OPERATORS = set("*/:^%~,(=<>!&|")
_EXPONENT_END = re.compile(r"(?<![\w.`])\d+\.?\d*[eE]\Z")
_GROUP_TOKEN = re.compile(r"\s*(`[^`]*`|[A-Za-z_.][A-Za-z0-9_.]*|[:/])")


@dataclass(frozen=True)
class RandomTerm:
    """One random-effect term ``(expr | factors)`` after expansion.

    Attributes
    ----------
    expr : str
        What varies between groups: a formulaic right-hand side such as
        ``"1"``, ``"Days"``, ``"0 + Days"`` or ``"1 + x + z"``.
    factors : tuple of str
        Column names whose interaction defines the groups, in lme4's naming
        order (``("cask", "batch")`` for ``cask`` nested in ``batch``).
    """

    expr: str
    factors: tuple[str, ...]

    @property
    def group(self) -> str:
        """lme4's name of the grouping factor, e.g. ``"Subject"`` or ``"cask:batch"``."""
        return ":".join(self.factors)


@dataclass(frozen=True)
class ParsedFormula:
    """A mixed-model formula split into response, fixed part and random terms.

    Attributes
    ----------
    text : str
        The formula as the user wrote it.
    response : str
        The left-hand side as written (backticks kept), e.g. ``"np.log(y)"``.
    fixed : str
        The formulaic right-hand side of the fixed part, e.g. ``"Days"``;
        ``"1"`` when the formula has only random terms.
    random : tuple of RandomTerm
        The random-effect terms in order of appearance, after expansion.
    """

    text: str
    response: str
    fixed: str
    random: tuple[RandomTerm, ...]

    @property
    def grouping_variables(self) -> tuple[str, ...]:
        """Unique column names used by any term's grouping factor, in order."""
        names: dict[str, None] = {}
        for term in self.random:
            names.update(dict.fromkeys(term.factors))
        return tuple(names)

    @property
    def has_random(self) -> bool:
        """Whether the formula has at least one random-effect term."""
        return bool(self.random)


def parse_formula(text: str) -> ParsedFormula:
    """Parse an lme4-style mixed-model formula.

    Parameters
    ----------
    text : str
        A formula such as ``"Reaction ~ Days + (Days | Subject)"``.

    Returns
    -------
    ParsedFormula
        The response, the fixed part and the expanded random-effect terms.

    Raises
    ------
    FormulaError
        If the formula is malformed; the message names the problem, quotes the
        offending piece and shows the correct form.

    Examples
    --------
    >>> f = parse_formula("strength ~ 1 + (1 | batch/cask)")
    >>> f.fixed, [t.group for t in f.random]
    ('1', ['batch', 'cask:batch'])
    """
    if not isinstance(text, str):
        raise FormulaError(
            f"the formula must be a string such as '{_EXAMPLE}', not {type(text).__name__}"
        )
    if not text.strip():
        raise FormulaError(f"the formula is empty; a formula looks like '{_EXAMPLE}'")
    scan = _Scan(text)
    tildes = scan.top_level("~")
    if not tildes:
        raise FormulaError(
            f"the formula '{text.strip()}' has no '~'; a formula looks like '{_EXAMPLE}' "
            "(response on the left, predictors on the right)"
        )
    if len(tildes) > 1:
        raise FormulaError(
            f"the formula '{text.strip()}' has more than one '~'; a formula looks like '{_EXAMPLE}'"
        )
    response, rhs = text[: tildes[0]].strip(), text[tildes[0] + 1 :].strip()
    if not response:
        raise FormulaError(
            f"the formula '{text.strip()}' has no response left of '~'; "
            f"a formula looks like '{_EXAMPLE}'"
        )
    if not rhs:
        raise FormulaError(
            f"the formula '{text.strip()}' has nothing right of '~'; a formula looks like "
            f"'{_EXAMPLE}' (use 'y ~ 1 + (1 | group)' for an intercept-only model)"
        )
    fixed, random = _split_random(rhs)
    return ParsedFormula(text=text, response=response, fixed=fixed, random=tuple(random))


# --------------------------------------------------------------------------- scanning


class _Scan:
    """Bracket depth and quoting of every character of a piece of formula text.

    ``depth[i]`` is the number of brackets enclosing character ``i`` (brackets
    themselves count as outside) or ``None`` inside a quoted name or string;
    ``opener[i]`` is the index of the innermost enclosing bracket, or -1.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.depth: list[int | None] = []
        self.opener: list[int] = []
        stack: list[int] = []
        quote_at: int | None = None
        escaped = False
        for i, ch in enumerate(text):
            self.opener.append(stack[-1] if stack else -1)
            if quote_at is not None:
                self.depth.append(None)
                quote = text[quote_at]
                if escaped:
                    escaped = False
                elif ch == "\\" and quote != "`":
                    escaped = True
                elif ch == quote:
                    quote_at = None
                continue
            if ch in _QUOTES:
                quote_at = i
                self.depth.append(None)
            elif ch in _OPENERS:
                self.depth.append(len(stack))
                stack.append(i)
            elif ch in _CLOSERS:
                if not stack or text[stack[-1]] != _CLOSERS[ch]:
                    raise _unmatched_closer(text, i, stack[-1] if stack else None)
                stack.pop()
                self.depth.append(len(stack))
            else:
                self.depth.append(len(stack))
        if quote_at is not None:
            raise _unclosed_quote(text, quote_at)
        if stack:
            raise _unclosed_bracket(text, stack[-1])

    def top_level(self, chars: str) -> list[int]:
        """Positions of the characters in *chars* that sit outside all brackets and quotes."""
        return [i for i, ch in enumerate(self.text) if ch in chars and self.depth[i] == 0]

    def matching_close(self, start: int) -> int:
        """Index of the bracket closing the one opened at *start*."""
        return next(
            i
            for i in range(start + 1, len(self.text))
            if self.depth[i] == self.depth[start] and self.text[i] in _CLOSERS
        )


def _caret(text: str, pos: int) -> str:
    return f"\n    {text}\n    {' ' * pos}^"


def _unmatched_closer(text: str, pos: int, open_at: int | None) -> FormulaError:
    ch = text[pos]
    if open_at is None:
        problem = f"the '{ch}' at column {pos + 1} has no matching '{_CLOSERS[ch]}'"
    else:
        problem = (
            f"the '{ch}' at column {pos + 1} closes the '{text[open_at]}' at column {open_at + 1}"
        )
    return FormulaError(
        f"unbalanced parentheses: {problem}:{_caret(text, pos)}\n"
        f"Every '(' needs its own ')', e.g. '{_EXAMPLE}'."
    )


def _unclosed_bracket(text: str, pos: int) -> FormulaError:
    ch = text[pos]
    return FormulaError(
        f"unbalanced parentheses: the '{ch}' at column {pos + 1} is never closed:"
        f"{_caret(text, pos)}\nClose it with '{_OPENERS[ch]}', e.g. '{_EXAMPLE}'."
    )


def _unclosed_quote(text: str, pos: int) -> FormulaError:
    if text[pos] == "`":
        return FormulaError(
            f"unbalanced backticks: the backtick at column {pos + 1} is never closed:"
            f"{_caret(text, pos)}\nQuote an odd column name with a pair of backticks, "
            "e.g. 'y ~ `my x` + (1 | `my group`)'."
        )
    return FormulaError(
        f"unterminated string: the {text[pos]} at column {pos + 1} is never closed:"
        f"{_caret(text, pos)}\nClose the string with a matching {text[pos]}."
    )


def _squash(text: str) -> str:
    """Collapse runs of whitespace outside quotes into single spaces."""
    scan = _Scan(text)
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch.isspace() and scan.depth[i] is not None:
            if out and out[-1] != " ":
                out.append(" ")
        else:
            out.append(ch)
    return "".join(out).strip()


# --------------------------------------------------------------------------- terms


def _is_separator(text: str, pos: int) -> bool:
    """Whether the top-level '+' or '-' at *pos* separates terms (rather than signs a number)."""
    before = text[:pos].rstrip()
    if not before:
        return True  # a leading sign, handled by _split_terms
    if before[-1] in _BINDING_OPERATORS:
        return False
    return _EXPONENT_END.search(before) is None


def _split_terms(text: str) -> list[tuple[str, str]]:
    """Split *text* on top-level '+' and '-' into ``(sign, term)`` pairs.

    Terms have their whitespace normalised.  A leading sign is allowed; an
    empty term between two operators or at the end is an error.
    """
    scan = _Scan(text)
    cuts = [i for i in scan.top_level("+-") if _is_separator(text, i)]
    terms: list[tuple[str, str]] = []
    sign, start = "+", 0
    for cut in [*cuts, len(text)]:
        piece = text[start:cut].strip()
        if piece:
            terms.append((sign, _squash(piece)))
        elif start > 0 or cut == len(text):
            raise _empty_term(text, sign, cut)
        sign, start = (text[cut] if cut < len(text) else ""), cut + 1
    return terms


def _empty_term(text: str, sign: str, pos: int) -> FormulaError:
    where = "at the end" if pos == len(text) else f"between '{sign}' and '{text[pos]}'"
    return FormulaError(
        f"empty term {where} in '{_squash(text)}': every '+' or '-' needs a term on "
        f"both sides, e.g. '{_EXAMPLE}'"
    )


def _join_terms(terms: list[tuple[str, str]]) -> str:
    """Write ``(sign, term)`` pairs back as text with single spaces around operators."""
    parts: list[str] = []
    for sign, term in terms:
        if parts:
            parts.append(f"{sign} {term}")
        else:
            parts.append(term if sign == "+" else f"-{term}")
    return " ".join(parts)


def _removes_intercept(sign: str, term: str) -> bool:
    return (sign, term) in {("+", "0"), ("-", "1")}


# --------------------------------------------------------------------------- random terms


def _split_random(rhs: str) -> tuple[str, list[RandomTerm]]:
    """Separate the random-effect terms of a right-hand side from its fixed part."""
    fixed: list[tuple[str, str]] = []
    random: list[RandomTerm] = []
    for sign, term in _split_terms(rhs):
        inner = _bar_group(term)
        if inner is None:
            _reject_stray_bars(term)
            _reject_missing_bar(term)
            fixed.append((sign, term))
            continue
        if sign == "-":
            raise FormulaError(
                f"the random-effect term '{term}' is subtracted; random terms can only be "
                f"added, e.g. '{_EXAMPLE}'"
            )
        random.extend(_parse_random(inner, term))
    return (_join_terms(fixed) if fixed else "1"), random


def _bar_group(term: str) -> str | None:
    """Contents of *term* if it is a bracketed group with a top-level bar, else ``None``."""
    while term.startswith("(") and _Scan(term).matching_close(0) == len(term) - 1:
        inner = term[1:-1].strip()
        if not inner:
            raise FormulaError(
                "empty parentheses '()': a random-effect term needs something inside, "
                "e.g. '(1 | group)' for a random intercept per group"
            )
        if _Scan(inner).top_level("|"):
            return inner
        term = inner
    return None


def _is_call(text: str, open_at: int) -> bool:
    before = text[:open_at].rstrip()
    return bool(before) and (before[-1].isalnum() or before[-1] in "_.`)]")


def _reject_stray_bars(term: str) -> None:
    """Raise if a fixed-part term holds a bar that is not inside a function call."""
    scan = _Scan(term)
    if scan.top_level("|"):
        raise FormulaError(
            f"a bar '|' outside parentheses in '{term}': a random-effect term must be "
            f"wrapped in parentheses, e.g. '{_EXAMPLE}'"
        )
    for i, ch in enumerate(term):
        if ch != "|" or scan.depth[i] is None:
            continue
        open_at = scan.opener[i]
        if term[open_at] == "(" and not _is_call(term, open_at):
            raise FormulaError(
                f"a random-effect term is nested inside '{term}': write each random term "
                f"as its own added term, e.g. '{_EXAMPLE}'"
            )


_NAME_TOKEN = r"(`[^`]*`|[^\s()|`]+)"
_TWO_NAMES = re.compile(rf"\(\s*{_NAME_TOKEN}\s+{_NAME_TOKEN}\s*\)\Z")


def _reject_missing_bar(term: str) -> None:
    """Raise if a fixed term reads like a random term whose bar was forgotten: ``(x g)``."""
    found = _TWO_NAMES.match(term)
    if found and not _is_call(term, 0):
        expr, group = found.groups()
        raise FormulaError(
            f"'{term}' has no bar '|': a random-effect term is written '(effects | group)', "
            f"e.g. '({expr} | {group})' for a random "
            f"{'intercept' if expr == '1' else expr} per {group}"
        )


def _has_nested_bar(text: str) -> bool:
    """Whether *text* holds a bar inside brackets that are not a function call."""
    scan = _Scan(text)
    return any(
        ch == "|"
        and scan.depth[i] is not None
        and text[scan.opener[i]] == "("
        and not _is_call(text, scan.opener[i])
        for i, ch in enumerate(text)
    )


def _parse_random(inner: str, term: str) -> list[RandomTerm]:
    """Expand the contents of one ``( ... | ... )`` group into random terms."""
    lhs, bar, rhs = _split_bar(inner, term)
    if _has_nested_bar(lhs):
        raise FormulaError(
            f"the random-effect term '{term}' has another random term left of its bar; "
            "write each random term once, as its own added term, e.g. '(1 | Subject)' or "
            "'(1 | g) + (1 | h)'"
        )
    if not lhs:
        raise FormulaError(
            f"the random-effect term '{term}' has nothing left of the bar; say what varies "
            f"by group, e.g. '(1 {bar} group)' for a random intercept or '(1 + x {bar} group)' "
            "for a random intercept and slope"
        )
    if not rhs:
        raise FormulaError(
            f"the random-effect term '{term}' has no grouping factor right of the bar; name "
            f"the column that defines the groups, e.g. '({_squash(lhs)} {bar} group)'"
        )
    exprs = _expand_double_bar(lhs, term) if bar == "||" else [_single_expr(lhs, term)]
    groupings = _parse_grouping(rhs, term)
    return [RandomTerm(expr=expr, factors=factors) for expr in exprs for factors in groupings]


def _split_bar(inner: str, term: str) -> tuple[str, str, str]:
    """Split the contents of a random term at its bar into ``(lhs, bar, rhs)``."""
    bars = _Scan(inner).top_level("|")
    runs: list[list[int]] = []
    for pos in bars:
        if runs and runs[-1][-1] == pos - 1:
            runs[-1].append(pos)
        else:
            runs.append([pos])
    if len(runs) > 1:
        raise FormulaError(
            f"the random-effect term '{term}' has more than one bar; write one bar per term, "
            "e.g. '(1 | g) + (1 | h)'"
        )
    run = runs[0]
    if len(run) > 2:
        raise FormulaError(
            f"'{'|' * len(run)}' in '{term}' is not an operator; use '|' for correlated "
            "effects, e.g. '(1 + x | group)', or '||' for uncorrelated ones, "
            "e.g. '(1 + x || group)'"
        )
    bar = "|" * len(run)
    return inner[: run[0]].strip(), bar, inner[run[-1] + 1 :].strip()


def _no_effects(term: str) -> FormulaError:
    return FormulaError(
        f"the random-effect term '{term}' has no effects: its left side removes the "
        "intercept and adds nothing; write e.g. '(1 | group)' or '(0 + x | group)'"
    )


def _single_expr(lhs: str, term: str) -> str:
    """Normalise the left side of a ``|`` term."""
    terms = _split_terms(lhs)
    if all(_removes_intercept(sign, t) for sign, t in terms):
        raise _no_effects(term)
    return _join_terms(terms)


def _expand_double_bar(lhs: str, term: str) -> list[str]:
    """Expand the left side of a ``||`` term into uncorrelated pieces (lme4's expandDoubleVerts).

    The intercept (unless removed with ``0 +`` or ``- 1``) comes first, then one
    ``0 + term`` per remaining term, main effects before interactions as R's
    ``terms()`` orders them.
    """
    intercept = True
    slopes: dict[str, None] = {}
    for sign, piece in _split_terms(lhs):
        if piece == "1" or (sign, piece) == ("+", "0"):
            intercept = not _removes_intercept(sign, piece)
        elif sign == "-":
            raise _weird_double_bar(term, f"'- {piece}'")
        else:
            slopes.update(dict.fromkeys(_expand_product(piece, term)))
    ordered = sorted(slopes, key=lambda s: len(_Scan(s).top_level(":")))
    exprs = (["1"] if intercept else []) + [f"0 + {s}" for s in ordered]
    if not exprs:
        raise _no_effects(term)
    return exprs


def _expand_product(piece: str, term: str) -> list[str]:
    """Expand ``a*b`` into ``a``, ``b``, ``a:b``; reject operators that cannot be split."""
    scan = _Scan(piece)
    if "**" in _top_text(piece, scan) or scan.top_level("^/%"):
        raise _weird_double_bar(term, f"'{piece}'")
    for i in scan.top_level("("):
        if not _is_call(piece, i):
            raise _weird_double_bar(term, f"'{piece}'")
    cuts = scan.top_level("*")
    if not cuts:
        return [piece]
    bounds = [-1, *cuts, len(piece)]
    factors = [piece[a + 1 : b].strip() for a, b in pairwise(bounds)]
    if not all(factors):
        raise _weird_double_bar(term, f"'{piece}'")
    return [
        ":".join(combo)
        for size in range(1, len(factors) + 1)
        for combo in combinations(factors, size)
    ]


def _top_text(text: str, scan: _Scan) -> str:
    """*text* with everything inside brackets or quotes blanked out."""
    return "".join(ch if scan.depth[i] == 0 else " " for i, ch in enumerate(text))


def _weird_double_bar(term: str, piece: str) -> FormulaError:
    return FormulaError(
        f"cannot split {piece} in the uncorrelated term '{term}' into separate effects; "
        "with '||' write the left side as terms joined by '+', e.g. '(1 + x + z || group)' "
        "or '(0 + x || group)'"
    )


def _parse_grouping(rhs: str, term: str) -> list[tuple[str, ...]]:
    """Read the grouping side of a bar into factor tuples, expanding ``a/b`` (expandSlash).

    ``a/b/c`` gives ``(a,)``, ``(b, a)``, ``(c, b, a)``: lme4 names a nested
    factor inner-first, as in ``c:b:a``.
    """
    tokens = _group_tokens(rhs, term)
    names, ops = tokens[::2], tokens[1::2]
    if len(tokens) % 2 == 0 or any(t in ":/" for t in names) or any(t not in ":/" for t in ops):
        raise _bad_grouping(rhs, term)
    segments: list[tuple[str, ...]] = [(_unquote(names[0], rhs, term),)]
    for op, name in zip(ops, names[1:], strict=True):
        if op == ":":
            segments[-1] += (_unquote(name, rhs, term),)
        else:
            segments.append((_unquote(name, rhs, term),))
    groupings: list[tuple[str, ...]] = []
    for segment in segments:
        groupings.append(segment + (groupings[-1] if groupings else ()))
    return groupings


def _group_tokens(rhs: str, term: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    while pos < len(rhs):
        match = _GROUP_TOKEN.match(rhs, pos)
        if match is None:
            raise _bad_grouping(rhs, term)
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


def _unquote(name: str, rhs: str, term: str) -> str:
    if name.startswith("`"):
        name = name[1:-1]
        if not name:
            raise _bad_grouping(rhs, term)
    return name


def _bad_grouping(rhs: str, term: str) -> FormulaError:
    return FormulaError(
        f"the grouping factor '{_squash(rhs)}' in '{term}' is not a column name: lme4 needs "
        "a factor name there (or names combined as 'a:b' or 'a/b'), e.g. '(1 | group)'. "
        "To group by a computed value, add it to the data as a column first."
    )
