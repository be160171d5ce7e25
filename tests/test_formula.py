"""Tests for mixnb.formula: lme4's formula language split into fixed and random parts."""

from __future__ import annotations

import dataclasses

import formulaic
import pytest

from mixnb.errors import FormulaError
from mixnb.formula import ParsedFormula, RandomTerm, parse_formula


def terms(parsed: ParsedFormula) -> list[tuple[str, str]]:
    """The random terms as ``(expr, group)`` pairs, for compact assertions."""
    return [(t.expr, t.group) for t in parsed.random]


# --------------------------------------------------------------------------- classic datasets


def test_sleepstudy_correlated_slope() -> None:
    f = parse_formula("Reaction ~ Days + (Days | Subject)")
    assert f.text == "Reaction ~ Days + (Days | Subject)"
    assert f.response == "Reaction"
    assert f.fixed == "Days"
    assert f.random == (RandomTerm(expr="Days", factors=("Subject",)),)
    assert f.grouping_variables == ("Subject",)
    assert f.has_random


def test_sleepstudy_uncorrelated_slope() -> None:
    f = parse_formula("Reaction ~ Days + (Days || Subject)")
    assert f.fixed == "Days"
    assert terms(f) == [("1", "Subject"), ("0 + Days", "Subject")]
    assert f.grouping_variables == ("Subject",)


def test_penicillin_crossed() -> None:
    f = parse_formula("diameter ~ 1 + (1|plate) + (1|sample)")
    assert f.fixed == "1"
    assert terms(f) == [("1", "plate"), ("1", "sample")]
    assert f.grouping_variables == ("plate", "sample")


def test_pastes_nested() -> None:
    f = parse_formula("strength ~ 1 + (1|batch/cask)")
    assert f.fixed == "1"
    assert f.random == (
        RandomTerm(expr="1", factors=("batch",)),
        RandomTerm(expr="1", factors=("cask", "batch")),
    )
    assert terms(f) == [("1", "batch"), ("1", "cask:batch")]
    assert f.grouping_variables == ("batch", "cask")


def test_cake_interaction_grouping() -> None:
    f = parse_formula("angle ~ recipe * temp + (1 | recipe:replicate)")
    assert f.fixed == "recipe * temp"
    assert f.random == (RandomTerm(expr="1", factors=("recipe", "replicate")),)
    assert f.random[0].group == "recipe:replicate"
    assert f.grouping_variables == ("recipe", "replicate")


# --------------------------------------------------------------------------- the fixed part


@pytest.mark.parametrize(
    ("formula", "fixed"),
    [
        ("y ~ (1|g)", "1"),
        ("y ~ 0 + (1|g)", "0"),
        ("y ~ x + (1|g) + z", "x + z"),
        ("y ~ (1|g) + x", "x"),
        ("y ~ x + (1|g)", "x"),
        ("y ~ x - 1 + (1|g)", "x - 1"),
        ("y ~ (1|g) - 1", "-1"),
        ("y ~ -1 + x + (1|g)", "-1 + x"),
        ("y ~ 0 + x + (x | g)", "0 + x"),
        ("y ~ x+z   +(1|g)+w", "x + z + w"),
        ("y ~ x * z + (1|g)", "x * z"),
        ("y ~ x", "x"),
    ],
)
def test_fixed_part(formula: str, fixed: str) -> None:
    assert parse_formula(formula).fixed == fixed


def test_fixed_part_with_nested_calls_is_untouched() -> None:
    f = parse_formula("y ~ C(center, contr.treatment(base=2)) + I(x**2) + (1 | g)")
    assert f.fixed == "C(center, contr.treatment(base=2)) + I(x**2)"
    assert terms(f) == [("1", "g")]


def test_fixed_part_keeps_non_random_parentheses() -> None:
    f = parse_formula("y ~ (a + b):c + I(x - 1) + (1 | g)")
    assert f.fixed == "(a + b):c + I(x - 1)"


def test_plus_and_minus_inside_calls_and_numbers_are_not_split() -> None:
    f = parse_formula("y ~ I(x+1) + f(z, -2) + 1e-3 + (1|g)")
    assert f.fixed == "I(x+1) + f(z, -2) + 1e-3"


