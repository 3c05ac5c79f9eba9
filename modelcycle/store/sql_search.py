"""Turn a parsed filter and order-by into SQLAlchemy expressions over the runs table."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import ColumnElement, FromClause, and_, bindparam, exists, false, not_, or_, select, true

from modelcycle.store import schema as t
from modelcycle.store.search import BoolOp, Comparison, Field, Node, Not, OrderKey

_ENTITY_TABLES = {"metric": t.latest_metrics, "param": t.params, "tag": t.tags}


def _value_of(field: Field) -> ColumnElement:
    if field.kind == "attribute":
        return t.runs.c[field.key]
    table = _ENTITY_TABLES[field.kind]
    return (
        select(table.c.value)
        .where(table.c.run_id == t.runs.c.id, table.c.key == field.key)
        .scalar_subquery()
    )


def _has_key(field: Field) -> ColumnElement:
    table = _ENTITY_TABLES[field.kind]
    return exists().where(table.c.run_id == t.runs.c.id, table.c.key == field.key)


def _compare(column: ColumnElement, op: str, value: object) -> ColumnElement:
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "in":
        return column.in_(list(value))
    if op == "not in":
        return column.not_in(list(value))
    if op == "like":
        return column.like(value)
    if op == "not like":
        return column.not_like(value)
    if op == "ilike":
        return column.ilike(value)
    if op == "not ilike":
        return column.not_ilike(value)
    raise AssertionError(op)


def compile_search(node: Node | None) -> tuple[FromClause, ColumnElement]:
    """The runs table joined to the rows that the filter's top-level comparisons require, and
    the rest of the filter as a condition. A run matches a comparison on a metric, param or tag
    exactly when it has a row of that key whose value compares true, so those comparisons
    become inner joins, one per comparison: the database may then start from the index of
    values (latest_metrics' (key, value)) instead of probing every run of the experiments."""
    conjuncts = node.items if isinstance(node, BoolOp) and node.op == "and" else (node,) if node else ()
    source, rest = t.runs, []
    for item in conjuncts:
        if (isinstance(item, Comparison) and item.field.kind != "attribute"
                and item.op not in ("is null", "is not null") and not _asks_nan(item)):
            table = _ENTITY_TABLES[item.field.kind].alias()
            matches = _compare(table.c.value, item.op, item.value)
            if _differs_from_nan(item):
                matches = or_(matches, table.c.value.is_(None))
            source = source.join(table, and_(table.c.run_id == t.runs.c.id, table.c.key == item.field.key,
                                             matches))
        else:
            rest.append(compile_filter(item))
    return source, and_(true(), *rest)


def _asks_nan(node: Comparison) -> bool:
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    return node.field.kind == "metric" and any(math.isnan(v) for v in values)


def _differs_from_nan(node: Comparison) -> bool:
    """A metric compared by `!=` or `not in` with numbers only: true where its value is NaN."""
    return node.field.kind == "metric" and node.op in ("!=", "not in") and not _asks_nan(node)


def compile_filter(node: Node | None) -> ColumnElement:
    if node is None:
        return true()
    if isinstance(node, BoolOp):
        parts = [compile_filter(item) for item in node.items]
        return and_(*parts) if node.op == "and" else or_(*parts)
    if isinstance(node, Not):
        return not_(compile_filter(node.item))
    assert isinstance(node, Comparison)
    field, op, value = node.field, node.op, node.value
    if op in ("is null", "is not null"):
        if field.kind == "attribute":
            column = t.runs.c[field.key]
            return column.is_(None) if op == "is null" else column.is_not(None)
        return ~_has_key(field) if op == "is null" else _has_key(field)
    column = _value_of(field)
    # Two-valued logic: a run without the key fails the comparison (instead of yielding SQL
    # NULL), so that `not <comparison>` matches it, as the filter language documents. `IS TRUE`
    # does it with one evaluation of the column's subquery, where `x IS NOT NULL AND x > v` took two.
    if field.kind == "metric" and (_asks_nan(node) or _differs_from_nan(node)):
        # NaN is stored as NULL: it equals only NaN, and is never less or greater than anything;
        # `!=` and `not in` are true wherever `=` and `in` are false, on a run with the key.
        numbers = [v for v in (value if isinstance(value, tuple) else (value,)) if not math.isnan(v)]
        is_nan = and_(_has_key(field), column.is_(None))
        asks_nan = len(numbers) < (len(value) if isinstance(value, tuple) else 1)
        if op in ("=", "in"):
            hit = column.in_(numbers).is_(true()) if numbers else false()
            return or_(is_nan, hit) if asks_nan else hit
        if op in ("!=", "not in"):
            miss = column.not_in(numbers).is_(true()) if numbers else column.is_not(None)
            return miss if asks_nan else or_(miss, is_nan)
        return false()
    return _compare(column, op, value).is_(true())


@dataclass(frozen=True)
class SortColumn:
    expression: ColumnElement
    ascending: bool
    kind: type  # of its values (float, int or str), which page tokens carry


_INTEGER_ATTRIBUTES = {"start_time", "end_time", "experiment_id"}
_TIEBREAKERS = (OrderKey(Field("attribute", "start_time"), False), OrderKey(Field("attribute", "id"), True))


def sort_columns(keys: list[OrderKey]) -> list[SortColumn]:
    """What a search is ordered by: each key's field once (a repeated field cannot change the
    order), then the newest start first and the run id, so that every run has one place."""
    columns, seen = [], set()
    for key in [*keys, *_TIEBREAKERS]:
        if key.field in seen:
            continue
        seen.add(key.field)
        field = key.field
        kind = float if field.kind == "metric" else \
            int if field.kind == "attribute" and field.key in _INTEGER_ATTRIBUTES else str
        columns.append(SortColumn(_value_of(field), key.ascending, kind))
    return columns


def ordered(column: ColumnElement, ascending: bool) -> ColumnElement:
    """NULLs (a key the run lacks, or NaN) come last in both directions."""
    return (column.asc() if ascending else column.desc()).nulls_last()


def compile_order_by(keys: list[OrderKey]) -> list[ColumnElement]:
    return [ordered(c.expression, c.ascending) for c in sort_columns(keys)]


def after_place(columns: list[tuple[ColumnElement, bool]], names: list[str],
                nulls: tuple[bool, ...]) -> ColumnElement:
    """The rows that come after a place in the order: the place's values are the parameters
    ``names``, and ``nulls`` says which of them are NULL (those compare with IS NULL, and
    nothing but NULL follows them: NULLs are last). Flat (an OR of ANDs), as SQLite's parser
    takes only a few levels of nesting."""
    disjuncts = []
    for i, (column, ascending) in enumerate(columns):
        if nulls[i]:
            continue
        value = bindparam(names[i], type_=column.type)
        beyond = or_(column > value if ascending else column < value, column.is_(None))
        same = [c.is_(None) if nulls[j] else c == bindparam(names[j], type_=c.type)
                for j, (c, _asc) in enumerate(columns[:i])]
        disjuncts.append(and_(*same, beyond))
    return or_(false(), *disjuncts)
