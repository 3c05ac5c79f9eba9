"""Tracking on the SQL store: experiments, runs, params, tags, metrics, search and artifacts."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson
from sqlalchemy import Connection, Text, bindparam, case, cast, delete, func, insert, literal_column, select, update
from sqlalchemy.exc import IntegrityError

from modelcycle.exceptions import AlreadyExists, Conflict, InvalidInput, NotFound, StoreUnavailable
from modelcycle.store import points
from modelcycle.store import schema as t
from modelcycle.store.clock import now_ms
from modelcycle.store.base import ALWAYS_LOADED_TAGS, DEFAULT_COLUMN_LIMIT, MAX_RESULTS_LIMIT, MAX_SEARCH_EXPERIMENTS
from modelcycle.store.entities import (
    ArtifactInfo, Experiment, ExperimentPage, Metric, MetricSeries, MetricSummary, Run, RunPage, RunStatus, ViewType,
)
from modelcycle.store.names import random_run_name
from modelcycle.store.prepared import Compiled, Prepared, raw_transaction
from modelcycle.store.search import Field, parse_columns, parse_filter, parse_order_by
from modelcycle.store.pages import decode_page_token, encode_page_token, search_fingerprint
from modelcycle.store.sql_search import after_place, compile_search, ordered, sort_columns
from modelcycle.store.validation import (
    check_artifact_path, check_column_query, check_experiment_id, check_experiment_query, check_int64, check_key,
    check_metrics,
    check_file_to_log, check_name, check_params, check_run_id, check_tag_value, check_tags,
)

_RUN_STATUS = {status.value: status for status in RunStatus}
_POINTS_PER_READ = 4_000_000  # about 100 MB of packed chunks held at once


class SqlTracking:
    """Mixed into SqlStore: uses its engine, its ``_read``/``_write``/``_raw_read`` transactions,
    ``_insert``, ``_in_list`` and ``_pack_ids``."""

    def _prepare_tracking_statements(self) -> None:
        # Built once so that SQLAlchemy compiles them once: logging is the hot path.
        engine = self.engine
        r, lm, p = t.runs.c, t.latest_metrics.c, t.params.c
        self._sql_run_deleted = Prepared(
            engine, select(r.deleted_at).where(r.id == bindparam("run_id")), ["run_id"])
        mc = t.metric_chunks.c
        self._sql_insert_chunks = Prepared(engine, insert(t.metric_chunks), [
            "run_id", "key", "num_points", "value_data", "step_data", "timestamp_data"])
        metric_columns = ["run_id", "key", "value", "step", "timestamp", "min_value", "max_value", "num_points"]
        stmt = self._insert(t.latest_metrics)
        new = stmt.excluded
        newer = (new.step > lm.step) | ((new.step == lm.step) & (new.timestamp >= lm.timestamp))

        def least(a, b, lower: bool):  # NULL (every value NaN) gives way to a number
            return case((a.is_(None), b), (b.is_(None), a), ((a < b) if lower else (a > b), a), else_=b)

        # Every SET reads the row as it was: the latest point moves only for a newer one, the
        # summary takes in every batch.
        self._sql_upsert_latest = Prepared(engine, stmt.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={"value": case((newer, new.value), else_=lm.value),
                  "step": case((newer, new.step), else_=lm.step),
                  "timestamp": case((newer, new.timestamp), else_=lm.timestamp),
                  "min_value": least(new.min_value, lm.min_value, True),
                  "max_value": least(new.max_value, lm.max_value, False),
                  "num_points": lm.num_points + new.num_points},
        ), metric_columns)
        stmt = self._insert(t.tags)
        self._sql_upsert_tags = Prepared(engine, stmt.on_conflict_do_update(
            index_elements=["run_id", "key"], set_={"value": stmt.excluded.value}), ["run_id", "key", "value"])
        self._sql_insert_params = Prepared(engine, self._insert(t.params).on_conflict_do_nothing(
            index_elements=["run_id", "key"]), ["run_id", "key", "value"])
        self._sql_param_value = Prepared(
            engine, select(p.value).where(p.run_id == bindparam("run_id"), p.key == bindparam("key")),
            ["run_id", "key"])
        self._sql_history = Prepared(
            engine, select(mc.value_data, mc.step_data, mc.timestamp_data)
            .where(mc.run_id == bindparam("run_id"), mc.key == bindparam("key"))
            .order_by(mc.id), ["run_id", "key"])
        # Loading many runs at once: the ids travel as one parameter.
        in_ids = lambda column: self._in_list(column, "ids")  # noqa: E731
        # Keys and values as one JSON object (text). Not for metrics: SQLite's JSON does not keep
        # every digit of a float.
        if self._sqlite:
            group_object = func.json_group_object
        else:
            group_object = lambda key, value: cast(func.json_object_agg(key, value), Text)  # noqa: E731
        empty_object = literal_column("'{}'")
        e, et = t.experiments.c, t.experiment_tags.c
        experiment = select(e.id, e.name, e.created_at, e.updated_at, e.deleted_at, select(
            func.coalesce(group_object(et.key, et.value), empty_object)).where(
            et.experiment_id == e.id).scalar_subquery())
        self._sql_experiment_deleted = Prepared(
            engine, select(e.deleted_at).where(e.id == bindparam("id")), ["id"])
        self._sql_insert_run = Prepared(engine, insert(t.runs), [
            "id", "experiment_id", "name", "status", "start_time", "parent_id"])
        self._sql_experiment_by_id = Prepared(engine, experiment.where(e.id == bindparam("id")), ["id"])
        self._sql_experiment_by_name = Prepared(engine, experiment.where(e.name == bindparam("name")), ["name"])
        # A run's params and tags are also kept on its row as JSON objects, rewritten from their
        # tables by the transaction that changes them.

        def rewrite(table, column):
            c = table.c
            document = select(func.coalesce(group_object(c.key, c.value), empty_object)).where(
                c.run_id == r.id).scalar_subquery()
            return Prepared(engine, update(t.runs).where(r.id == bindparam("run_id"))
                            .values({column: document}), ["run_id"])

        self._sql_rewrite_params = rewrite(t.params, "params_json")
        self._sql_rewrite_tags = rewrite(t.tags, "tags_json")
        # Held by writes of params, tags and artifacts: on PostgreSQL, writers to one run take
        # turns, so each sees the rows of the writers before it (SQLite's write lock does this).
        self._sql_lock_run = Prepared(
            engine, select(r.deleted_at).where(r.id == bindparam("run_id")).with_for_update(), ["run_id"])
        self._sql_load_runs = Prepared(engine, select(
            r.id, r.experiment_id, r.name, r.status, r.start_time, r.end_time, r.parent_id, r.deleted_at,
            r.params_json, r.tags_json,
        ).where(in_ids(r.id)), ["ids"])
        metric_row = select(lm.run_id, lm.key, lm.value, lm.step, lm.timestamp, lm.min_value, lm.max_value,
                            lm.num_points).where(in_ids(lm.run_id))
        self._sql_load_metrics = Prepared(engine, metric_row, ["ids"])
        # A search with columns loads only their keys (and the tags every table shows).
        in_keys = lambda column: self._in_list(column, "keys")  # noqa: E731
        self._sql_load_run_fields = Prepared(engine, select(
            r.id, r.experiment_id, r.name, r.status, r.start_time, r.end_time, r.parent_id, r.deleted_at,
        ).where(in_ids(r.id)), ["ids"])
        self._sql_load_some_metrics = Prepared(engine, metric_row.where(in_keys(lm.key)), ["ids", "keys"])
        self._sql_load_some_params = Prepared(engine, select(p.run_id, p.key, p.value).where(
            in_ids(p.run_id), in_keys(p.key)), ["ids", "keys"])
        tg = t.tags.c
        self._sql_load_some_tags = Prepared(engine, select(tg.run_id, tg.key, tg.value).where(
            in_ids(tg.run_id), in_keys(tg.key)), ["ids", "keys"])
        # Histories of many runs: their point counts, which runs exist, their chunks.
        self._sql_point_counts = Prepared(engine, select(lm.run_id, lm.num_points).where(
            lm.key == bindparam("key"), in_ids(lm.run_id)), ["key", "ids"])
        self._sql_existing_runs = Prepared(engine, select(r.id).where(in_ids(r.id)), ["ids"])
        self._sql_histories = Prepared(engine, select(mc.run_id, mc.value_data, mc.step_data, mc.timestamp_data)
                                       .where(mc.key == bindparam("key"), in_ids(mc.run_id))
                                       .order_by(mc.run_id, mc.id), ["key", "ids"])

    def _search_statement(self, filter: str | None, order_by: tuple[str, ...], experiments: int | None,
                          view: ViewType, nulls: tuple[bool, ...] | None) -> Compiled:
        """The query of run ids and their ordering values for a search, compiled once per filter,
        ordering, view and kind of page token (``nulls``: which values of its place are NULL;
        None without a token): a dashboard repeats the same searches. The filter's values and
        the place's are bound parameters."""
        parsed, ordering = parse_filter(filter), parse_order_by(list(order_by))  # checks both first
        in_one = experiments == 1  # `=`, so that the index gives one experiment's runs in order
        key = (filter, order_by, None if experiments is None else in_one, view, nulls)
        compiled = self._search_cache.get(key)
        if compiled is None:
            source, condition = compile_search(parsed)
            columns = sort_columns(ordering)
            query = select(t.runs.c.id.label("run_id"), *[
                c.expression.label(f"k{i}") for i, c in enumerate(columns)]).select_from(source).where(condition)
            if in_one:
                query = query.where(t.runs.c.experiment_id == bindparam("experiment"))
            elif experiments is not None:
                query = query.where(self._in_list(t.runs.c.experiment_id, "experiments"))
            if view is ViewType.ACTIVE:
                query = query.where(t.runs.c.deleted_at.is_(None))
            elif view is ViewType.DELETED:
                query = query.where(t.runs.c.deleted_at.is_not(None))
            # The ordering values are columns of a subquery, so that the place of a page token
            # compares with them, not with copies of their expressions.
            page = query.subquery("page")
            keys = [(page.c[f"k{i}"], c.ascending) for i, c in enumerate(columns)]
            query = select(page.c.run_id, *[k for k, _ in keys])
            if nulls is not None:
                query = query.where(after_place(keys, [f"c{i}" for i in range(len(keys))], nulls))
            query = query.order_by(*[ordered(k, ascending) for k, ascending in keys]).limit(bindparam("limit"))
            # Stand-ins for the values each execution gives.
            stand_ins = {"limit": 1, "experiment": 0, "experiments": self._pack_ids([]),
                         **{f"c{i}": c.kind() for i, c in enumerate(columns)}}
            compiled = Compiled(query.params(stand_ins).compile(dialect=self.engine.dialect))
            if len(self._search_cache) >= 256:
                self._search_cache.clear()
            self._search_cache[key] = compiled
        return compiled


    # ------------------------------------------------------------------ experiments
    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> Experiment:
        check_name("experiment", name)
        tags = check_tags(tags)
        stamp = now_ms()
        try:
            with self._write() as conn:
                experiment_id = conn.execute(
                    insert(t.experiments).values(name=name, created_at=stamp, updated_at=stamp)
                    .returning(t.experiments.c.id)
                ).scalar_one()
                if tags:
                    conn.execute(insert(t.experiment_tags), [
                        {"experiment_id": experiment_id, "key": k, "value": v} for k, v in tags.items()
                    ])
        except IntegrityError:
            raise self._name_taken(name) from None
        return self.get_experiment(experiment_id)

    def _name_taken(self, name: str) -> AlreadyExists:
        with self._read() as conn:
            deleted = conn.execute(
                select(t.experiments.c.deleted_at).where(t.experiments.c.name == name)
            ).scalar_one_or_none()
        if deleted is not None:
            return AlreadyExists(
                f"The experiment {name!r} exists but is deleted. Restore it with "
                f"`modelcycle experiments restore {name!r}`, or choose another name."
            )
        return AlreadyExists(
            f"An experiment named {name!r} already exists. Choose another name, or log to the "
            "existing one (start_run(experiment=...) uses it as it is)."
        )

    def _experiment(self, statement: Prepared, key: object) -> Experiment | None:
        with self._raw_read() as cursor:
            row = statement.execute(cursor, (key,)).fetchone()
        if row is None:
            return None
        experiment_id, name, created_at, updated_at, deleted_at, tags = row
        return Experiment(experiment_id, name, created_at, updated_at, deleted_at is not None, orjson.loads(tags))

    def get_experiment(self, experiment_id: int) -> Experiment:
        experiment = self._experiment(self._sql_experiment_by_id, check_experiment_id(experiment_id))
        if experiment is None:
            raise NotFound(f"No experiment with id {experiment_id}. List them with "
                           "`modelcycle experiments ls`.")
        return experiment

    def get_experiment_by_name(self, name: str) -> Experiment:
        check_name("experiment", name)
        experiment = self._experiment(self._sql_experiment_by_name, name)
        if experiment is None:
            raise NotFound(f"No experiment named {name!r}. List them with `modelcycle experiments ls`, "
                           f"or create it with `modelcycle experiments create {name!r}`.")
        return experiment

    def list_experiments(self, view: ViewType = ViewType.ACTIVE) -> list[Experiment]:
        return self.search_experiments(view=view).experiments

    def search_experiments(self, q: str | None = None, view: ViewType = ViewType.ACTIVE,
                           max_results: int | None = None, page_token: str | None = None) -> ExperimentPage:
        view = ViewType.parse(view)
        q = check_experiment_query(q)
        if max_results is not None:
            _check_max_results(max_results)
        e = t.experiments.c
        query = select(e.id, e.name, e.created_at, e.updated_at, e.deleted_at).order_by(e.id)
        if view is ViewType.ACTIVE:
            query = query.where(e.deleted_at.is_(None))
        elif view is ViewType.DELETED:
            query = query.where(e.deleted_at.is_not(None))
        if q:
            query = query.where(e.name.icontains(q, autoescape=True))
        search = search_fingerprint("experiments", q, view.value)
        place = decode_page_token(page_token, search, [int])
        if place is not None:
            query = query.where(e.id > place[0])
        if max_results is not None:
            query = query.limit(max_results + 1)
        r, et = t.runs.c, t.experiment_tags.c
        with self._read() as conn:
            rows = conn.execute(query).all()
            more = max_results is not None and len(rows) > max_results
            rows = rows[:max_results] if more else rows
            ids = [row.id for row in rows]
            # One grouped query for the whole page, not one per experiment.
            activity = select(r.experiment_id, func.count(), func.max(r.start_time), func.max(r.end_time)).where(
                r.deleted_at.is_(None)).group_by(r.experiment_id)
            tags_query = select(et.experiment_id, et.key, et.value)
            packed = {}
            if max_results is not None or q:  # a part of the experiments: only theirs
                activity = activity.where(self._in_list(r.experiment_id, "ids"))
                tags_query = tags_query.where(self._in_list(et.experiment_id, "ids"))
                packed = {"ids": self._pack_ids(ids)}
            counts = {row[0]: row[1:] for row in conn.execute(activity, packed)} if ids else {}
            tag_rows = conn.execute(tags_query, packed).all() if ids else []
        tags: dict[int, dict[str, str]] = {}
        for experiment_id, key, value in tag_rows:
            tags.setdefault(experiment_id, {})[key] = value
        experiments = []
        for row in rows:
            count, started, ended = counts.get(row.id, (0, None, None))
            last = max(x for x in (row.updated_at, started, ended) if x is not None)
            experiments.append(Experiment(row.id, row.name, row.created_at, row.updated_at, row.deleted_at is not None,
                                          tags.get(row.id, {}), count, last))
        token = encode_page_token([rows[-1].id], search) if more else None
        return ExperimentPage(experiments, token)

    def experiment_columns(self, experiment_id: int, q: str | None = None,
                           limit: int = DEFAULT_COLUMN_LIMIT) -> dict[str, list[str]]:
        experiment_id = check_experiment_id(experiment_id)
        q, limit = check_column_query(q, limit)
        k = t.experiment_keys.c
        found = {}
        with self._read() as conn:
            if conn.execute(select(t.experiments.c.id).where(t.experiments.c.id == experiment_id)).first() is None:
                raise NotFound(f"No experiment with id {experiment_id}. List them with `modelcycle experiments ls`.")
            for kind in ("param", "metric", "tag"):
                query = select(k.key).where(k.experiment_id == experiment_id, k.kind == kind)
                if q:
                    query = query.where(k.key.icontains(q, autoescape=True))
                found[kind + "s"] = list(conn.execute(query.order_by(k.key).limit(limit)).scalars())
        return found

    def _update_experiment(self, experiment_id: int, **values) -> None:
        experiment_id = check_experiment_id(experiment_id)
        with self._write() as conn:
            result = conn.execute(
                update(t.experiments).where(t.experiments.c.id == experiment_id)
                .values(updated_at=now_ms(), **values)
            )
            if result.rowcount == 0:
                raise NotFound(f"No experiment with id {experiment_id}.")

    def rename_experiment(self, experiment_id: int, new_name: str) -> Experiment:
        check_name("experiment", new_name)
        try:
            self._update_experiment(experiment_id, name=new_name)
        except IntegrityError:
            raise self._name_taken(new_name) from None
        return self.get_experiment(experiment_id)

    def delete_experiment(self, experiment_id: int) -> None:
        self._update_experiment(experiment_id, deleted_at=now_ms())

    def restore_experiment(self, experiment_id: int) -> None:
        self._update_experiment(experiment_id, deleted_at=None)

    def set_experiment_tag(self, experiment_id: int, key: str, value: str) -> None:
        experiment_id = check_experiment_id(experiment_id)
        check_key("tag", key)
        value = check_tag_value(key, value)
        self.get_experiment(experiment_id)
        stmt = self._insert(t.experiment_tags).values(experiment_id=experiment_id, key=key, value=value)
        with self._write() as conn:
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["experiment_id", "key"], set_={"value": stmt.excluded.value}))

    # ------------------------------------------------------------------ runs
    def create_run(self, experiment_id: int, name: str | None = None,
                   tags: dict[str, str] | None = None, parent_id: str | None = None,
                   start_time: int | None = None) -> Run:
        experiment_id = check_experiment_id(experiment_id)
        name = check_name("run", name) if name is not None else random_run_name()
        tags = check_tags(tags)
        if parent_id is not None:
            check_run_id(parent_id)
        run_id = uuid.uuid4().hex
        start_time = now_ms() if start_time is None else check_int64("The start time of a run", start_time)
        try:
            with raw_transaction(self.engine, "BEGIN IMMEDIATE" if self._sqlite else None) as cur:
                deleted = self._sql_experiment_deleted.execute(cur, (experiment_id,)).fetchone()
                if deleted is None:
                    raise NotFound(f"No experiment with id {experiment_id}; create it first.")
                if deleted[0] is not None:
                    raise Conflict(f"The experiment {experiment_id} is deleted; restore it before "
                                   "starting runs in it.")
                if parent_id is not None and self._sql_run_deleted.execute(cur, (parent_id,)).fetchone() is None:
                    raise NotFound(f"No parent run {parent_id}.")
                self._sql_insert_run.execute(cur, (run_id, experiment_id, name, RunStatus.RUNNING.value,
                                                   start_time, parent_id))
                if tags:
                    self._sql_upsert_tags.executemany(cur, [(run_id, k, v) for k, v in tags.items()])
                    self._sql_rewrite_tags.execute(cur, (run_id,))
        except self._db_errors as exc:
            raise StoreUnavailable(f"The database {self._safe_uri()} refused a write: {exc}") from exc
        return Run(run_id, experiment_id, name, RunStatus.RUNNING, start_time, None, parent_id,
                   False, {}, {}, tags)

    def get_run(self, run_id: str) -> Run:
        check_run_id(run_id)
        with self._raw_read() as cursor:
            runs = self._load_runs(cursor, [run_id])
        if not runs:
            raise NotFound(f"No run with id {run_id}. Find runs with `modelcycle runs ls`.")
        return runs[0]

    def _load_runs(self, cursor, run_ids: Sequence[str]) -> list[Run]:
        """The runs of ``run_ids`` that exist, in that order (read with the caller's cursor)."""
        if not run_ids:
            return []
        packed = (self._pack_ids(list(run_ids)),)
        # Thousands of rows and values are made here, none of them in a reference cycle.
        with points.collector_paused():
            rows = {row[0]: row for row in self._sql_load_runs.execute(cursor, packed).fetchall()}
            metrics, summaries = _metric_rows(self._sql_load_metrics.execute(cursor, packed).fetchall())
            loads, status_of = orjson.loads, _RUN_STATUS
            runs = []
            for run_id in run_ids:
                row = rows.get(run_id)
                if row is not None:
                    _, experiment_id, name, status, start, end, parent, deleted_at, params, tags = row
                    runs.append(Run(run_id, experiment_id, name, status_of[status], start, end, parent,
                                    deleted_at is not None, loads(params), metrics.get(run_id, {}),
                                    loads(tags), summaries.get(run_id, {})))
            return runs

    def _load_run_columns(self, cursor, run_ids: Sequence[str], columns: list[Field]) -> list[Run]:
        """The runs of ``run_ids`` that exist, in that order, with only the params, metrics and
        tags that ``columns`` name, and the tags ALWAYS_LOADED_TAGS."""
        if not run_ids:
            return []
        keys = {kind: sorted({f.key for f in columns if f.kind == kind}) for kind in ("param", "metric", "tag")}
        keys["tag"] = sorted({*keys["tag"], *ALWAYS_LOADED_TAGS})
        ids = self._pack_ids(list(run_ids))
        with points.collector_paused():
            rows = {row[0]: row for row in self._sql_load_run_fields.execute(cursor, (ids,)).fetchall()}
            found: dict[str, dict[str, dict]] = {"param": {}, "tag": {}}
            for kind, statement in (("param", self._sql_load_some_params), ("tag", self._sql_load_some_tags)):
                if keys[kind]:
                    for run_id, key, value in statement.execute(cursor, (ids, self._pack_ids(keys[kind]))).fetchall():
                        found[kind].setdefault(run_id, {})[key] = value
            metrics, summaries = ({}, {}) if not keys["metric"] else _metric_rows(
                self._sql_load_some_metrics.execute(cursor, (ids, self._pack_ids(keys["metric"]))).fetchall())
            status_of = _RUN_STATUS
            runs = []
            for run_id in run_ids:
                row = rows.get(run_id)
                if row is not None:
                    _, experiment_id, name, status, start, end, parent, deleted_at = row
                    runs.append(Run(run_id, experiment_id, name, status_of[status], start, end, parent,
                                    deleted_at is not None, found["param"].get(run_id, {}),
                                    metrics.get(run_id, {}), found["tag"].get(run_id, {}),
                                    summaries.get(run_id, {})))
            return runs

    def update_run(self, run_id: str, status: RunStatus | None = None, end_time: int | None = None,
                   name: str | None = None) -> None:
        check_run_id(run_id)
        values: dict = {}
        if status is not None:
            status = RunStatus.parse(status)
            values["status"] = status.value
            if status is not RunStatus.RUNNING:
                values["end_time"] = now_ms() if end_time is None else _check_end_time(end_time)
            else:
                values["end_time"] = None
        elif end_time is not None:
            values["end_time"] = _check_end_time(end_time)
        if name is not None:
            values["name"] = check_name("run", name)
        if values:
            with self._write() as conn:
                if conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(**values)).rowcount == 0:
                    raise NotFound(f"No run with id {run_id}.")

    def _set_run_deleted(self, run_id: str, deleted_at: int | None) -> None:
        check_run_id(run_id)
        with self._write() as conn:
            if conn.execute(update(t.runs).where(t.runs.c.id == run_id)
                            .values(deleted_at=deleted_at)).rowcount == 0:
                raise NotFound(f"No run with id {run_id}.")

    def delete_run(self, run_id: str) -> None:
        self._set_run_deleted(run_id, now_ms())

    def restore_run(self, run_id: str) -> None:
        self._set_run_deleted(run_id, None)

    def _check_writable(self, conn: Connection, run_id: str, lock: bool = False) -> None:
        self._check_run_cursor(conn.connection.dbapi_connection.cursor(), run_id, lock)

    def _check_run_cursor(self, cursor, run_id: str, lock: bool = False) -> None:
        """The run exists and is not deleted (read inside the caller's transaction); with
        ``lock``, its row stays locked until the transaction ends (PostgreSQL)."""
        row = (self._sql_lock_run if lock else self._sql_run_deleted).execute(cursor, (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"No run with id {run_id}.")
        if row[0] is not None:
            raise Conflict(f"The run {run_id} is deleted; restore it (`modelcycle runs restore "
                           f"{run_id}`) before logging to it.")

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (),
                  params: dict[str, str] | None = None, tags: dict[str, str] | None = None) -> None:
        check_run_id(run_id)
        chunks, latest = points.chunk_rows(run_id, check_metrics(metrics), now_ms())
        param_rows = list(check_params(params).items())
        tag_rows = [(run_id, k, v) for k, v in check_tags(tags).items()]
        try:
            with raw_transaction(self.engine, "BEGIN IMMEDIATE" if self._sqlite else None) as cur:
                self._check_run_cursor(cur, run_id, lock=bool(param_rows or tag_rows))
                self._sql_insert_chunks.executemany(cur, chunks)
                self._sql_upsert_latest.executemany(cur, latest)
                if param_rows:
                    self._sql_insert_params.executemany(cur, [(run_id, k, v) for k, v in param_rows])
                    for key, value in param_rows:
                        stored = self._sql_param_value.execute(cur, (run_id, key)).fetchone()[0]
                        if stored != value:
                            raise Conflict(
                                f"The param {key!r} of run {run_id} is already {stored!r}; got {value!r}. "
                                "Params are write-once: log the new value under another key, or start "
                                "a new run.")
                    self._sql_rewrite_params.execute(cur, (run_id,))
                if tag_rows:
                    self._sql_upsert_tags.executemany(cur, tag_rows)
                    self._sql_rewrite_tags.execute(cur, (run_id,))
        except self._db_errors as exc:
            raise StoreUnavailable(f"The database {self._safe_uri()} refused a write: {exc}") from exc

    def delete_tag(self, run_id: str, key: str) -> None:
        check_run_id(run_id)
        check_key("tag", key)
        with self._write() as conn:
            self._check_writable(conn, run_id, lock=True)
            if conn.execute(delete(t.tags).where(t.tags.c.run_id == run_id, t.tags.c.key == key)
                            ).rowcount == 0:
                raise NotFound(f"The run {run_id} has no tag {key!r}.")
            self._sql_rewrite_tags.execute(conn.connection.dbapi_connection.cursor(), (run_id,))

    def get_metric_series(self, run_ids: Sequence[str], key: str, buckets: int | None = None, x: str = "step",
                          start: float | None = None, end: float | None = None) -> list[MetricSeries]:
        from modelcycle.store.series import check_series_request, series

        ids = check_series_request(run_ids, key, buckets, x, start, end)
        if not ids:
            return []
        found: list[MetricSeries] = []
        with self._raw_read() as cur:
            if len(ids) == 1:
                chunks = self._sql_history.execute(cur, (ids[0], key)).fetchall()
                if not chunks and self._sql_run_deleted.execute(cur, (ids[0],)).fetchone() is None:
                    raise NotFound(f"No run with id {ids[0]}.")
                return [series(ids[0], key, chunks, buckets, x, start, end)]
            packed = self._pack_ids(ids)
            existing = {row[0] for row in self._sql_existing_runs.execute(cur, (packed,)).fetchall()}
            missing = [i for i in ids if i not in existing]
            if missing:
                raise NotFound(f"No run with id {missing[0]}" + (f" (nor {len(missing) - 1} other of the run_ids)."
                                                                  if len(missing) > 1 else "."))
            counts = dict(self._sql_point_counts.execute(cur, (key, packed)).fetchall())
            # Read in groups of runs of a few million points, each held only until it is cut down.
            group: list[str] = []
            held = 0
            for position, run_id in enumerate(ids):
                group.append(run_id)
                held += counts.get(run_id, 0)
                if held < _POINTS_PER_READ and position < len(ids) - 1:
                    continue
                chunks: dict[str, list] = {}
                for row in self._sql_histories.execute(cur, (key, self._pack_ids(group))).fetchall():
                    chunks.setdefault(row[0], []).append(row[1:])
                found.extend(series(i, key, chunks.get(i, ()), buckets, x, start, end) for i in group)
                group, held = [], 0
        return found

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        check_run_id(run_id)
        check_key("metric", key)
        with raw_transaction(self.engine, "BEGIN" if self._sqlite else None) as cur:
            chunks = self._sql_history.execute(cur, (run_id, key)).fetchall()
            if not chunks and self._sql_run_deleted.execute(cur, (run_id,)).fetchone() is None:
                raise NotFound(f"No run with id {run_id}.")
        return points.history(key, chunks)

    def search_runs(self, experiment_ids: Sequence[int] | None = None, filter: str | None = None,
                    order_by: Sequence[str] | None = None, max_results: int = 1000,
                    page_token: str | None = None, view: ViewType = ViewType.ACTIVE,
                    columns: Sequence[str] | None = None) -> RunPage:
        view = ViewType.parse(view)
        _check_max_results(max_results)
        fields = None if columns is None else parse_columns(columns)
        order_by = tuple(order_by or ())
        values: dict = {"limit": max_results + 1}
        ids = None
        if experiment_ids is not None:
            ids = [check_experiment_id(i) for i in experiment_ids]
            if len(ids) > MAX_SEARCH_EXPERIMENTS:
                raise InvalidInput(f"A search takes at most {MAX_SEARCH_EXPERIMENTS} experiment ids; got "
                                   f"{len(ids)}. Search all experiments (no ids) and filter instead.")
            values.update(experiment=ids[0] if len(ids) == 1 else None, experiments=self._pack_ids(ids))
        search = search_fingerprint(filter, order_by, ids, view.value)
        place = None
        if page_token:
            kinds = [c.kind for c in sort_columns(parse_order_by(list(order_by)))]
            place = decode_page_token(page_token, search, kinds)
            values.update({f"c{i}": value for i, value in enumerate(place) if value is not None})
        statement = self._search_statement(filter, order_by, None if ids is None else len(ids), view,
                                           None if place is None else tuple(v is None for v in place))
        with self._raw_read() as cursor:
            rows = cursor.execute(statement.sql, statement.params(values)).fetchall()
            more = len(rows) > max_results
            ids = [row[0] for row in rows[:max_results]]
            runs = self._load_runs(cursor, ids) if fields is None else self._load_run_columns(cursor, ids, fields)
        token = encode_page_token(rows[max_results - 1][1:], search) if more else None
        return RunPage(runs, token)

    # ------------------------------------------------------------------ artifacts
    def log_artifact(self, run_id: str, local_file: str | Path, artifact_path: str) -> ArtifactInfo:
        check_run_id(run_id)
        artifact_path = check_artifact_path(artifact_path)
        with self._read() as conn:
            self._check_writable(conn, run_id)
        check_file_to_log(local_file)
        # The blob is in place before the row that points at it: a crash in between leaves
        # only an unreferenced blob, never a listed artifact without content.
        digest, size = self.blobs.put_file(local_file)
        stmt = self._insert(t.artifacts).values(run_id=run_id, path=artifact_path, digest=digest,
                                                size=size, created_at=now_ms())
        parts = artifact_path.split("/")
        parents = ["/".join(parts[:i]) for i in range(1, len(parts))]
        a = t.artifacts.c
        with self._write() as conn:
            # Locked: artifact writes to one run take turns, so that a file and a folder of the
            # same name cannot both be checked free and both be inserted.
            self._check_writable(conn, run_id, lock=True)
            if conn.execute(select(a.path).where(
                a.run_id == run_id, a.path.startswith(artifact_path + "/", autoescape=True)
            ).limit(1)).first() is not None:
                raise Conflict(f"{artifact_path!r} is a folder of artifacts in run {run_id}; "
                               "choose another file name.")
            parent_file = conn.execute(select(a.path).where(
                a.run_id == run_id, a.path.in_(parents)).limit(1)).scalar() if parents else None
            if parent_file is not None:
                raise Conflict(f"{parent_file!r} is a file in run {run_id}, so it cannot hold "
                               f"{artifact_path!r}; choose another path.")
            self._refuse_changing_a_version(conn, run_id, artifact_path, digest)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["run_id", "path"],
                set_={"digest": stmt.excluded.digest, "size": stmt.excluded.size,
                      "created_at": stmt.excluded.created_at}))
        return ArtifactInfo(artifact_path, False, size, digest)

    def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactInfo]:
        check_run_id(run_id)
        path = check_artifact_path(path, allow_root=True)
        a = t.artifacts.c
        query = select(a.path, a.size, a.digest).where(a.run_id == run_id)
        if path:
            query = query.where((a.path == path) | a.path.startswith(path + "/", autoescape=True))
        with self._read() as conn:
            rows = conn.execute(query.order_by(a.path)).all()
            if not rows and conn.execute(select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
                raise NotFound(f"No run with id {run_id}.")
        prefix = path + "/" if path else ""
        children: dict[str, ArtifactInfo] = {}
        for file_path, size, digest in rows:
            if file_path == path:
                return [ArtifactInfo(file_path, False, size, digest)]
            head, sep, _rest = file_path[len(prefix):].partition("/")
            if sep:
                children.setdefault(prefix + head, ArtifactInfo(prefix + head, True))
            else:
                children[file_path] = ArtifactInfo(file_path, False, size, digest)
        return list(children.values())

    def _artifact_digest(self, run_id: str, path: str) -> str:
        check_run_id(run_id)
        path = check_artifact_path(path)
        with self._read() as conn:
            digest = conn.execute(select(t.artifacts.c.digest).where(
                t.artifacts.c.run_id == run_id, t.artifacts.c.path == path)).scalar_one_or_none()
        if digest is None:
            raise NotFound(f"The run {run_id} has no artifact file {path!r}. "
                           f"List them with `modelcycle runs show {run_id}`.")
        return digest

    def open_artifact(self, run_id: str, path: str) -> Iterator[bytes]:
        return self.blobs.open(self._artifact_digest(run_id, path))


def _check_max_results(max_results: object) -> None:
    if (isinstance(max_results, bool) or not isinstance(max_results, int)
            or not 1 <= max_results <= MAX_RESULTS_LIMIT):
        raise InvalidInput(f"max_results must be an integer in [1, {MAX_RESULTS_LIMIT}]; "
                           f"got {max_results!r}. Page through more with page_token.")


def _metric_rows(rows) -> tuple[dict[str, dict[str, Metric]], dict[str, dict[str, MetricSummary]]]:
    """Latest points and summaries per run from rows of latest_metrics (NULL values are NaN)."""
    metrics: dict[str, dict] = {}
    summaries: dict[str, dict] = {}
    nan = math.nan
    for run_id, key, value, step, stamp, low, high, count in rows:
        metrics.setdefault(run_id, {})[key] = Metric(key, nan if value is None else value, step, stamp)
        summaries.setdefault(run_id, {})[key] = MetricSummary(nan if low is None else low,
                                                              nan if high is None else high, count)
    return metrics, summaries


def _check_end_time(end_time: object) -> int:
    return check_int64("The end time of a run", end_time)
