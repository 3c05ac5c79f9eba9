"""Alert rules over the stored monitor metrics of each window, from YAML or the API.

    rules:
      - name: drift
        expr: drift_share >= 0.3
        resolve_threshold: 0.2        # fire at 0.3, resolve only below 0.2
        for: 1h
        keep_firing_for: 2h
        severity: warning
        labels: {team: risk}
        annotations: {summary: "{{ $labels.model }} v{{ $labels.version }} drifted: {{ $value | humanizePercentage }}"}
        actions: [retrain]
        min_rows: 500

An expression compares numbers built from metric names (``drift_share``, ``drift_score.x1``,
``latency_p99_ms``), ``reference.<metric>`` (the metric the version's run logged, as the promotion
gates read it), numbers, ``+ - * /``, ``abs() min() max()``, and joins comparisons with ``and``,
``or``, ``not``. A metric a window lacks (or NaN there) makes the comparison unknown: the rule
is not evaluated in that window, which says why.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Union

from modelcycle.exceptions import InvalidInput

SEVERITIES = ("info", "warning", "critical")
DEFAULT_MIN_ROWS = 100
MAX_EXPR_DEPTH = 30
RULE_FIELDS = ("name", "expr", "for", "keep_firing_for", "resolve_threshold", "resolve_when", "severity",
               "labels", "annotations", "actions", "min_rows")
FILE_FIELDS = ("rules", "min_rows", "notifications", "actions")
FUNCTIONS = {"abs": (1, 1), "min": (2, 8), "max": (2, 8)}
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


class RuleSyntaxError(InvalidInput):
    """A rule's expression or template, with the position of the problem pointed at."""

    def __init__(self, what: str, text: str, position: int, problem: str):
        pointer = " " * position + "^"
        super().__init__(f"Invalid {what} at position {position}: {problem}\n  {text}\n  {pointer}")
        self.position = position


# ------------------------------------------------------------------ the expression tree
@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Metric:
    name: str
    reference: bool = False  # reference.<name>

    @property
    def shown(self) -> str:
        return f"reference.{self.name}" if self.reference else self.name


@dataclass(frozen=True)
class Neg:
    item: Expr