def test_string_literals_may_hold_brackets_and_bars() -> None:
    f = parse_formula("y ~ C(site, levels=[\"a)\", 'b|c']) + (1 | g)")
    assert f.fixed == "C(site, levels=[\"a)\", 'b|c'])"
    assert terms(f) == [("1", "g")]


def test_bar_inside_a_function_call_is_fixed() -> None:
    f = parse_formula("y ~ I(a | b)")
    assert f.fixed == "I(a | b)"
    assert not f.has_random


def test_no_random_terms() -> None:
    f = parse_formula("y ~ x + z")
    assert f.random == ()
    assert not f.has_random
    assert f.grouping_variables == ()


def test_doubled_parentheses_around_a_random_term() -> None:
    assert terms(parse_formula("y ~ x + ((1 | g))")) == [("1", "g")]


@pytest.mark.parametrize(
    "formula",
    [
        "Reaction ~ Days + (Days | Subject)",
        "y ~ (1|g)",
        "y ~ 0 + (1|g)",
        "y ~ (1|g) - 1",
        "y ~ -1 + x + (1|g)",
        "y ~ x + (1|g) + z",
        "angle ~ recipe * temp + (1 | recipe:replicate)",
        "y ~ C(center, contr.treatment(base=2)) + I(x**2) + (1 | g)",
        "y ~ (a + b):c + (1 | g)",
        "`log y` ~ `my x` + (`my x` | `my group`)",
    ],
)
def test_fixed_part_is_accepted_by_formulaic(formula: str) -> None:
    formulaic.Formula(parse_formula(formula).fixed)


# --------------------------------------------------------------------------- response


@pytest.mark.parametrize("response", ["Reaction", "np.log(y)", "`log y`", "I(y / 100)"])
def test_response_kept_as_written(response: str) -> None:
    assert parse_formula(f"{response} ~ x + (1 | g)").response == response


# --------------------------------------------------------------------------- random terms


@pytest.mark.parametrize(
    ("formula", "expr"),
    [
        ("y ~ (x | g)", "x"),
        ("y ~ (1 | g)", "1"),
        ("y ~ (0 + x | g)", "0 + x"),
        ("y ~ (0+x|g)", "0 + x"),
        ("y ~ (1 + x | g)", "1 + x"),
        ("y ~ (1 +   x+z | g)", "1 + x + z"),
        ("y ~ (x - 1 | g)", "x - 1"),
        ("y ~ (log(x + 1) | g)", "log(x + 1)"),
    ],
)
def test_random_expr_normalised(formula: str, expr: str) -> None:
    f = parse_formula(formula)
    assert f.random == (RandomTerm(expr=expr, factors=("g",)),)
    formulaic.Formula(expr)


def test_random_terms_keep_order_of_appearance() -> None:
    f = parse_formula("y ~ (1 | b) + x + (x | a) + (1 | c)")
    assert terms(f) == [("1", "b"), ("x", "a"), ("1", "c")]
    assert f.grouping_variables == ("b", "a", "c")


def test_duplicate_terms_are_allowed() -> None:
    f = parse_formula("y ~ (1 | g) + (1 | g)")
    assert terms(f) == [("1", "g"), ("1", "g")]
    assert f.grouping_variables == ("g",)


def test_group_property() -> None:
    assert RandomTerm(expr="1", factors=("Subject",)).group == "Subject"
    assert RandomTerm(expr="1", factors=("cask", "batch")).group == "cask:batch"


def test_dataclasses_are_frozen() -> None:
    f = parse_formula("y ~ (1 | g)")
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.fixed = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.random[0].expr = "x"  # type: ignore[misc]


# --------------------------------------------------------------------------- double bar


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("y ~ (x || g)", [("1", "g"), ("0 + x", "g")]),
        ("y ~ (1 + x + z || g)", [("1", "g"), ("0 + x", "g"), ("0 + z", "g")]),
        ("y ~ (0 + x + z || g)", [("0 + x", "g"), ("0 + z", "g")]),
        ("y ~ (x + z - 1 || g)", [("0 + x", "g"), ("0 + z", "g")]),
        ("y ~ (1 || g)", [("1", "g")]),
        ("y ~ (x + x || g)", [("1", "g"), ("0 + x", "g")]),
        ("y ~ (x:z + w || g)", [("1", "g"), ("0 + w", "g"), ("0 + x:z", "g")]),
        ("y ~ (x*z || g)", [("1", "g"), ("0 + x", "g"), ("0 + z", "g"), ("0 + x:z", "g")]),
        ("y ~ (I(x^2) || g)", [("1", "g"), ("0 + I(x^2)", "g")]),
    ],
)
def test_double_bar_expansion(formula: str, expected: list[tuple[str, str]]) -> None:
    assert terms(parse_formula(formula)) == expected


