"""Validation rules as data: parse each side's expression and evaluate a rule set over a
wide frame (one row per area and date, one column per indicator) in one pass per rule.

A side is an arithmetic expression of indicator codes, ``population`` and numbers with
``+ - * /`` and parentheses. DHIS2's semantics:

- a side's *items* are the names it uses; its missing-value strategy says when the rule is
  skipped: ``SKIP_IF_ANY_VALUE_MISSING`` (any item missing), ``SKIP_IF_ALL_VALUES_MISSING``
  (every item missing; a side of numbers only is never "all missing") or ``NEVER_SKIP``;
  a side that is evaluated counts its missing items as zero;
- a side that divides by zero has no value and the rule is skipped;
- ``compulsory_pair``: if one side has a value, the other must too; ``exclusive_pair``: the
  two sides must not both have values (their strategies do not apply).
"""

from __future__ import annotations

import ast
import operator as op
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import polars as pl
from django.utils.translation import gettext as _

POPULATION = "population"
_BINARY: dict[type[ast.operator], Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    ast.Add: op.add,
    ast.Sub: op.sub,
    ast.Mult: op.mul,
    ast.Div: op.truediv,
}
COMPARE: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "equal_to": lambda a, b: (a - b).abs() <= 1e-9,
    "not_equal_to": lambda a, b: (a - b).abs() > 1e-9,
    "greater_than": lambda a, b: a > b,
    "greater_than_or_equal_to": lambda a, b: a >= b - 1e-9,
    "less_than": lambda a, b: a < b,
    "less_than_or_equal_to": lambda a, b: a <= b + 1e-9,
}
PAIRS = ("compulsory_pair", "exclusive_pair")
STRATEGIES = ("SKIP_IF_ANY_VALUE_MISSING", "SKIP_IF_ALL_VALUES_MISSING", "NEVER_SKIP")
MAX_LENGTH = 300


class ExpressionError(ValueError):
    """A side that cannot be parsed, or names something that is not an indicator."""


@dataclass(frozen=True)
class Side:
    text: str
    items: tuple[str, ...]
    tree: ast.expr

    def value(self) -> pl.Expr:
        """The side's value, missing items counted as zero; null where it divides by zero."""
        return _to_polars(self.tree)


@dataclass(frozen=True)
class Rule:
    code: str
    left: Side
    operator: str
    right: Side
    left_missing: str = "SKIP_IF_ALL_VALUES_MISSING"
    right_missing: str = "SKIP_IF_ALL_VALUES_MISSING"
    severity: str = "warn"

    @property
    def items(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.left.items + self.right.items))


def parse_side(text: str, known: Iterable[str]) -> Side:
    """Parse one side; ``known`` are the indicator codes it may name (and ``population``)."""
    if not text or not text.strip():
        raise ExpressionError(_("the expression is empty"))
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            _("the expression is longer than %(n)d characters") % {"n": MAX_LENGTH}
        )
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise ExpressionError(_("not an expression: %(text)s") % {"text": text}) from None
    allowed = set(known) | {POPULATION}
    items: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id not in allowed:
                raise ExpressionError(_("unknown indicator %(name)s") % {"name": node.id})
            items.append(node.id)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise ExpressionError(_("only numbers may appear as constants"))
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise ExpressionError(_("only + - * / and parentheses are allowed"))
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub | ast.UAdd):
                raise ExpressionError(_("only + - * / and parentheses are allowed"))
        elif not isinstance(node, ast.operator | ast.unaryop | ast.Load):
            raise ExpressionError(_("only + - * / and parentheses are allowed"))
    return Side(text.strip(), tuple(dict.fromkeys(items)), tree)


def _to_polars(node: ast.expr) -> pl.Expr:
    if isinstance(node, ast.Name):
        return pl.col(node.id).cast(pl.Float64).fill_null(0.0)
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)
        return pl.lit(float(node.value))
    if isinstance(node, ast.UnaryOp):
        inner = _to_polars(node.operand)
        return -inner if isinstance(node.op, ast.USub) else inner
    assert isinstance(node, ast.BinOp)
    left, right = _to_polars(node.left), _to_polars(node.right)
    if isinstance(node.op, ast.Div):
        return pl.when(right == 0).then(None).otherwise(left / right)
    return _BINARY[type(node.op)](left, right)