@dataclass(frozen=True)
class Arith:
    op: str  # + - * /
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Compare:
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Logic:
    op: str  # and | or
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr = Union[Num, Metric, Neg, Arith, Call, Compare, Logic, Not]
_CONDITIONS = (Compare, Logic, Not)

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<name>[A-Za-z_]\w*(?:\.[\w\-]+)*|`[^`]+`)
  | (?P<op><=|>=|!=|==|<|>|\+|-|\*|/)
  | (?P<eq>=)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
""", re.VERBOSE)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "name" else ""


class _Parser:
    """or := and ('or' and)* ; and := not ('and' not)* ; not := 'not' not | cmp ;
    cmp := sum (op sum)? ; sum := prod (('+'|'-') prod)* ; prod := unary (('*'|'/') unary)* ;
    unary := '-' unary | number | metric | function '(' args ')' | '(' or ')'"""

    def __init__(self, text: str, what: str):
        self.text, self.what, self.i, self.depth = text, what, 0, 0
        self.tokens = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                raise RuleSyntaxError(what, text, pos, f"unexpected character {text[pos]!r}.")
            if m.lastgroup != "ws":
                self.tokens.append(_Token(m.lastgroup, m.group(), pos))
            pos = m.end()
        self.tokens.append(_Token("end", "", len(text)))

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        self.i += 1
        return self.tokens[self.i - 1]

    def fail(self, token: _Token, problem: str) -> RuleSyntaxError:
        return RuleSyntaxError(self.what, self.text, token.pos, problem)

    def found(self, token: _Token) -> str:
        return repr(token.text) if token.text else "the end of the expression"

    def parse(self) -> Expr:
        if self.peek().kind == "end":
            raise self.fail(self.peek(), "the expression is empty; write a condition such as drift_share > 0.3.")
        node = self.parse_or()
        token = self.peek()
        if token.kind != "end":
            raise self.fail(token, f"expected an operator, 'and', 'or' or the end, found {self.found(token)}.")
        return node

    def nest(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_EXPR_DEPTH:
            raise self.fail(token, f"the expression nests more than {MAX_EXPR_DEPTH} levels deep; write it flatter.")

    def parse_or(self) -> Expr:
        start = self.peek()
        items = [self.parse_and()]
        while self.peek().word == "or":
            items.append(self.condition(self.take(), self.parse_and(), "or"))
        if len(items) > 1:
            self.condition(start, items[0], "or")
        return items[0] if len(items) == 1 else Logic("or", tuple(items))

    def parse_and(self) -> Expr:
        start = self.peek()
        items = [self.parse_not()]
        while self.peek().word == "and":
            items.append(self.condition(self.take(), self.parse_not(), "and"))
        if len(items) > 1:
            self.condition(start, items[0], "and")
        return items[0] if len(items) == 1 else Logic("and", tuple(items))

    def condition(self, token: _Token, node: Expr, op: str) -> Expr:
        if not isinstance(node, _CONDITIONS):
            raise self.fail(token, f"'{op}' joins conditions such as drift_share > 0.3, not numbers.")
        return node

    def parse_not(self) -> Expr:
        token = self.peek()
        if token.word != "not":
            return self.parse_compare()
        self.take()
        self.nest(token)
        item = self.parse_not()
        self.depth -= 1
        if not isinstance(item, _CONDITIONS):
            raise self.fail(token, "'not' takes a condition such as drift_share > 0.3, not a number.")
        return Not(item)

    def parse_compare(self) -> Expr:
        start = self.peek()
        left = self.parse_sum()
        token = self.peek()
        if token.kind == "eq":
            raise self.fail(token, "'=' is not a comparison; write '==' to compare for equality.")
        if token.kind != "op" or token.text not in COMPARISONS:
            return left
        self.take()
        right_start = self.peek()
        right = self.parse_sum()
        for side, at in ((left, start), (right, right_start)):
            if isinstance(side, _CONDITIONS):
                raise self.fail(at, "a comparison compares numbers; put a condition in parentheses only to join "
                                    "it with 'and' or 'or'.")
        if self.peek().kind == "op" and self.peek().text in COMPARISONS:
            raise self.fail(self.peek(), "comparisons do not chain; join them with 'and'.")
        return Compare(token.text, left, right)

    def parse_sum(self) -> Expr:
        left = self.parse_product()
        while self.peek().kind == "op" and self.peek().text in "+-":
            token = self.take()
            left = Arith(token.text, self.number(left, token), self.number(self.parse_product(), token))
        return left

    def parse_product(self) -> Expr:
        left = self.parse_unary()
        while self.peek().kind == "op" and self.peek().text in "*/":
            token = self.take()
            left = Arith(token.text, self.number(left, token), self.number(self.parse_unary(), token))
        return left

    def number(self, node: Expr, token: _Token) -> Expr:
        if isinstance(node, _CONDITIONS):
            raise self.fail(token, f"'{token.text}' takes numbers, not conditions.")
        return node

    def parse_unary(self) -> Expr:
        token = self.peek()
        if token.kind == "op" and token.text in "+-":
            self.take()
            self.nest(token)
            item = self.number(self.parse_unary(), token)
            self.depth -= 1
            return Neg(item) if token.text == "-" else item
        if token.kind == "number":
            self.take()
            return Num(float(token.text))
        if token.kind == "lparen":
            self.take()
            self.nest(token)
            node = self.parse_or()
            self.depth -= 1
            closing = self.peek()
            if closing.kind != "rparen":
                raise self.fail(closing, f"expected ')', found {self.found(closing)}.")
            self.take()
            return node
        if token.kind == "name":
            return self.parse_name()
        raise self.fail(token, f"expected a metric, a number or '(', found {self.found(token)}.")

    def parse_name(self) -> Expr:
        token = self.take()
        if token.word in ("and", "or", "not"):
            raise self.fail(token, f"expected a metric, a number or '(', found {token.text!r}.")
        if token.word in ("nan", "inf", "infinity"):
            return Num(float(token.word))
        if self.peek().kind == "lparen" and "." not in token.text and token.text[0] != "`":
            return self.parse_call(token)
        name = token.text[1:-1] if token.text[0] == "`" else token.text
        if name.startswith("reference."):
            name = name[len("reference."):]
            if not name:
                raise self.fail(token, "reference. takes a metric name, as in reference.roc_auc.")
            return Metric(name, reference=True)
        if name == "reference":
            raise self.fail(token, "reference takes a metric name, as in reference.roc_auc.")
        return Metric(name)

    def parse_call(self, name: _Token) -> Expr:
        if name.word not in FUNCTIONS:
            raise self.fail(name, f"unknown function {name.text!r}; the functions are {sorted(FUNCTIONS)}.")
        self.take()
        self.nest(name)
        args = []
        while True:
            start = self.peek()
            args.append(self.number(self.parse_sum(), start))
            if self.peek().kind == "comma":
                self.take()
                continue
            closing = self.peek()
            if closing.kind != "rparen":
                raise self.fail(closing, f"expected ',' or ')', found {self.found(closing)}.")
            self.take()
            break
        self.depth -= 1
        low, high = FUNCTIONS[name.word]
        if not low <= len(args) <= high:
            raise self.fail(name, f"{name.word}() takes {low if low == high else f'{low} to {high}'} "
                                  f"argument{'s' if high > 1 else ''}; got {len(args)}.")
        return Call(name.word, tuple(args))