def test_double_bar_with_nesting_expands_both() -> None:
    f = parse_formula("y ~ (x || a/b)")
    assert terms(f) == [("1", "a"), ("1", "b:a"), ("0 + x", "a"), ("0 + x", "b:a")]


# --------------------------------------------------------------------------- grouping factors


def test_three_level_nesting() -> None:
    f = parse_formula("y ~ (1 | a/b/c)")
    assert [t.factors for t in f.random] == [("a",), ("b", "a"), ("c", "b", "a")]
    assert [t.group for t in f.random] == ["a", "b:a", "c:b:a"]
    assert f.grouping_variables == ("a", "b", "c")


def test_nesting_with_an_interaction() -> None:
    f = parse_formula("y ~ (1 | a:b/c)")
    assert [t.factors for t in f.random] == [("a", "b"), ("c", "a", "b")]


def test_interaction_grouping_kept_as_written() -> None:
    assert parse_formula("y ~ (1 | b:a)").random[0].factors == ("b", "a")


def test_dotted_and_underscored_names() -> None:
    f = parse_formula("y ~ (1 | my.group_2)")
    assert f.random[0].factors == ("my.group_2",)


def test_backtick_names_in_all_three_places() -> None:
    f = parse_formula("`log reaction` ~ `days since` + (`days since` | `my group`)")
    assert f.response == "`log reaction`"
    assert f.fixed == "`days since`"
    assert f.random == (RandomTerm(expr="`days since`", factors=("my group",)),)
    assert f.grouping_variables == ("my group",)
    formulaic.Formula(f.fixed)
    formulaic.Formula(f.random[0].expr)


def test_backticks_may_hold_operators() -> None:
    f = parse_formula("y ~ `a+b` + (1 | `site (old)`/`x|y`)")
    assert f.fixed == "`a+b`"
    assert [t.factors for t in f.random] == [("site (old)",), ("x|y", "site (old)")]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_formula(text: str) -> None:
    with pytest.raises(FormulaError, match=r"formula is empty.*y ~ x \+ \(1 \| group\)"):
        parse_formula(text)


def test_not_a_string() -> None:
    with pytest.raises(FormulaError, match="must be a string"):
        parse_formula(None)  # type: ignore[arg-type]


def test_missing_tilde() -> None:
    with pytest.raises(FormulaError, match=r"'y \+ x' has no '~'.*y ~ x \+ \(1 \| group\)"):
        parse_formula("y + x")


def test_missing_response() -> None:
    with pytest.raises(FormulaError, match=r"no response left of '~'.*y ~ x \+ \(1 \| group\)"):
        parse_formula("~ x + (1 | g)")


def test_missing_right_hand_side() -> None:
    with pytest.raises(FormulaError, match="nothing right of '~'"):
        parse_formula("y ~  ")


def test_two_tildes() -> None:
    with pytest.raises(FormulaError, match="more than one '~'"):
        parse_formula("y ~ x ~ z")


def test_unclosed_parenthesis_points_at_it() -> None:
    with pytest.raises(FormulaError, match="unbalanced parentheses") as info:
        parse_formula("y ~ x + (1 | g")
    message = str(info.value)
    assert "'(' at column 9 is never closed" in message
    assert "\n    y ~ x + (1 | g\n            ^" in message


def test_stray_closing_parenthesis() -> None:
    with pytest.raises(FormulaError, match=r"unbalanced parentheses: the '\)' at column 12"):
        parse_formula("y ~ x + 1|g)")


def test_mismatched_brackets() -> None:
    with pytest.raises(FormulaError, match=r"'\)' at column 8 closes the '\[' at column 6"):
        parse_formula("y ~ x[0) + (1 | g)")


def test_parenthesis_inside_string_does_not_count() -> None:
    with pytest.raises(FormulaError, match="'[(]' at column 13 is never closed"):
        parse_formula('y ~ f("a)")+(1|g')


