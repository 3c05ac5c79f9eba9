"""The run filter parser on its own: the trees it builds, the quoting it accepts, the errors
it reports (with the position of the problem), and order-by clauses."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from modelcycle import InvalidInput, Metric, ViewType
from modelcycle.store.search import (
    MAX_FILTER_COMPARISONS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_VALUES,
    MAX_ORDER_BY_CLAUSES,
    BoolOp,
    Comparison,
    Field,
    Not,
    OrderKey,
    parse_filter,
    parse_order_by,
)
from modelcycle.store.sql_search import compile_filter, compile_order_by


def metric(key: str, op: str, value) -> Comparison:
    return Comparison(Field("metric", key), op, value)


def param(key: str, op: str, value) -> Comparison:
    return Comparison(Field("param", key), op, value)


def tag(key: str, op: str, value) -> Comparison:
    return Comparison(Field("tag", key), op, value)


def attr(column: str, op: str, value) -> Comparison:
    return Comparison(Field("attribute", column), op, value)


# ---------------------------------------------------------------------------- trees
@pytest.mark.parametrize("text, tree", [
    ("metrics.auc > 0.9", metric("auc", ">", 0.9)),
    ("params.model = 'rf'", param("model", "=", "rf")),
    ("tags.team != 'old'", tag("team", "!=", "old")),
    ("metrics.a == 1", metric("a", "=", 1.0)),
    ("metrics.a <> 1", metric("a", "!=", 1.0)),
    ("metrics.a>=1", metric("a", ">=", 1.0)),
    ("metrics.a<=-2.5e-3", metric("a", "<=", -0.0025)),
    ("metrics.a < .5", metric("a", "<", 0.5)),
    ("metrics.a < +7", metric("a", "<", 7.0)),
    ("metrics.a = inf", metric("a", "=", math.inf)),
    ("params.m in ('a', \"b\", 3)", param("m", "in", ("a", "b", "3"))),
    ("params.m NOT IN ('a')", param("m", "not in", ("a",))),
    ("params.m like 'x%'", param("m", "like", "x%")),
    ("params.m not like 'x%'", param("m", "not like", "x%")),
    ("tags.t ILIKE '%X'", tag("t", "ilike", "%X")),
    ("tags.t not ilike '%X'", tag("t", "not ilike", "%X")),
    ("tags.t is null", tag("t", "is null", None)),
    ("tags.t IS NOT NULL", tag("t", "is not null", None)),
    ("params.depth = 6", param("depth", "=", "6")),  # numbers compared with text are text
    ("params.lr = 0.01", param("lr", "=", "0.01")),
    ("tags.flag = true", tag("flag", "=", "true")),
    ("name = 'it''s'", attr("name", "=", "it's")),
    ('params.q = "say \\"hi\\""', param("q", "=", 'say "hi"')),
    ("params.q = 'back\\\\slash'", param("q", "=", "back\\slash")),
    ("status = 'finished'", attr("status", "=", "FINISHED")),
    ("status in ('failed', 'Killed')", attr("status", "in", ("FAILED", "KILLED"))),
    ("start_time > 1700000000000", attr("start_time", ">", 1.7e12)),
    ("start_time > '1970-01-01T00:00:01'", attr("start_time", ">", 1000.0)),
    ("end_time < '1970-01-01T01:00:00+01:00'", attr("end_time", "<", 0.0)),
    ("end_time < '1970-01-01T00:00:00.250Z'", attr("end_time", "<", 250.0)),
    ("end_time is null", attr("end_time", "is null", None)),
    ("run_id = 'abc'", attr("id", "=", "abc")),
    ("id = 'abc'", attr("id", "=", "abc")),
    ("parent_id is not null", attr("parent_id", "is not null", None)),
    ("experiment_id in (1, 2)", attr("experiment_id", "in", (1.0, 2.0))),
    ("run_name = 'x'", attr("name", "=", "x")),
    ("attributes.status = 'running'", attr("status", "=", "RUNNING")),
    ("attribute.name = 'x'", attr("name", "=", "x")),
    ("attr.run_id = 'x'", attr("id", "=", "x")),
    ("run.name = 'x'", attr("name", "=", "x")),
    ("metric.a > 1", metric("a", ">", 1.0)),
    ("param.p = 'x'", param("p", "=", "x")),
    ("tag.t = 'x'", tag("t", "=", "x")),
    ("METRICS.a > 1", metric("a", ">", 1.0)),
])
def test_single_comparisons(text, tree):
    assert parse_filter(text) == tree


def test_nan_value():
    tree = parse_filter("metrics.a = NaN")
    assert tree.field == Field("metric", "a") and tree.op == "=" and math.isnan(tree.value)


def test_and_binds_tighter_than_or_and_not_tighter_than_and():
    assert parse_filter("metrics.a > 1 or metrics.b < 2 and not params.c = 'x'") == BoolOp("or", (
        metric("a", ">", 1.0),
        BoolOp("and", (metric("b", "<", 2.0), Not(param("c", "=", "x")))),
    ))
    assert parse_filter("(metrics.a > 1 or metrics.b < 2) and tags.t != 'y'") == BoolOp("and", (
        BoolOp("or", (metric("a", ">", 1.0), metric("b", "<", 2.0))),
        tag("t", "!=", "y"),
    ))
    assert parse_filter("not (metrics.a > 1 and metrics.b > 2)") == Not(
        BoolOp("and", (metric("a", ">", 1.0), metric("b", ">", 2.0))))
    assert parse_filter("not not metrics.a > 1") == Not(Not(metric("a", ">", 1.0)))


def test_chains_are_flat_and_redundant_parentheses_vanish():
    chain = parse_filter("metrics.a > 1 AND metrics.b > 2 and metrics.c > 3")
    assert chain == BoolOp("and", (metric("a", ">", 1.0), metric("b", ">", 2.0), metric("c", ">", 3.0)))
    assert parse_filter("((metrics.a > 1))") == metric("a", ">", 1.0)
    assert parse_filter("(metrics.a > 1) or ((metrics.b > 2) or metrics.c > 3)") == BoolOp("or", (
        metric("a", ">", 1.0), BoolOp("or", (metric("b", ">", 2.0), metric("c", ">", 3.0)))))


def test_the_example_of_the_module_docstring():
    tree = parse_filter(
        "metrics.auc > 0.9 and (params.model = 'rf' or params.model in ('xgb', 'lgbm'))\n"
        "  and tags.team != 'old' and name like 'cv-%' and end_time is not null")
    assert tree == BoolOp("and", (
        metric("auc", ">", 0.9),
        BoolOp("or", (param("model", "=", "rf"), param("model", "in", ("xgb", "lgbm")))),
        tag("team", "!=", "old"),
        attr("name", "like", "cv-%"),
        attr("end_time", "is not null", None),
    ))


@pytest.mark.parametrize("text, field", [
    ("metrics.`val loss` > 1", Field("metric", "val loss")),
    ('metrics."val loss" > 1', Field("metric", "val loss")),
    ("metrics.`val.loss` > 1", Field("metric", "val.loss")),
    ('params."opt.lr" = \'x\'', Field("param", "opt.lr")),
    ("tags.`my team. v2` = 'x'", Field("tag", "my team. v2")),
    ("metrics.val.loss > 1", Field("metric", "val.loss")),
    ("tags.mc.source.git.commit = 'x'", Field("tag", "mc.source.git.commit")),
    ("metrics.train/loss > 1", Field("metric", "train/loss")),
    ("metrics.f1-score > 1", Field("metric", "f1-score")),
    ("metrics.`and` > 1", Field("metric", "and")),
    ("metrics.in > 1", Field("metric", "in")),
])
def test_keys_with_spaces_dots_and_symbols(text, field):
    assert parse_filter(text).field == field


@pytest.mark.parametrize("text", ["", "   ", "\n\t", None])
def test_an_empty_filter_is_no_filter(text):
    assert parse_filter(text) is None


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("text, position, words", [
    # unterminated strings
    ("name = 'open", 7, "unterminated string"),
    ('params.a = "open', 11, "unterminated string"),
    ("metrics.`open > 1", 8, "unterminated string"),
    # unknown attributes and kinds
    ("bogus = 1", 0, "unknown attribute"),
    ("metrics.a > 1 and colour = 'red'", 18, "unknown attribute"),
    ("attributes.bogus = 1", 11, "unknown attribute"),
    ("nope.x = 1", 0, "unknown field kind"),
    ("`quoted` = 1", 0, "needs a kind"),
    # missing values and operators
    ("metrics.auc >", 13, "expected a value"),
    ("metrics.auc > and metrics.b > 1", 14, "expected a value"),
    ("params.a =", 10, "expected a value"),
    ("metrics.auc", 11, "expected a comparison"),
    ("metrics.a not = 1", 14, "expected a comparison"),
    ("tags.t is 'x'", 10, "expected 'null'"),
    ("tags.t is not", 13, "expected 'null'"),
    ("params.p in 'x'", 12, "'(' to open the list"),
    ("params.p in ()", 13, "expected a value"),
    ("params.p in ('a' 'b')", 17, "')' to close the list"),
    ("params.", 7, "expected a key"),
    ("metrics.a. > 1", 11, "the rest of the key"),
    # dangling boolean operators
    ("metrics.auc > 0.9 and", 21, "expected a field"),
    ("metrics.auc > 0.9 or", 20, "expected a field"),
    ("and metrics.auc > 0.9", 0, "expected a field"),
    ("not", 3, "expected a field"),
    ("metrics.a > 1 metrics.b > 2", 14, "expected 'and', 'or'"),
    # unbalanced parentheses
    ("(metrics.a > 1", 14, "')'"),
    ("((metrics.a > 1) or metrics.b > 1", 33, "')'"),
    ("metrics.a > 1)", 13, "expected 'and', 'or'"),
    ("()", 1, "expected a field"),
    # operators that do not apply
    ("metrics.a like 'x'", 10, "metrics are numbers"),
    ("metrics.a not ilike 'x'", 14, "metrics are numbers"),
    ("metrics.a = 'x'", 10, "compare it with a number"),
    ("metrics.a in (1, 'x')", 10, "compare it with a number"),
    ("params.a > 3", 9, "params are text"),
    ("tags.t <= 'x'", 7, "tags are text"),
    ("status > 'RUNNING'", 7, "not defined on status"),
    ("run_id < 'x'", 7, "not defined"),
    ("experiment_id = 'one'", 14, "is a number"),
    ("name like 3", 5, "quoted pattern"),
    # times
    ("start_time > 'yesterday'", 11, "ISO dates"),
    ("end_time in ('2020-01-01', 'never')", 9, "ISO dates"),
    # characters the language does not have
    ("metrics.a > 1 & metrics.b > 2", 14, "unexpected character"),
    ("metrics.a > 1; drop table runs", 13, "unexpected character"),
])
def test_errors_name_the_position(text, position, words):
    with pytest.raises(InvalidInput) as caught:
        parse_filter(text)
    message = str(caught.value)
    assert f"position {position}:" in message and words in message
    assert caught.value.position == position
    *_, text_line, caret_line = message.splitlines()
    assert text_line == "  " + text
    assert caret_line == " " * (2 + position) + "^"  # the caret sits under the problem


@pytest.mark.parametrize("text", ["(" * 5000 + "metrics.a > 1" + ")" * 5000, "not " * 5000 + "metrics.a > 1"],
                         ids=["parentheses", "not"])
def test_deep_nesting_is_refused_as_invalid_input(text):
    with pytest.raises(InvalidInput):
        parse_filter(text)


@pytest.mark.parametrize("limit, build, words", [
    (MAX_FILTER_DEPTH, lambda n: "not " * n + "metrics.a > 1", "levels deep"),
    (MAX_FILTER_DEPTH, lambda n: "(" * n + "metrics.a > 1" + ")" * n, "levels deep"),
    (MAX_FILTER_COMPARISONS, lambda n: " or ".join(["metrics.a = 1"] * n), "comparisons"),
    (MAX_FILTER_VALUES, lambda n: "metrics.a in (" + ", ".join(["1"] * n) + ")", "values"),
], ids=["nots", "parentheses", "comparisons", "values"])
def test_a_filter_one_beyond_a_size_limit_is_refused_with_its_position(limit, build, words):
    assert parse_filter(build(limit)) is not None
    text = build(limit + 1)
    with pytest.raises(InvalidInput, match=f"more than {limit} {words}") as caught:
        parse_filter(text)
    assert 0 < caught.value.position < len(text)


def test_too_many_order_by_clauses_are_refused():
    assert len(parse_order_by(["metrics.a"] * MAX_ORDER_BY_CLAUSES)) == MAX_ORDER_BY_CLAUSES
    with pytest.raises(InvalidInput, match=f"At most {MAX_ORDER_BY_CLAUSES} order-by clauses"):
        parse_order_by(["metrics.a"] * (MAX_ORDER_BY_CLAUSES + 1))


# ---------------------------------------------------------------------------- order by
@pytest.mark.parametrize("items, keys", [
    (["metrics.auc"], [OrderKey(Field("metric", "auc"), True)]),
    (["metrics.auc DESC"], [OrderKey(Field("metric", "auc"), False)]),
    (["metrics.auc asc"], [OrderKey(Field("metric", "auc"), True)]),
    (["params.model", "tags.team desc", "start_time Asc"], [
        OrderKey(Field("param", "model"), True), OrderKey(Field("tag", "team"), False),
        OrderKey(Field("attribute", "start_time"), True)]),
    (["metrics.`val loss` desc"], [OrderKey(Field("metric", "val loss"), False)]),
    (['tags."a.b"'], [OrderKey(Field("tag", "a.b"), True)]),
    (["attributes.run_name desc"], [OrderKey(Field("attribute", "name"), False)]),
    ([], []),
    (None, []),
])
def test_order_by(items, keys):
    assert parse_order_by(items) == keys


@pytest.mark.parametrize("item, position", [
    ("metrics.auc sideways", 12), ("metrics.auc desc desc", 17), ("", 0), ("   ", 0), ("bogus", 0),
    ("metrics.", 8), ("metrics.a > 1", 10),
])
def test_order_by_errors(item, position):
    with pytest.raises(InvalidInput, match=rf"position {position}:"):
        parse_order_by(["name", item])


# ---------------------------------------------------------------------------- any input
# Every filter that parses is run on a real SQLite store, and the runs it finds are compared
# with a plain Python reading of the same tree (the rules of the filter language, written
# again without SQL): the translation to SQL cannot drift from what the language says.
T0 = 1_700_000_000_000
_POPULATION = [  # name, experiment, status, start offset (s), end offset, metrics, params, tags
    ("rf-1", 0, "RUNNING", 0, None, {"auc": 0.9, "loss": 0.5}, {"model": "rf", "alpha": "1.0"}, {"team": "new"}),
    ("rf-2", 0, "FAILED", 1, 100, {"auc": 0.85}, {"model": "RF", "alpha": "1"}, {"team": "old", "flag": "true"}),
    ("xgb-1", 0, "FINISHED", 2, 150, {"auc": 0.99, "val loss": 0.1}, {"model": "xgb", "a.b": "0.01"}, {}),
    ("xgb-2", 1, "KILLED", 3, 300, {"auc": math.inf}, {"model": "xgb", "alpha": "1e3"}, {"team": "old"}),
    ("nan-run", 1, "RUNNING", 4, None, {"auc": math.nan, "loss": -math.inf}, {"model": "lgbm"}, {"team": "New"}),
    ("cv-child", 1, "RUNNING", 5, None, {}, {"model": "rf", "alpha": "+7"}, {"team": "new", "flag": "false"}),
    ("it's", 0, "FINISHED", 5, 50, {"auc": -1.0, "loss": 0.0}, {"model": "a%b_c"}, {"team": "x_y"}),
    ("svm-1", 1, "FINISHED", 6, 1, {"auc": 0.5, "val loss": math.nan}, {"model": "svm", "a.b": ""}, {"flag": "true"}),
]


@pytest.fixture(scope="module")
def filter_store(tmp_path_factory):
    """The population on SQLite, with one run deleted and one a child; and the runs read back."""
    from modelcycle.store.sql import SqlStore

    root = tmp_path_factory.mktemp("filters")
    store = SqlStore(f"sqlite:///{root / 'f.db'}", str(root / "artifacts"))
    experiments = [store.create_experiment("one").id, store.create_experiment("two").id]
    ids = {}
    for name, exp, status, start, end, metrics, params, tags in _POPULATION:
        parent = ids["rf-1"] if name == "cv-child" else None
        run = store.create_run(experiments[exp], name=name, start_time=T0 + start * 1000, parent_id=parent)
        store.log_batch(run.id, [Metric(k, v, 0, 1) for k, v in metrics.items()], params, tags or None)
        if status != "RUNNING":
            store.update_run(run.id, status=status, end_time=T0 + end * 1000)
        ids[name] = run.id
    store.delete_run(ids["svm-1"])
    runs = store.search_runs(None, None, view=ViewType.ALL).runs
    yield store, runs
    store.close()


def _like(pattern: str, text: str, fold: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    if fold:  # SQLite folds ASCII letters only
        pattern_text = text.translate(_ASCII_LOWER)
        return re.fullmatch(regex.translate(_ASCII_LOWER), pattern_text, re.DOTALL) is not None
    return re.fullmatch(regex, text, re.DOTALL) is not None


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _equal(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True  # NaN equals nan, and nothing else
    return a == b


def _holds(node, run) -> bool:
    """The filter language, read directly: a comparison on a key the run lacks (or a NULL
    attribute) is false; a NaN metric equals only nan and is never less or greater."""
    if isinstance(node, BoolOp):
        results = [_holds(item, run) for item in node.items]
        return all(results) if node.op == "and" else any(results)
    if isinstance(node, Not):
        return not _holds(node.item, run)
    field, op, value = node.field, node.op, node.value
    if field.kind == "metric":
        metric = run.metrics.get(field.key)
        present, have = metric is not None, metric.value if metric is not None else None
    elif field.kind in ("param", "tag"):
        values = run.params if field.kind == "param" else run.tags
        present, have = field.key in values, values.get(field.key)
    else:
        have = {"id": run.id, "name": run.name, "status": run.status.value, "start_time": run.start_time,
                "end_time": run.end_time, "experiment_id": run.experiment_id,
                "parent_id": run.parent_id}[field.key]
        present = have is not None
    if op == "is null":
        return not present
    if op == "is not null":
        return present
    if not present:
        return False
    if op == "=":
        return _equal(have, value)
    if op == "!=":
        return not _equal(have, value)
    if op == "in":
        return any(_equal(have, v) for v in value)
    if op == "not in":
        return not any(_equal(have, v) for v in value)
    if op in ("like", "not like", "ilike", "not ilike"):
        found = _like(value, have, fold="ilike" in op)
        return found if not op.startswith("not") else not found
    if isinstance(have, float) and math.isnan(have):
        return False
    return {"<": have < value, "<=": have <= value, ">": have > value, ">=": have >= value}[op]


def _check_any(text: str, filter_store=None) -> None:
    """Parsing gives a tree or InvalidInput naming a position inside the text; a tree
    compiles on both dialects and, run on SQLite, finds exactly the runs it describes."""
    try:
        tree = parse_filter(text)
    except InvalidInput as exc:
        found = re.search(r"position (\d+)", str(exc))
        assert found and 0 <= int(found.group(1)) <= len(text)
        return
    condition = compile_filter(tree)
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        str(condition.compile(dialect=dialect))
    if filter_store is None:
        return
    store, runs = filter_store
    found = {r.id for r in store.search_runs(None, text, view=ViewType.ALL).runs}
    expected = {r.id for r in runs if tree is None or _holds(tree, r)}
    names = {r.id: r.name for r in runs}
    assert sorted(map(names.get, found)) == sorted(map(names.get, expected)), text


_FRAGMENTS = [
    "metrics.auc", "metrics.loss", "metrics.`val loss`", 'params."a.b"', "params.model", "params.alpha",
    "tags.team", "tags.flag", "status", "name", "start_time", "end_time", "run_id", "parent_id",
    "experiment_id", "attributes.status", "=", "!=", "<>", "==", "<", "<=", ">", ">=", "and", "or", "not",
    "in", "like", "ilike", "is", "null", "(", ")", ",", ".", "'rf'", "'xgb'", "'new'", "'2023-11-14T22:13:22'",
    "'cv-%'", "'%'", "'_f-_'", '"x"', "'it''s'", "0.9", "-1", "1e3", ".5", "1.0", "1", "+7", "nan", "inf",
    "-inf", "true", "'", '"', "`", "metrics.", "bogus", "%", "1700000002000",
]
_SOUP = settings(max_examples=400, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@_SOUP
@given(text=st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map(" ".join))
@example(text="metrics.auc > 0.9 and (params.model = 'rf' or params.model = 'xgb') and tags.team != 'old'")
@example(text="start_time > '0001-01-01T00:00:00+14:00'")
@example(text="start_time in ('9999-12-31T23:59:59-14:00', 1e400)")
@example(text="not metrics.auc not in (nan, 0.9) or metrics.`val loss` != 1")
def test_token_soup_only_ever_raises_invalid_input(filter_store, text):
    _check_any(text, filter_store)


_METRIC_VALUES = ["0", "0.5", "0.85", "0.9", "-1", "1e3", "inf", "-inf", "+inf", "nan", "-0"]
_TEXT_VALUES = ["'rf'", "'RF'", "'xgb'", "'new'", "'New'", "'old'", "'true'", "''", "'a%b_c'", "'x_y'",
                "1.0", "1", "+7", "1e3", "0.01", "true"]
_PATTERNS = ["'r%'", "'R%'", "'%b%'", "'_gb'", "'%'", "'a\\%b%'", "'n_w'", "'%-_'", "'it''s'"]
_TIMES = [str(T0 + i * 500) for i in range(0, 14, 3)] + ["'2023-11-14T22:13:22Z'", "1e400", "-1"]


def _comparison(field: str, ops: list[str], values: list[str]):
    lists = st.lists(st.sampled_from(values), min_size=1, max_size=3).map(lambda v: "(" + ", ".join(v) + ")")
    return st.one_of(
        st.tuples(st.sampled_from(ops), st.sampled_from(values)).map(lambda p: f"{field} {p[0]} {p[1]}"),
        lists.map(lambda v: f"{field} in {v}"), lists.map(lambda v: f"{field} not in {v}"),
        st.sampled_from([f"{field} is null", f"{field} is not null"]),
    )


_ORDER_OPS = ["=", "!=", "<", "<=", ">", ">="]
_TEXT_OPS = ["=", "!=", "like", "not like", "ilike", "not ilike"]
_COMPARISONS = st.one_of(
    st.sampled_from(["metrics.auc", "metrics.loss", "metrics.`val loss`", "metrics.never"]).flatmap(
        lambda f: _comparison(f, _ORDER_OPS, _METRIC_VALUES)),
    st.sampled_from(["params.model", "params.alpha", 'params."a.b"', "tags.team", "tags.flag", "name"]).flatmap(
        lambda f: st.one_of(_comparison(f, ["=", "!="], _TEXT_VALUES),
                            st.tuples(st.sampled_from(_TEXT_OPS[2:]), st.sampled_from(_PATTERNS)).map(
                                lambda p: f"{f} {p[0]} {p[1]}"))),
    _comparison("status", ["=", "!="], ["'running'", "'FINISHED'", "'Failed'", "'killed'"]),
    st.sampled_from(["start_time", "end_time"]).flatmap(lambda f: _comparison(f, _ORDER_OPS, _TIMES)),
    _comparison("experiment_id", _ORDER_OPS, ["1", "2", "1.5", "3"]),
    st.sampled_from(["parent_id is null", "parent_id is not null", "name < 'r'", "name >= 'svm'"]),
)
_FILTERS = st.recursive(
    _COMPARISONS,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda items: " and ".join(items)),
        st.lists(inner, min_size=2, max_size=3).map(lambda items: " or ".join(items)),
        inner.map(lambda item: f"not ({item})"),
        inner.map(lambda item: f"({item})"),
    ),
    max_leaves=6,
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_FILTERS)
def test_well_formed_filters_find_the_runs_they_describe(filter_store, text):
    assert parse_filter(text) is not None
    _check_any(text, filter_store)


_ALPHABET = list("metrics.params.tags.auc=<>!()'\"`\\ andornotinlikeisnull0123456789,-_%eE+")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(_ALPHABET), max_size=60))
def test_filter_alphabet_text_only_ever_raises_invalid_input(filter_store, text):
    _check_any(text, filter_store)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=40))
def test_any_text_only_ever_raises_invalid_input(filter_store, text):
    _check_any(text, filter_store)


def _sort_key(run, key: OrderKey):
    field = key.field
    if field.kind == "metric":
        metric = run.metrics.get(field.key)
        value = None if metric is None or math.isnan(metric.value) else metric.value
    elif field.kind in ("param", "tag"):
        value = (run.params if field.kind == "param" else run.tags).get(field.key)
    else:
        value = {"id": run.id, "name": run.name, "status": run.status.value, "start_time": run.start_time,
                 "end_time": run.end_time, "experiment_id": run.experiment_id,
                 "parent_id": run.parent_id}[field.key]
    return value


def _python_order(runs, keys: list[OrderKey]) -> list[str]:
    """NULLs last in both directions, then the newest start and the run id break ties."""
    import functools

    keys = [*keys, OrderKey(Field("attribute", "start_time"), False), OrderKey(Field("attribute", "id"), True)]

    def compare(a, b) -> int:
        for key in keys:
            x, y = _sort_key(a, key), _sort_key(b, key)
            if x == y:
                continue
            if x is None or y is None:
                return 1 if x is None else -1
            return (-1 if x < y else 1) * (1 if key.ascending else -1)
        return 0

    return [r.id for r in sorted(runs, key=functools.cmp_to_key(compare))]


_ORDER_FIELDS = ["metrics.auc", "metrics.loss", "metrics.`val loss`", "params.model", "params.alpha",
                 "tags.team", "tags.flag", "name", "status", "start_time", "end_time", "experiment_id",
                 "parent_id", "run_id"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.one_of(
    st.lists(st.text(max_size=20), max_size=3),
    st.lists(st.tuples(st.sampled_from(_ORDER_FIELDS), st.sampled_from(["", " asc", " DESC"])).map("".join),
             max_size=4)))
def test_any_order_by_only_ever_raises_invalid_input_and_orders_as_written(filter_store, items):
    try:
        keys = parse_order_by(items)
    except InvalidInput:
        return
    compile_order_by(keys)
    store, runs = filter_store
    found = [r.id for r in store.search_runs(None, None, items, view=ViewType.ALL).runs]
    assert found == _python_order(runs, keys), items