def parse_expr(text: object, what: str = "expression") -> Expr:
    """The condition ``text`` as a tree; RuleSyntaxError (an InvalidInput) points at a problem."""
    if not isinstance(text, str):
        raise InvalidInput(f"The {what} is a string such as 'drift_share > 0.3'; got {text!r}.")
    node = _Parser(text, what).parse()
    if not isinstance(node, _CONDITIONS):
        raise RuleSyntaxError(what, text, 0, "the expression is a number, not a condition; compare it, as in "
                                             f"{text.strip()} > 0.3.")
    return node


# ------------------------------------------------------------------ evaluation
def metrics_of(node: Expr) -> list[Metric]:
    """The metrics ``node`` reads, in order, each once."""
    out: list[Metric] = []

    def walk(n):
        if isinstance(n, Metric):
            if n not in out:
                out.append(n)
        elif isinstance(n, (Neg, Not)):
            walk(n.item)
        elif isinstance(n, (Arith, Compare)):
            walk(n.left)
            walk(n.right)
        elif isinstance(n, Call):
            for a in n.args:
                walk(a)
        elif isinstance(n, Logic):
            for a in n.items:
                walk(a)

    walk(node)
    return out


def value_of(node: Expr, values: Mapping[str, float], reference: Mapping[str, float]) -> float:
    """A number expression's value; NaN where a metric is missing."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Metric):
        found = (reference if node.reference else values).get(node.name)
        return math.nan if found is None else float(found)
    if isinstance(node, Neg):
        return -value_of(node.item, values, reference)
    if isinstance(node, Call):
        args = [value_of(a, values, reference) for a in node.args]
        if any(math.isnan(a) for a in args):
            return math.nan
        return abs(args[0]) if node.function == "abs" else (min if node.function == "min" else max)(args)
    if isinstance(node, Arith):
        a, b = value_of(node.left, values, reference), value_of(node.right, values, reference)
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        return a / b if b != 0 else math.nan
    raise InvalidInput(f"{node!r} is a condition, not a number.")


def holds(node: Expr, values: Mapping[str, float], reference: Mapping[str, float]) -> bool | None:
    """Whether a condition holds: True, False, or None when a value it needs is missing or NaN."""
    if isinstance(node, Compare):
        a, b = value_of(node.left, values, reference), value_of(node.right, values, reference)
        if math.isnan(a) or math.isnan(b):
            return None
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[node.op]
    if isinstance(node, Not):
        inner = holds(node.item, values, reference)
        return None if inner is None else not inner
    if isinstance(node, Logic):
        found = [holds(i, values, reference) for i in node.items]
        if node.op == "and":
            return False if False in found else (None if None in found else True)
        return True if True in found else (None if None in found else False)
    raise InvalidInput(f"{node!r} is a number, not a condition.")


def first_comparison(node: Expr) -> Compare:
    while not isinstance(node, Compare):
        node = node.item if isinstance(node, Not) else node.items[0]  # type: ignore[union-attr]
    return node


def to_text(node: Expr) -> str:
    """The expression written back (fully parenthesised where it joins conditions)."""
    if isinstance(node, Num):
        return f"{node.value:g}"
    if isinstance(node, Metric):
        return node.shown
    if isinstance(node, Neg):
        return f"-{to_text(node.item)}"
    if isinstance(node, Call):
        return f"{node.function}({', '.join(to_text(a) for a in node.args)})"
    if isinstance(node, Arith):
        return f"({to_text(node.left)} {node.op} {to_text(node.right)})"
    if isinstance(node, Compare):
        return f"{to_text(node.left)} {node.op} {to_text(node.right)}"
    if isinstance(node, Not):
        return f"not ({to_text(node.item)})"
    return f" {node.op} ".join(f"({to_text(i)})" for i in node.items)  # type: ignore[union-attr]


# ------------------------------------------------------------------ templates
_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_PIPES = ("humanize", "humanizePercentage", "humanizeDuration", "printf")


def _check_template(text: object, what: str) -> str:
    if not isinstance(text, (str, int, float)) or isinstance(text, bool):
        raise InvalidInput(f"{what} is a string (a template such as '{{{{ $value }}}}'); got {text!r}.")
    text = str(text)
    for m in _TEMPLATE.finditer(text):
        _template_part(text, m, what, {}, check=True)
    rest = _TEMPLATE.sub(lambda m: " " * len(m.group()), text)
    if "{{" in rest:
        raise RuleSyntaxError(what, text, rest.index("{{"), "'{{' is not closed with '}}'.")
    return text


def _template_part(text: str, m: re.Match, what: str, context: Mapping[str, Any], check: bool = False) -> str:
    body = m.group(1)
    offset = m.start(1)
    parts = body.split("|")
    head = parts[0].strip()
    at = offset + (len(parts[0]) - len(parts[0].lstrip()))
    if head == "$value":
        value: Any = context.get("value")
    elif head == "$threshold":
        value = context.get("threshold")
    elif head.startswith("$labels."):
        value = (context.get("labels") or {}).get(head[len("$labels."):], "")
    elif head in ("$rule", "$model", "$version"):
        value = context.get(head[1:], "")
    else:
        raise RuleSyntaxError(what, text, at, f"unknown value {head!r}; use $value, $threshold, $labels.NAME, "
                                              "$rule, $model or $version.")
    pos = offset + len(parts[0])
    for pipe in parts[1:]:
        name, _, argument = pipe.strip().partition(" ")
        if name not in _PIPES:
            raise RuleSyntaxError(what, text, pos + 1, f"unknown function {name!r}; use {list(_PIPES)}.")
        if name == "printf":
            argument = argument.strip()
            if len(argument) < 2 or argument[0] != '"' or argument[-1] != '"':
                raise RuleSyntaxError(what, text, pos + 1, 'printf takes a quoted format such as "%.2f".')
            value = _printf(argument[1:-1], value, text, what, pos + 1)
        elif not check:
            value = _humanize(name, value)
        pos += len(pipe) + 1
    if check:
        return ""
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:g}"
    return "" if value is None else str(value)


def _printf(fmt: str, value: Any, text: str, what: str, pos: int) -> str:
    try:
        return fmt % (0.0 if value is None else value)
    except (TypeError, ValueError):
        raise RuleSyntaxError(what, text, pos, f"printf format {fmt!r} does not take one number.") from None


def _humanize(name: str, value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return "NaN" if isinstance(value, float) else str(value)
    if name == "humanizePercentage":
        return f"{value * 100:.4g}%"
    if name == "humanizeDuration":
        seconds = float(value)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if abs(seconds) >= size:
                return f"{seconds / size:.4g}{unit}"
        return f"{seconds:.4g}s"
    for prefix, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.4g}{prefix}"
    return f"{value:.4g}"


def render(template: str, context: Mapping[str, Any]) -> str:
    """``{{ $value }}``, ``{{ $labels.model }}``, ``{{ $value | humanizePercentage }}`` filled in."""
    return _TEMPLATE.sub(lambda m: _template_part(template, m, "template", context), template)


# ------------------------------------------------------------------ rules
def _duration_s(value: object, what: str) -> float:
    from modelcycle.monitoring.notify import parse_duration

    return parse_duration(value, what)


@dataclass(frozen=True)
class Rule:
    """One alert rule; build with ``Rule.create`` (checks everything) or ``load_rules``."""

    name: str
    expr: str
    condition: Expr
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    resolve_threshold: float | None = None
    resolve_when: str | None = None
    resolve_condition: Expr | None = None  # holds when a firing alert may resolve
    severity: str = "warning"
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    actions: tuple[str, ...] = ()
    min_rows: int | None = None  # None: the rule set's

    @classmethod
    def create(cls, name: str, expr: str, *, for_: object = 0, keep_firing_for: object = 0,
               resolve_threshold: float | None = None, resolve_when: str | None = None, severity: str = "warning",
               labels: Mapping[str, Any] | None = None, annotations: Mapping[str, Any] | None = None,
               actions: Any = (), min_rows: int | None = None) -> Rule:
        what = f"rule {name!r}" if isinstance(name, str) else "rule"
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][\w\-.:]{0,127}", name):
            raise InvalidInput(f"A rule's name is 1 to 128 letters, digits, '_', '-', '.' or ':' starting with a "
                               f"letter; got {name!r}.")
        condition = parse_expr(expr, f"expr of {what}")
        for_s = _duration_s(for_, f"for of {what}")
        keep_s = _duration_s(keep_firing_for, f"keep_firing_for of {what}")
        if severity not in SEVERITIES:
            raise InvalidInput(f"The severity of {what} is one of {list(SEVERITIES)}; got {severity!r}.")
        resolve_condition = None
        if resolve_threshold is not None and resolve_when is not None:
            raise InvalidInput(f"{what.capitalize()} has both resolve_threshold and resolve_when; give one.")
        if resolve_threshold is not None:
            resolve_condition = _hysteresis(condition, resolve_threshold, what, expr)
        elif resolve_when is not None:
            resolve_condition = parse_expr(resolve_when, f"resolve_when of {what}")
        checked_labels = {}
        for key, value in (labels or {}).items():
            if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_]\w*", key):
                raise InvalidInput(f"The label names of {what} are letters, digits and '_'; got {key!r}.")
            if key in ("alertname", "model", "version", "severity"):
                raise InvalidInput(f"Label {key!r} of {what} is set by the monitor; choose another name.")
            checked_labels[key] = _check_template(value, f"label {key} of {what}")
        checked_annotations = {str(k): _check_template(v, f"annotation {k} of {what}")
                               for k, v in (annotations or {}).items()}
        if isinstance(actions, str):
            actions = [actions]
        from modelcycle.monitoring.actions import ACTION_NAMES

        if not isinstance(actions, (list, tuple)) or not all(a in ACTION_NAMES for a in actions):
            raise InvalidInput(f"The actions of {what} are a list of {list(ACTION_NAMES)}; got {actions!r}.")
        if min_rows is not None and (isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 0):
            raise InvalidInput(f"min_rows of {what} is a whole number of at least 0; got {min_rows!r}.")
        return cls(name, expr, condition, for_s, keep_s,
                   None if resolve_threshold is None else float(resolve_threshold), resolve_when, resolve_condition,
                   severity, checked_labels, checked_annotations, tuple(actions), min_rows)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "expr": self.expr}
        if self.for_s:
            out["for"] = f"{self.for_s:g}s"
        if self.keep_firing_for_s:
            out["keep_firing_for"] = f"{self.keep_firing_for_s:g}s"
        if self.resolve_threshold is not None:
            out["resolve_threshold"] = self.resolve_threshold
        if self.resolve_when is not None:
            out["resolve_when"] = self.resolve_when
        out["severity"] = self.severity
        for key in ("labels", "annotations"):
            if getattr(self, key):
                out[key] = dict(getattr(self, key))
        if self.actions:
            out["actions"] = list(self.actions)
        if self.min_rows is not None:
            out["min_rows"] = self.min_rows
        return out

    @property
    def threshold_comparison(self) -> Compare:
        return first_comparison(self.condition)


def _hysteresis(condition: Expr, threshold: object, what: str, expr: str) -> Expr:
    """The condition under which a firing alert resolves: the comparison with the resolve
    threshold in place of its number, no longer holding."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise InvalidInput(f"resolve_threshold of {what} is a number; got {threshold!r}.")
    if not isinstance(condition, Compare) or not (isinstance(condition.right, Num) or isinstance(condition.left, Num)) \
            or condition.op in ("==", "!="):
        raise InvalidInput(f"resolve_threshold of {what} needs an expr comparing with a number by <, <=, > or >=, "
                           f"such as drift_share >= 0.3; {expr!r} is not. Use resolve_when for other conditions.")
    if isinstance(condition.right, Num):
        moved = replace(condition, right=Num(float(threshold)))
        old, fires_above = condition.right.value, condition.op in (">", ">=")
    else:
        moved = replace(condition, left=Num(float(threshold)))
        old, fires_above = condition.left.value, condition.op in ("<", "<=")
    if (fires_above and threshold > old) or (not fires_above and threshold < old):
        side = "at or below" if fires_above else "at or above"
        raise InvalidInput(f"resolve_threshold {threshold:g} of {what} must be {side} its firing threshold "
                           f"{old:g}: an alert resolves only past where it fired.")
    return Not(moved)


