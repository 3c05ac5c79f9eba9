"""The monitor's results, alert state and event log on a SQL database, and the checks of what
goes in (shared with the HTTP client, so both backends refuse the same input)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import orjson
from sqlalchemy import and_, delete, func, insert, select

from modelcycle.exceptions import InvalidInput
from modelcycle.store import schema as t
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import AlertState, MonitorEvent, MonitorPoint
from modelcycle.store.validation import check_model_name, check_name

r, a, ev = t.monitor_results.c, t.monitor_alerts.c, t.monitor_events.c
MAX_POINTS = 50_000  # in one write
MAX_LABELS_BYTES = 256 * 1024
ALERT_STATES = ("inactive", "pending", "firing", "resolved")
_MAX_MS = 2**62


def _dumps(value) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise InvalidInput(f"Monitor labels and data must be plain JSON values; {exc}.") from None


def _ms(value: object, what: str, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_MS:
        raise InvalidInput(f"{what} is whole milliseconds since the epoch; got {value!r}.")
    return value


def check_points(model: object, points: object) -> tuple[str, list[MonitorPoint]]:
    check_model_name(model)
    if not isinstance(points, (list, tuple)) or not all(isinstance(p, MonitorPoint) for p in points):
        raise InvalidInput(f"Monitor results are a list of MonitorPoint; got {type(points).__name__}.")
    if len(points) > MAX_POINTS:
        raise InvalidInput(f"At most {MAX_POINTS:,} monitor results go in one write; got {len(points):,}. "
                           "Write them in parts.")
    for p in points:
        if p.model != model:
            raise InvalidInput(f"A monitor result of model {p.model!r} was written under {model!r}; write each "
                               "model's results under its own name.")
        if isinstance(p.version, bool) or not isinstance(p.version, int) or not 0 <= p.version < 2**31:
            raise InvalidInput(f"A monitor result's version is a whole number from 0 (no version); "
                               f"got {p.version!r}.")
        _ms(p.window_start, "A window start")
        _ms(p.window_end, "A window end")
        if p.window_end < p.window_start:
            raise InvalidInput(f"Window {p.window_start}..{p.window_end} ends before it starts.")
        check_name("metric", p.metric)
        if isinstance(p.value, bool) or not isinstance(p.value, (int, float)) or math.isinf(p.value):
            raise InvalidInput(f"The value of monitor metric {p.metric!r} must be a finite number or NaN; "
                               f"got {p.value!r}.")
        if not isinstance(p.labels, dict) or len(_dumps(p.labels)) > MAX_LABELS_BYTES:
            raise InvalidInput(f"The labels of monitor metric {p.metric!r} must be a JSON object of at most "
                               f"{MAX_LABELS_BYTES // 1024} KiB.")
    return model, list(points)  # type: ignore[return-value]


def check_alert_states(model: object, states: object) -> tuple[str, list[AlertState]]:
    check_model_name(model)
    if not isinstance(states, (list, tuple)) or not all(isinstance(s, AlertState) for s in states):
        raise InvalidInput(f"Alert states are a list of AlertState; got {type(states).__name__}.")
    for s in states:
        if s.model != model:
            raise InvalidInput(f"An alert of model {s.model!r} was written under {model!r}.")
        check_name("alert fingerprint", s.fingerprint)
        check_name("rule", s.rule)
        if s.state not in ALERT_STATES:
            raise InvalidInput(f"Unknown alert state {s.state!r}; use one of {list(ALERT_STATES)}.")
        for what, value in (("active_at", s.active_at), ("fired_at", s.fired_at), ("resolved_at", s.resolved_at)):
            _ms(value, f"An alert's {what}", optional=True)
        _ms(s.updated_at, "An alert's updated_at")
        if not isinstance(s.data, dict) or len(_dumps(s.data)) > MAX_LABELS_BYTES:
            raise InvalidInput(f"The data of alert {s.fingerprint!r} must be a JSON object of at most "
                               f"{MAX_LABELS_BYTES // 1024} KiB.")
    return model, list(states)  # type: ignore[return-value]


def check_event(model: object, kind: object, data: object) -> None:
    check_model_name(model)
    if not isinstance(kind, str) or not kind.replace("_", "").isalpha() or not 1 <= len(kind) <= 32:
        raise InvalidInput(f"A monitor event kind is 1 to 32 letters or '_'; got {kind!r}.")
    if not isinstance(data, dict) or len(_dumps(data)) > MAX_LABELS_BYTES:
        raise InvalidInput(f"A monitor event's data must be a JSON object of at most {MAX_LABELS_BYTES // 1024} KiB.")


def check_result_query(model, version, start_ms, end_ms, metrics) -> list[str] | None:
    check_model_name(model)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
        raise InvalidInput(f"version must be a version number (0: none); got {version!r}.")
    _ms(start_ms, "start", optional=True)
    _ms(end_ms, "end", optional=True)
    if metrics is None:
        return None
    if isinstance(metrics, str) or not isinstance(metrics, Sequence) or len(metrics) > 10_000:
        raise InvalidInput(f"metrics is a list of metric names; got {metrics!r}.")
    return [check_name("metric", m) for m in metrics]


def _point(row) -> MonitorPoint:
    return MonitorPoint(row.model, row.version, row.window_start, row.window_end, row.metric,
                        math.nan if row.value is None else float(row.value), orjson.loads(row.labels),
                        row.computed_at)


def _alert(row) -> AlertState:
    return AlertState(row.model, row.fingerprint, row.rule, row.state, row.active_at, row.fired_at,
                      row.resolved_at, row.updated_at, orjson.loads(row.data))


class SqlMonitoring:
    """Mixed into SqlStore: uses its transactions."""

    def record_monitor_results(self, model: str, points: Sequence[MonitorPoint]) -> None:
        model, points = check_points(model, points)
        if not points:
            return
        now = now_ms()
        rows = [{"model": p.model, "version": p.version, "window_start": p.window_start,
                 "window_end": p.window_end, "metric": p.metric,
                 "value": None if math.isnan(p.value) else float(p.value), "labels": _dumps(p.labels),
                 "computed_at": p.computed_at or now} for p in points]
        statement = self._insert(t.monitor_results)
        upsert = statement.on_conflict_do_update(
            index_elements=[r.model, r.version, r.window_start, r.metric],
            set_={"window_end": statement.excluded.window_end, "value": statement.excluded.value,
                  "labels": statement.excluded.labels, "computed_at": statement.excluded.computed_at})
        with self._write() as conn:
            for start in range(0, len(rows), 1000):
                conn.execute(upsert, rows[start:start + 1000])

    def monitor_results(self, model: str, version: int | None = None, start_ms: int | None = None,
                        end_ms: int | None = None, metrics: Sequence[str] | None = None) -> list[MonitorPoint]:
        metrics = check_result_query(model, version, start_ms, end_ms, metrics)
        where = [r.model == model]
        if version is not None:
            where.append(r.version == version)
        if start_ms is not None:
            where.append(r.window_start >= start_ms)
        if end_ms is not None:
            where.append(r.window_start < end_ms)
        if metrics is not None:
            where.append(r.metric.in_(metrics))
        query = select(t.monitor_results).where(and_(*where)).order_by(r.window_start, r.version, r.metric)
        with self._read() as conn:
            return [_point(row) for row in conn.execute(query)]

    def monitor_windows(self, model: str) -> dict[int, int]:
        """Per version, the end of its last finished window (the one its "rows" metric marks)."""
        check_model_name(model)
        query = (select(r.version, func.max(r.window_end)).where(r.model == model, r.metric == "rows")
                 .group_by(r.version))
        with self._read() as conn:
            return {int(v): int(end) for v, end in conn.execute(query)}

    def save_alert_states(self, model: str, states: Sequence[AlertState]) -> None:
        model, states = check_alert_states(model, states)
        if not states:
            return
        rows = [{"model": s.model, "fingerprint": s.fingerprint, "rule": s.rule, "state": s.state,
                 "active_at": s.active_at, "fired_at": s.fired_at, "resolved_at": s.resolved_at,
                 "updated_at": s.updated_at, "data": _dumps(s.data)} for s in states]
        statement = self._insert(t.monitor_alerts)
        upsert = statement.on_conflict_do_update(
            index_elements=[a.model, a.fingerprint],
            set_={k: statement.excluded[k] for k in ("rule", "state", "active_at", "fired_at", "resolved_at",
                                                     "updated_at", "data")})
        with self._write() as conn:
            conn.execute(upsert, rows)

    def alert_states(self, model: str | None = None) -> list[AlertState]:
        query = select(t.monitor_alerts).order_by(a.model, a.fingerprint)
        if model is not None:
            query = query.where(a.model == check_model_name(model))
        with self._read() as conn:
            return [_alert(row) for row in conn.execute(query)]

    def delete_alert_states(self, model: str, fingerprints: Sequence[str]) -> None:
        check_model_name(model)
        if isinstance(fingerprints, str) or not isinstance(fingerprints, (list, tuple)):
            raise InvalidInput(f"fingerprints is a list of alert fingerprints; got {type(fingerprints).__name__}.")
        for fingerprint in fingerprints:
            check_name("alert fingerprint", fingerprint)
        with self._write() as conn:
            conn.execute(delete(t.monitor_alerts).where(a.model == model, a.fingerprint.in_(list(fingerprints))))

    def add_monitor_event(self, model: str, kind: str, data: dict) -> MonitorEvent:
        check_event(model, kind, data)
        now = now_ms()
        with self._write() as conn:
            seq = conn.execute(insert(t.monitor_events).values(model=model, time_ms=now, kind=kind,
                                                               data=_dumps(data))
                               .returning(ev.seq)).scalar_one()
        return MonitorEvent(int(seq), model, now, kind, orjson.loads(_dumps(data)))

    def monitor_events(self, model: str, kind: str | None = None, after_seq: int = 0,
                       limit: int = 1000) -> list[MonitorEvent]:
        check_model_name(model)
        if isinstance(after_seq, bool) or not isinstance(after_seq, int) or after_seq < 0:
            raise InvalidInput(f"after_seq is a whole number of at least 0; got {after_seq!r}.")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 50_000:
            raise InvalidInput(f"limit is a whole number from 1 to 50,000; got {limit!r}.")
        query = select(t.monitor_events).where(ev.model == model, ev.seq > after_seq)
        if kind is not None:
            query = query.where(ev.kind == kind)
        query = query.order_by(ev.seq).limit(limit)
        with self._read() as conn:
            return [MonitorEvent(row.seq, row.model, row.time_ms, row.kind, orjson.loads(row.data))
                    for row in conn.execute(query)]
