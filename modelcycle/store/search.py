"""The run filter language, parsed into a small tree; store/sql_search.py turns the tree into
SQLAlchemy expressions (never into SQL text).

    metrics.auc > 0.9 and (params.model = 'rf' or params.model in ('xgb', 'lgbm'))
      and tags.team != 'old' and name like 'cv-%' and end_time is not null

Identifiers are ``metrics.<key>``, ``params.<key>``, ``tags.<key>`` or an attribute (``status``,
``name``, ``start_time``, ``end_time``, ``run_id``, ``experiment_id``, ``parent_id``, optionally
prefixed by ``attributes.``). Keys with spaces or dots go in backticks or double quotes:
``metrics.`val loss```. A comparison with a key the run does not have is false; use
``is null`` to find runs without it. A number compared with a param or tag is its text as
written; a NaN metric equals ``nan`` only and is neither less nor greater than any number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Union

from modelcycle.exceptions import InvalidInput
from modelcycle.store.validation import check_text

ATTRIBUTES = {
    "status": "status", "name": "name", "run_name": "name", "start_time": "start_time",
    "end_time": "end_time", "run_id": "id", "id": "id", "experiment_id": "experiment_id",
    "parent_id": "parent_id",
}
TIME_ATTRIBUTES = {"start_time", "end_time"}
NUMERIC_ATTRIBUTES = {"start_time", "end_time", "experiment_id"}
ENTITY_PREFIXES = {
    "metrics": "metric", "metric": "metric", "params": "param", "param": "param",
    "tags": "tag", "tag": "tag", "attributes": "attribute", "attribute": "attribute",
    "attr": "attribute", "run": "attribute",
}
COMPARISON_OPS = {"=", "==", "!=", "<>", "<", "<=", ">", ">="}
# Beyond these a filter is refused here, before the database refuses it with an error that
# reads like an outage (SQLite's parser stack and expression depth, PostgreSQL's parameter count).
MAX_FILTER_DEPTH = 20  # nested parentheses and 'not'
MAX_FILTER_COMPARISONS = 200
MAX_FILTER_VALUES = 10_000  # over all 'in' lists
MAX_ORDER_BY_CLAUSES = 100


class FilterSyntaxError(InvalidInput):
    def __init__(self, text: str, position: int, problem: str, what: str = "filter"):
        pointer = " " * position + "^"
        super().__init__(f"Invalid {what} at position {position}: {problem}\n  {text}\n  {pointer}")
        self.position = position


@dataclass(frozen=True)
class Field:
    kind: str  # metric | param | tag | attribute
    key: str   # for attributes: the column name


@dataclass(frozen=True)
class Comparison:
    field: Field
    op: str        # = != < <= > >= in not in like not like ilike not ilike is null is not null
    value: object  # float, str, tuple of those, or None


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Union[Comparison, BoolOp, Not]


@dataclass(frozen=True)
class OrderKey:
    field: Field
    ascending: bool


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])|[-+](?i:infinity|inf|nan)(?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<backtick>`[^`]*`)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<dot>\.)
  | (?P<word>[A-Za-z_][\w\-:/]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "like", "ilike", "is", "null", "true", "false", "nan", "inf",
             "infinity"}


class Number(float):
    """A number as written in a filter: compared with metrics and numeric attributes by its
    value, with params and tags (text) by its text, so that ``params.alpha = 1.0`` means the
    text "1.0"."""

    text: str

    def __new__(cls, text: str) -> Number:
        number = super().__new__(cls, text)
        number.text = text
        return number

    def exact(self) -> int | float:
        """An integer literal as the exact int (within the 64 bits a database compares), else the float."""
        if _INTEGER_LITERAL.fullmatch(self.text):
            whole = int(self.text)
            if -(2**63) <= whole < 2**63:
                return whole
        return float(self)


_INTEGER_LITERAL = re.compile(r"[-+]?[0-9]+")


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "word" else ""


def _tokenize(text: str, what: str = "filter") -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            problem = "unterminated string." if text[pos] in "'\"`" else \
                f"unexpected character {text[pos]!r}."
            raise FilterSyntaxError(text, pos, problem, what)
        if m.lastgroup != "ws":
            tokens.append(_Token(m.lastgroup, m.group(), pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _unquote(token: _Token) -> str:
    body = token.text[1:-1]
    if token.kind == "string" and token.text[0] == "'":
        body = body.replace("''", "'")
    return re.sub(r"\\(.)", r"\1", body) if token.kind == "string" else body


class _Parser:
    def __init__(self, text: str, what: str = "filter"):
        self.text = text
        self.what = what
        self.tokens = _tokenize(text, what)
        self.i = 0
        self.depth = 0
        self.comparisons = 0
        self.values = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def fail(self, token: _Token, problem: str) -> FilterSyntaxError:
        return FilterSyntaxError(self.text, token.pos, problem, self.what)

    def expect(self, kind: str, what: str) -> _Token:
        token = self.peek()
        if token.kind != kind:
            found = f"{token.text!r}" if token.text else "the end of the filter"
            raise self.fail(token, f"expected {what}, found {found}.")
        return self.take()

    # grammar: or := and ('or' and)* ; and := unary ('and' unary)* ; unary := 'not' unary | atom
    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise self.fail(self.peek(), "the filter is empty.")
        node = self.parse_or()
        if self.peek().kind != "end":
            raise self.fail(self.peek(), f"expected 'and', 'or' or the end, found {self.peek().text!r}.")
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.peek().word == "or":
            self.take()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_unary()]
        while self.peek().word == "and":
            self.take()
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def parse_unary(self) -> Node:
        token = self.peek()
        if token.word != "not" and token.kind != "lparen":
            return self.parse_comparison()
        if self.depth == MAX_FILTER_DEPTH:
            raise self.fail(token, f"the filter nests parentheses and 'not' more than "
                                   f"{MAX_FILTER_DEPTH} levels deep; write it flatter.")
        self.take()
        self.depth += 1
        if token.word == "not":
            node: Node = Not(self.parse_unary())
        else:
            node = self.parse_or()
            self.expect("rparen", "')'")
        self.depth -= 1
        return node

    def parse_field(self) -> Field:
        return parse_field_tokens(self)

    def parse_comparison(self) -> Comparison:
        if self.comparisons == MAX_FILTER_COMPARISONS:
            raise self.fail(self.peek(), f"the filter has more than {MAX_FILTER_COMPARISONS} "
                                         "comparisons; split the search.")
        self.comparisons += 1
        field = self.parse_field()
        token = self.peek()
        if token.kind == "op":
            self.take()
            op = {"==": "=", "<>": "!="}.get(token.text, token.text)
            value = self.parse_value()
            return self.check(field, op, value, token)
        negate = False
        if token.word == "not":
            self.take()
            negate = True
            token = self.peek()
        if token.word in ("in", "like", "ilike"):
            self.take()
            op = ("not " if negate else "") + token.word
            if token.word == "in":
                value: object = self.parse_list()
            else:
                value = self.parse_value()
                if not isinstance(value, str):
                    raise self.fail(token, f"'{token.word}' takes a quoted pattern such as 'cv-%'.")
            return self.check(field, op, value, token)
        if token.word == "is" and not negate:
            self.take()
            op = "is null"
            if self.peek().word == "not":
                self.take()
                op = "is not null"
            if self.peek().word != "null":
                raise self.fail(self.peek(), "expected 'null' after 'is' / 'is not'.")
            self.take()
            return Comparison(field, op, None)
        found = repr(token.text) if token.text else "the end of the filter"
        raise self.fail(token, f"expected a comparison (=, !=, <, <=, >, >=, in, like, is null) "
                               f"after {self.describe(field)}, found {found}.")

    def parse_list(self) -> tuple:
        self.expect("lparen", "'(' to open the list")
        values = [self.parse_value()]
        while self.peek().kind == "comma":
            self.take()
            values.append(self.parse_value())
        self.expect("rparen", "')' to close the list")
        self.values += len(values)
        if self.values > MAX_FILTER_VALUES:
            raise self.fail(self.tokens[self.i - 1], f"the 'in' lists of the filter hold more than "
                                                     f"{MAX_FILTER_VALUES} values; split the search.")
        return tuple(values)

    def parse_value(self) -> object:
        token = self.take()
        if token.kind == "number":
            return Number(token.text)
        if token.kind == "string":
            return _unquote(token)
        if token.word in ("true", "false"):
            return token.word
        if token.word in ("nan", "inf", "infinity"):
            return Number(token.text)
        found = repr(token.text) if token.text else "the end of the filter"
        raise self.fail(token, f"expected a value (a number or a quoted string), found {found}.")

    @staticmethod
    def describe(field: Field) -> str:
        return f"{field.kind} {field.key!r}" if field.kind != "attribute" else f"attribute {field.key!r}"

    def check(self, field: Field, op: str, value: object, token: _Token) -> Comparison:
        values = value if isinstance(value, tuple) else (value,)
        if field.kind == "metric":
            if op in ("like", "not like", "ilike", "not ilike"):
                raise self.fail(token, f"metrics are numbers; '{op}' applies to params, tags and names.")
            offending = next((v for v in values if not isinstance(v, float)), None)
            if offending is not None:
                raise self.fail(token, f"metric {field.key!r} is a number; compare it with a number, "
                                       f"not {offending!r}.")
            value = tuple(float(v) for v in values) if isinstance(value, tuple) else float(value)
        elif field.kind in ("param", "tag"):
            if op in ("<", "<=", ">", ">="):
                raise self.fail(token, f"{field.kind}s are text; '{op}' is not defined on them. "
                                       "Log numbers you want to compare as metrics.")
            value = tuple(_as_text(v) for v in values) if isinstance(value, tuple) else _as_text(value)
        else:
            column = field.key
            if column in TIME_ATTRIBUTES:
                value = tuple(_as_time(v, self, token) for v in values) if isinstance(value, tuple) \
                    else _as_time(value, self, token)
            elif column in NUMERIC_ATTRIBUTES:
                offending = next((v for v in values if not isinstance(v, float)), None)
                if offending is not None:
                    raise self.fail(token, f"{column} is a number; compare it with a number, "
                                           f"not {offending!r}.")
                value = tuple(v.exact() for v in values) if isinstance(value, tuple) else value.exact()
            else:
                if op in ("<", "<=", ">", ">=") and column != "name":
                    raise self.fail(token, f"'{op}' is not defined on {column}.")
                value = tuple(_as_text(v) for v in values) if isinstance(value, tuple) else _as_text(value)
                if column == "status":
                    value = tuple(v.upper() for v in value) if isinstance(value, tuple) else value.upper()
        return Comparison(field, op, value)


def _as_text(value: object) -> str:
    return value.text if isinstance(value, Number) else str(value)


def _as_time(value: object, parser: _Parser, token: _Token) -> int | float:
    if isinstance(value, Number):
        return value.exact()
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise parser.fail(token, f"times are milliseconds since the epoch or ISO dates such as "
                                 f"'2026-01-31T12:00'; got {value!r}.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp() * 1000


def parse_field_tokens(parser: _Parser) -> Field:
    token = parser.take()
    if token.kind not in ("word", "backtick", "string") or token.word in _KEYWORDS - {"name"}:
        found = repr(token.text) if token.text else "the end of the filter"
        raise parser.fail(token, f"expected a field such as metrics.auc, params.model, tags.team "
                                 f"or status, found {found}.")
    name = _unquote(token) if token.kind != "word" else token.text
    if parser.peek().kind == "dot" and token.kind == "word":
        prefix = ENTITY_PREFIXES.get(name.lower())
        if prefix is None:
            raise parser.fail(token, f"unknown field kind {name!r}; use metrics., params., tags. "
                                     "or attributes.")
        parser.take()
        key_token = parser.take()
        if key_token.kind not in ("word", "backtick", "string"):
            raise parser.fail(key_token, f"expected a key after '{name}.'.")
        key = _unquote(key_token) if key_token.kind != "word" else key_token.text
        # Unquoted keys may contain dots: metrics.val.loss
        while key_token.kind == "word" and parser.peek().kind == "dot":
            parser.take()
            key_token = parser.expect("word", "the rest of the key")
            key += "." + key_token.text
        if prefix == "attribute":
            return _attribute(parser, key_token, key)
        return Field(prefix, key)
    if token.kind != "word":
        raise parser.fail(token, "a quoted name needs a kind: metrics.`...`, params.`...` or tags.`...`.")
    return _attribute(parser, token, name)


def _attribute(parser: _Parser, token: _Token, name: str) -> Field:
    column = ATTRIBUTES.get(name.lower())
    if column is None:
        raise parser.fail(token, f"unknown attribute {name!r}; attributes are "
                                 f"{', '.join(sorted(set(ATTRIBUTES) - {'id', 'run_name'}))}. "
                                 "Did you mean metrics.{0}, params.{0} or tags.{0}?".format(name))
    return Field("attribute", column)


def parse_filter(text: str | None) -> Node | None:
    if text is None or not text.strip():
        return None
    return _Parser(check_text("The filter", text)).parse()


def parse_order_by(items: list[str] | tuple[str, ...] | None) -> list[OrderKey]:
    if items is not None and len(items) > MAX_ORDER_BY_CLAUSES:
        raise InvalidInput(f"At most {MAX_ORDER_BY_CLAUSES} order-by clauses are allowed; got "
                           f"{len(items)}. Order by the few fields that decide the order.")
    keys = []
    for item in items or ():
        parser = _Parser(check_text("The order-by clause", item))
        if parser.peek().kind == "end":
            raise FilterSyntaxError(item, 0, "an order-by clause is empty.")
        field = parser.parse_field()
        ascending = True
        token = parser.peek()
        if token.word in ("asc", "desc"):
            parser.take()
            ascending = token.word == "asc"
        if parser.peek().kind != "end":
            raise parser.fail(parser.peek(), "expected ASC, DESC or the end of the clause.")
        keys.append(OrderKey(field, ascending))
    return keys


MAX_COLUMNS = 1000


def parse_columns(items: list[str] | tuple[str, ...]) -> list[Field]:
    """Columns of a run table: ``params.<key>``, ``metrics.<key>`` or ``tags.<key>``, a key with
    spaces or backticks quoted as in filters (``metrics.`val loss```); unquoted keys may hold dots."""
    if isinstance(items, str):
        raise InvalidInput(f"columns must be a list such as ['params.lr', 'metrics.loss']; got {items!r}.")
    if len(items) > MAX_COLUMNS:
        raise InvalidInput(f"At most {MAX_COLUMNS} columns are allowed; got {len(items)}. Choose the "
                           "columns the table shows.")
    fields = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInput(f"A column is a string such as 'metrics.loss'; got {item!r}.")
        parser = _Parser(check_text("A column", item), "column")
        if parser.peek().kind == "end":
            raise parser.fail(parser.peek(), "a column is empty; name one such as metrics.loss.")
        start = parser.peek()
        field = parser.parse_field()
        if field.kind == "attribute":
            raise parser.fail(start, f"a column is params.<key>, metrics.<key> or tags.<key>; "
                                     f"{field.key!r} is an attribute, which every run has.")
        if parser.peek().kind != "end":
            raise parser.fail(parser.peek(), "expected the end of the column; quote a key with spaces "
                                             "in backticks: metrics.`val loss`.")
        fields.append(field)
    return fields