@dataclass(frozen=True)
class RuleSet:
    """Rules with the minimum rows a window needs before any of them alerts, and the settings of
    the notifications and actions they use (passed through to the Dispatcher and Actions)."""

    rules: tuple[Rule, ...]
    min_rows: int = DEFAULT_MIN_ROWS
    notifications: Mapping[str, Any] | None = None
    actions: Mapping[str, Any] | None = None

    def min_rows_of(self, rule: Rule) -> int:
        return self.min_rows if rule.min_rows is None else rule.min_rows

    def reference_metrics(self) -> list[str]:
        return sorted({m.name for r in self.rules for c in (r.condition, r.resolve_condition) if c is not None
                       for m in metrics_of(c) if m.reference})

    def to_dict(self) -> dict[str, Any]:
        return {"min_rows": self.min_rows, "rules": [r.to_dict() for r in self.rules]}


def _rule_from_mapping(item: object, index: int, line: int | None) -> Rule:
    where = f"rules[{index}]" + (f" (line {line})" if line else "")
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where} is a mapping with at least name and expr; got {item!r}.")
    unknown = sorted(set(item) - set(RULE_FIELDS))
    if unknown:
        raise InvalidInput(f"{where}: unknown field {unknown[0]!r}; the fields of a rule are {list(RULE_FIELDS)}.")
    for needed in ("name", "expr"):
        if needed not in item:
            raise InvalidInput(f"{where} has no {needed}; every rule needs a name and an expr.")
    try:
        return Rule.create(item["name"], item["expr"], for_=item.get("for", 0),
                           keep_firing_for=item.get("keep_firing_for", 0),
                           resolve_threshold=item.get("resolve_threshold"), resolve_when=item.get("resolve_when"),
                           severity=item.get("severity", "warning"), labels=_mapping(item, "labels", where),
                           annotations=_mapping(item, "annotations", where), actions=item.get("actions") or (),
                           min_rows=item.get("min_rows"))
    except InvalidInput as exc:
        out = InvalidInput(f"{where}: {exc}")
        out.position = getattr(exc, "position", None)  # type: ignore[attr-defined]
        raise out from None