def make_rule(
    code: str,
    left: str,
    operator: str,
    right: str,
    known: Iterable[str],
    *,
    left_missing: str = "SKIP_IF_ALL_VALUES_MISSING",
    right_missing: str = "SKIP_IF_ALL_VALUES_MISSING",
    severity: str = "warn",
) -> Rule:
    """A checked rule; raises :class:`ExpressionError` naming the side that is wrong."""
    known = list(known)
    if operator not in COMPARE and operator not in PAIRS:
        raise ExpressionError(_("unknown operator %(op)s") % {"op": operator})
    for strategy in (left_missing, right_missing):
        if strategy not in STRATEGIES:
            raise ExpressionError(_("unknown missing-value strategy %(s)s") % {"s": strategy})
    sides = []
    for name, text in (("left", left), ("right", right)):
        try:
            sides.append(parse_side(text, known))
        except ExpressionError as exc:
            raise ExpressionError(f"{name}: {exc}") from None
    return Rule(code, sides[0], operator, sides[1], left_missing, right_missing, severity)


def _present(frame: pl.DataFrame, items: tuple[str, ...]) -> tuple[pl.Expr, pl.Expr]:
    """(number of items present, number of items) of a side."""
    cols = [pl.col(i).is_not_null().cast(pl.Int32) for i in items if i in frame.columns]
    present = pl.sum_horizontal(cols) if cols else pl.lit(0)
    return present, pl.lit(len(items))


def _skipped(strategy: str, present: pl.Expr, n: pl.Expr, n_items: int) -> pl.Expr:
    if strategy == "NEVER_SKIP":
        return pl.lit(False)
    if strategy == "SKIP_IF_ANY_VALUE_MISSING":
        return present < n
    return pl.lit(False) if n_items == 0 else present == 0


def evaluate(rules: Iterable[Rule], wide: pl.DataFrame) -> pl.DataFrame:
    """Every violation of ``rules`` in ``wide`` (columns ``area_code``, ``date``, indicator
    codes, optional ``population``): ``rule, area_code, date, left, right``."""
    schema = {
        "rule": pl.String,
        "area_code": pl.String,
        "date": pl.Date,
        "left": pl.Float64,
        "right": pl.Float64,
    }
    found = [pl.DataFrame(schema=schema)]
    for rule in rules:
        frame = wide
        for item in rule.items:
            if item not in frame.columns:
                frame = frame.with_columns(pl.lit(None, pl.Float64).alias(item))
        lp, ln = _present(frame, rule.left.items)
        rp, rn = _present(frame, rule.right.items)
        left, right = rule.left.value(), rule.right.value()
        if rule.operator in PAIRS:
            has_l = (lp > 0) if rule.left.items else pl.lit(True)
            has_r = (rp > 0) if rule.right.items else pl.lit(True)
            bad = has_l != has_r if rule.operator == "compulsory_pair" else has_l & has_r
            left = pl.when(has_l).then(left).otherwise(None)
            right = pl.when(has_r).then(right).otherwise(None)
        else:
            skip = (
                _skipped(rule.left_missing, lp, ln, len(rule.left.items))
                | _skipped(rule.right_missing, rp, rn, len(rule.right.items))
                | left.is_null()
                | right.is_null()
            )
            bad = ~skip & ~COMPARE[rule.operator](left, right)
        hits = frame.filter(bad.fill_null(False)).select(
            pl.lit(rule.code).alias("rule"),
            pl.col("area_code").cast(pl.String),
            pl.col("date").cast(pl.Date),
            left.cast(pl.Float64).alias("left"),
            right.cast(pl.Float64).alias("right"),
        )
        found.append(hits)
    return pl.concat(found)