def test_unclosed_backtick() -> None:
    with pytest.raises(FormulaError, match="unbalanced backticks: the backtick at column 5"):
        parse_formula("y ~ `my x + (1 | g)")


def test_unterminated_string() -> None:
    with pytest.raises(FormulaError, match="unterminated string"):
        parse_formula("y ~ C(x, levels=['a) + (1 | g)")


def test_empty_left_of_bar() -> None:
    message = r"'\( \| g\)' has nothing left of the bar.*\(1 \| group\)"
    with pytest.raises(FormulaError, match=message):
        parse_formula("y ~ x + ( | g)")


def test_empty_left_of_double_bar() -> None:
    with pytest.raises(FormulaError, match=r"nothing left of the bar.*\(1 \|\| group\)"):
        parse_formula("y ~ x + (|| g)")


def test_empty_grouping_side() -> None:
    with pytest.raises(FormulaError, match=r"'\(x \| \)' has no grouping factor.*\(x \| group\)"):
        parse_formula("y ~ (x | )")


def test_bar_outside_parentheses() -> None:
    with pytest.raises(FormulaError, match=r"bar '\|' outside parentheses in 'x \| g'"):
        parse_formula("y ~ x | g")


def test_bar_between_random_terms() -> None:
    with pytest.raises(FormulaError, match="outside parentheses"):
        parse_formula("y ~ (1 | g) | (1 | h)")


def test_random_term_nested_in_an_expression() -> None:
    with pytest.raises(FormulaError, match=r"nested inside 'x:\(1 \| g\)'"):
        parse_formula("y ~ x:(1 | g)")


def test_empty_parentheses() -> None:
    with pytest.raises(FormulaError, match=r"empty parentheses '\(\)'.*\(1 \| group\)"):
        parse_formula("y ~ x + ()")


def test_subtracted_random_term() -> None:
    with pytest.raises(FormulaError, match=r"'\(1 \| g\)' is subtracted"):
        parse_formula("y ~ x - (1 | g)")


@pytest.mark.parametrize("grouping", ["g + h", "log(g)", "1", "g*h", "a/", ":a", "``", "g h"])
def test_grouping_factor_must_be_a_name(grouping: str) -> None:
    with pytest.raises(FormulaError, match="lme4 needs a factor name there"):
        parse_formula(f"y ~ (1 | {grouping})")


def test_grouping_error_quotes_the_factor() -> None:
    with pytest.raises(FormulaError, match=r"grouping factor 'log\(g\)' in '\(1 \| log\(g\)\)'"):
        parse_formula("y ~ (1 | log(g))")


def test_two_bars_in_one_term() -> None:
    with pytest.raises(FormulaError, match=r"'\(1 \| g \| h\)' has more than one bar"):
        parse_formula("y ~ (1 | g | h)")


def test_triple_bar() -> None:
    with pytest.raises(FormulaError, match=r"'\|\|\|' in '\(x \|\|\| g\)' is not an operator"):
        parse_formula("y ~ (x ||| g)")


@pytest.mark.parametrize(
    ("formula", "piece"),
    [
        ("y ~ (x - z || g)", "'- z'"),
        ("y ~ (x/z || g)", "'x/z'"),
        ("y ~ (x**2 || g)", r"'x\*\*2'"),
        ("y ~ ((x + z):w || g)", r"'\(x \+ z\):w'"),
    ],
)
def test_double_bar_with_unsplittable_left_side(formula: str, piece: str) -> None:
    with pytest.raises(FormulaError, match=rf"cannot split {piece} in the uncorrelated term"):
        parse_formula(formula)


@pytest.mark.parametrize("formula", ["y ~ (0 || g)", "y ~ (0 | g)", "y ~ (-1 | g)"])
def test_random_term_without_effects(formula: str) -> None:
    with pytest.raises(FormulaError, match=r"has no effects.*\(0 \+ x \| group\)"):
        parse_formula(formula)


@pytest.mark.parametrize(
    ("formula", "where"),
    [("y ~ x +", "at the end"), ("y ~ x + + z", "between '\\+' and '\\+'")],
)
def test_empty_term(formula: str, where: str) -> None:
    with pytest.raises(FormulaError, match=f"empty term {where}"):
        parse_formula(formula)


def test_formula_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_formula("y")