def _mapping(item: Mapping, key: str, where: str) -> Mapping[str, Any] | None:
    value = item.get(key)
    if value is not None and not isinstance(value, Mapping):
        raise InvalidInput(f"{where}: {key} is a mapping of names to text; got {value!r}.")
    return value


def _lines(text: str) -> list[int | None]:
    """The line of each rule in a YAML text, for messages."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if key.value == "rules" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def load_rules(source: str | Path | Mapping[str, Any] | list) -> RuleSet:
    """A RuleSet from a YAML file's path, YAML text, a mapping ``{rules: [...], min_rows: N}`` or a
    list of rule mappings. Every problem is an InvalidInput naming the rule and where."""
    import yaml

    lines: list[int | None] = []
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and source.endswith(
            (".yaml", ".yml"))):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"Cannot read the rules file {str(path)!r}: {exc.strerror or exc}.") from None
        source = text
    if isinstance(source, str):
        try:
            data = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            raise InvalidInput(f"The rules are not valid YAML{where}: {getattr(exc, 'problem', exc)}.") from None
        lines = _lines(source)
    else:
        data = source
    if isinstance(data, list):
        data = {"rules": data}
    if not isinstance(data, Mapping) or not isinstance(data.get("rules"), list):
        raise InvalidInput("The rules are a mapping with a 'rules' list, such as "
                           "{rules: [{name: drift, expr: drift_share >= 0.3}]}.")
    unknown = sorted(set(data) - set(FILE_FIELDS))
    if unknown:
        raise InvalidInput(f"Unknown top-level field {unknown[0]!r} in the rules; the fields are {list(FILE_FIELDS)}.")
    min_rows = data.get("min_rows", DEFAULT_MIN_ROWS)
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 0:
        raise InvalidInput(f"min_rows is a whole number of at least 0; got {min_rows!r}.")
    rules = [_rule_from_mapping(item, i, lines[i] if i < len(lines) else None) for i, item in enumerate(data["rules"])]
    names = [r.name for r in rules]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InvalidInput(f"Rule names must differ; {duplicated[0]!r} is used more than once.")
    for key in ("notifications", "actions"):
        if data.get(key) is not None and not isinstance(data[key], Mapping):
            raise InvalidInput(f"{key} is a mapping of settings; got {data[key]!r}.")
    return RuleSet(tuple(rules), min_rows, data.get("notifications"), data.get("actions"))


DEFAULT_RULES_YAML = """
min_rows: 100
rules:
  - name: error-rate
    expr: error_rate > 0.01
    for: 5m
    severity: critical
    annotations:
      summary: "{{ $labels.model }} v{{ $labels.version }} answers {{ $value | humanizePercentage }} of requests with an error"
  - name: p99-latency
    expr: latency_p99_ms > 500
    for: 10m
    severity: warning
    annotations:
      summary: "{{ $labels.model }} v{{ $labels.version }} p99 latency is {{ $value | printf \\"%.0f\\" }} ms"
  - name: drift
    expr: drift_share >= 0.3
    resolve_threshold: 0.2
    severity: warning
    annotations:
      summary: "{{ $value | humanizePercentage }} of the inputs of {{ $labels.model }} v{{ $labels.version }} drifted"
  - name: auc-drop
    expr: roc_auc < reference.roc_auc - 0.05 and labelled_rows >= 200
    severity: critical
    annotations:
      summary: "ROC AUC of {{ $labels.model }} v{{ $labels.version }} fell to {{ $value | printf \\"%.3f\\" }} (threshold {{ $threshold | printf \\"%.3f\\" }})"
"""


def default_rules() -> RuleSet:
    """Quiet on same-distribution traffic: errors over 1% for 5 minutes, p99 over 500 ms for 10
    minutes, a third of the inputs drifted (resolving below a fifth), ROC AUC 0.05 under the
    version's own evaluation once 200 rows are labelled."""
    return load_rules(DEFAULT_RULES_YAML)
