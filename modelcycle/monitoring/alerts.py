"""Alerts: each rule, for each model version, goes inactive → pending → firing → resolved over the
stored windows of the monitor, as Prometheus does over its evaluations.

A window stands for its whole span: a condition that holds in a window has held from its start to
its end, so with hourly windows ``for: 2h`` fires at the end of the second window in a row, and
``for: 5m`` at the end of the first. ``keep_firing_for`` counts the same way from the start of the
first window where the alert could resolve; with a resolve threshold (or ``resolve_when``) a
firing alert resolves only when that holds, not when its firing condition merely stops holding.

State lives in the store (one AlertState per model, version and rule, carrying the last window
evaluated), and every transition is a monitor event, so a restart carries on where the last pass
stopped. One process evaluates a model at a time: the holder of the lease ``monitor:{model}``.
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from modelcycle.exceptions import InvalidInput, NotFound
from modelcycle.monitoring.rules import Rule, RuleSet, holds, metrics_of, render, value_of
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import AlertState

if TYPE_CHECKING:
    from modelcycle.monitoring.actions import Actions
    from modelcycle.monitoring.notify import Dispatcher, Notification
    from modelcycle.store.base import Store

log = logging.getLogger("modelcycle.monitoring")

INACTIVE, PENDING, FIRING, RESOLVED = "inactive", "pending", "firing", "resolved"
ALERT_EVENT, SKIP_EVENT, ACTION_EVENT, NOTIFY_EVENT = "alert", "alert_skipped", "alert_action", "notification"
SILENCE_EVENT, SILENCE_EXPIRED_EVENT = "silence", "silence_expired"
DEFAULT_HORIZON_MS = 7 * 24 * 3_600_000


@dataclass
class Status:
    """Where one alert stands after the windows evaluated so far (times in ms since the epoch)."""

    state: str = INACTIVE
    active_at: int | None = None   # start of the first window of the current run where it held
    fired_at: int | None = None
    resolved_at: int | None = None
    clear_since: int | None = None  # start of the first window where a firing alert could resolve
    last_window: int | None = None  # start of the last window evaluated
    window_start: int | None = None
    window_end: int | None = None
    value: float | None = None
    threshold: float | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    reason: str = ""  # why the last window did not count, if it did not
    event_seq: int = 0  # the last monitor event recorded for this alert
    actions_for: int | None = None  # fired_at of the episode whose actions ran
    # Late labels change the performance of windows already evaluated: the status as it stood
    # before the oldest window they may still change (within the horizon), to evaluate again
    # from when a window's values were rewritten after ``evaluated_at`` (ms, this host's clock).
    checkpoint: dict[str, Any] | None = None
    evaluated_at: int = 0
    delivered: dict[str, dict[str, Any]] = field(default_factory=dict)  # per channel: state and time sent

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("value", "threshold"):
            if data[key] is not None and not math.isfinite(data[key]):
                data[key] = None
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Status:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class Transition:
    model: str
    version: int
    rule: str
    old: str
    new: str
    window_start: int
    window_end: int
    value: float | None
    threshold: float | None
    since: int | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("value", "threshold"):
            if out[key] is not None and not math.isfinite(out[key]):
                out[key] = None
        return out


@dataclass(frozen=True)
class Window:
    """One stored window of one version: its span, its rows and the metric values of the rules."""

    version: int
    start: int
    end: int
    rows: float
    values: Mapping[str, float]
    changed_at: int = 0  # when its values were last written (ms)


BOOKKEEPING = ("event_seq", "actions_for", "delivered", "checkpoint", "evaluated_at")


def step(rule: Rule, status: Status, window: Window, reference: Mapping[str, float], min_rows: int,
         model: str) -> tuple[Status, str | None, str]:
    """Evaluate ``rule`` on one more window: the new status, the state it moved to (None if it
    stayed) and why the window did not count ("" if it did). ``status`` is not changed."""
    s = Status(**asdict(status))
    s.last_window = window.start
    if math.isnan(window.rows) or window.rows < min_rows:
        s.reason = (f"the window has {0 if math.isnan(window.rows) else int(window.rows):,} rows, fewer than the "
                    f"{min_rows:,} the rule needs (min_rows)")
        return s, None, s.reason
    fires = holds(rule.condition, window.values, reference)
    if s.state == FIRING:
        if rule.resolve_condition is not None:
            clear = holds(rule.resolve_condition, window.values, reference)
        else:
            clear = None if fires is None else not fires
    else:
        clear = None if fires is None else not fires
    if clear is None:
        s.reason = _missing(rule, window, reference)
        return s, None, s.reason
    s.reason = ""
    comparison = rule.threshold_comparison
    s.value = value_of(comparison.left, window.values, reference)
    s.threshold = value_of(comparison.right, window.values, reference)
    s.window_start, s.window_end = window.start, window.end
    moved = None
    if s.state == FIRING:
        if not clear:
            s.clear_since = None
        else:
            s.clear_since = window.start if s.clear_since is None else s.clear_since
            if window.end - s.clear_since >= rule.keep_firing_for_s * 1000:
                s.state, s.resolved_at, s.clear_since, s.active_at = RESOLVED, window.end, None, None
                moved = RESOLVED
    elif fires:
        if s.state != PENDING:
            s.active_at = window.start
        if window.end - s.active_at >= rule.for_s * 1000:
            s.state, s.fired_at, s.resolved_at, s.clear_since = FIRING, window.end, None, None
            moved = FIRING
        elif s.state != PENDING:
            s.state = moved = PENDING
    elif s.state == PENDING:
        s.state, s.active_at = INACTIVE, None
        moved = INACTIVE
    context = {"value": s.value, "threshold": s.threshold, "rule": rule.name, "model": model,
               "version": str(window.version),
               "labels": {"alertname": rule.name, "model": model, "version": str(window.version),
                          "severity": rule.severity}}
    s.labels = {k: render(v, context) for k, v in rule.labels.items()}
    context["labels"].update(s.labels)
    s.annotations = {k: render(v, context) for k, v in rule.annotations.items()}
    return s, moved, ""


def _same(a: Status, b: Status) -> bool:
    """Equal but for when they were evaluated."""
    return {**a.to_data(), "evaluated_at": 0} == {**b.to_data(), "evaluated_at": 0}


def _missing(rule: Rule, window: Window, reference: Mapping[str, float]) -> str:
    conditions = [rule.condition] + ([rule.resolve_condition] if rule.resolve_condition is not None else [])
    absent = []
    for c in conditions:
        for m in metrics_of(c):
            found = (reference if m.reference else window.values).get(m.name)
            if (found is None or math.isnan(found)) and m.shown not in absent:
                absent.append(m.shown)
    if not absent:
        return "the expression has no value in this window"
    where = "the version's run" if all(a.startswith("reference.") for a in absent) else "this window"
    return f"no value of {', '.join(absent)} in {where}"


def alert_labels(model: str, version: int, rule: Rule, status: Status | None = None) -> dict[str, str]:
    return {**(status.labels if status else {}), "alertname": rule.name, "model": model, "version": str(version),
            "severity": rule.severity}


def alert_fingerprint(model: str, version: int, rule: str) -> str:
    from modelcycle.monitoring.notify import fingerprint

    return fingerprint({"alertname": rule, "model": model, "version": str(version)})


# ------------------------------------------------------------------ replay (no store)
def replay(rules: RuleSet, windows: Sequence[Window], reference: Mapping[str, float] | None = None,
           model: str = "model") -> list[tuple[Window, dict[str, Status], list[Transition]]]:
    """Evaluate every rule over ``windows`` (one version, oldest first); after each window, the
    status of each rule and the transitions it made. For tests of rules (``monitor test-rules``)."""
    statuses = {r.name: Status() for r in rules.rules}
    out = []
    for w in windows:
        moved = []
        for rule in rules.rules:
            old = statuses[rule.name]
            new, state, _ = step(rule, old, w, reference or {}, rules.min_rows_of(rule), model)
            statuses[rule.name] = new
            if state is not None:
                moved.append(Transition(model, w.version, rule.name, old.state, state, w.start, w.end, new.value,
                                        new.threshold, new.fired_at if state != PENDING else new.active_at))
        out.append((w, {k: Status(**asdict(v)) for k, v in statuses.items()}, moved))
    return out


# ------------------------------------------------------------------ silences
_MATCHER = re.compile(r"\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Silence:
    """Mutes the alerts whose labels match every matcher (Alertmanager's ``name=value``,
    ``name!=value``, ``name=~regex``, ``name!~regex``) from ``starts_at`` until ``expires_at``."""

    id: int
    model: str
    matchers: tuple[tuple[str, str, str], ...]
    starts_at: int
    expires_at: int | None
    comment: str = ""
    created_by: str = ""

    def matches(self, labels: Mapping[str, str]) -> bool:
        if labels.get("model", self.model) != self.model:
            return False
        for name, op, value in self.matchers:
            found = str(labels.get(name, ""))
            if op == "=" and found != value or op == "!=" and found == value:
                return False
            if op in ("=~", "!~") and bool(re.fullmatch(value, found)) != (op == "=~"):
                return False
        return True

    def active(self, now: int) -> bool:
        return self.starts_at <= now and (self.expires_at is None or now < self.expires_at)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "model": self.model,
                "matchers": [f"{n}{op}{v}" for n, op, v in self.matchers], "starts_at": self.starts_at,
                "expires_at": self.expires_at, "comment": self.comment, "created_by": self.created_by}


def parse_matcher(text: object) -> tuple[str, str, str]:
    m = _MATCHER.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise InvalidInput(f"A silence matcher is name=value, name!=value, name=~regex or name!~regex "
                           f"(for example rule=drift or version=2); got {text!r}.")
    name, op, value = m.groups()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise InvalidInput(f"The regular expression of matcher {text!r} is invalid: {exc}.") from None
    return ("alertname" if name == "rule" else name), op, value


def add_silence(store: Store, model: str, matchers: Sequence[str], duration_s: float, comment: str = "",
                created_by: str = "", starts_at: int | None = None) -> Silence:
    """A silence of ``model``'s alerts matching ``matchers`` for ``duration_s`` seconds."""
    parsed = tuple(parse_matcher(m) for m in matchers)
    if not parsed:
        raise InvalidInput("A silence needs at least one matcher, such as rule=drift; it would mute every alert.")
    if isinstance(duration_s, bool) or not isinstance(duration_s, (int, float)) or not 0 < duration_s < 10 * 365 * 86400:
        raise InvalidInput(f"A silence lasts a positive duration under ten years; got {duration_s!r} seconds.")
    start = now_ms() if starts_at is None else starts_at
    data = {"matchers": [list(m) for m in parsed], "starts_at": start, "expires_at": start + int(duration_s * 1000),
            "comment": str(comment), "created_by": str(created_by)}
    event = store.add_monitor_event(model, SILENCE_EVENT, data)
    return Silence(event.seq, model, parsed, start, data["expires_at"], data["comment"], data["created_by"])


def silences(store: Store, model: str, now: int | None = None, include_expired: bool = False) -> list[Silence]:
    """The silences of ``model``, active ones only unless ``include_expired``."""
    now = now_ms() if now is None else now
    expired: dict[int, int] = {}
    for e in _all_events(store, model, SILENCE_EXPIRED_EVENT):
        expired.setdefault(int(e.data["silence"]), e.time_ms)
    out = []
    for e in _all_events(store, model, SILENCE_EVENT):
        d = e.data
        ends = d.get("expires_at")
        if e.seq in expired:
            ends = min(ends, expired[e.seq]) if ends is not None else expired[e.seq]
        s = Silence(e.seq, model, tuple(tuple(m) for m in d["matchers"]), d["starts_at"], ends, d.get("comment", ""),
                    d.get("created_by", ""))
        if include_expired or s.active(now):
            out.append(s)
    return out


def expire_silence(store: Store, model: str, silence_id: int) -> Silence:
    found = [s for s in silences(store, model, include_expired=True) if s.id == silence_id]
    if not found:
        raise NotFound(f"Model {model!r} has no silence {silence_id}; `modelcycle monitor silence list {model}` "
                       "shows them.")
    store.add_monitor_event(model, SILENCE_EXPIRED_EVENT, {"silence": silence_id})
    return found[0]


def _all_events(store: Store, model: str, kind: str) -> list:
    out, after = [], 0
    while True:
        part = store.monitor_events(model, kind=kind, after_seq=after, limit=10_000)
        out += part
        if len(part) < 10_000:
            return out
        after = part[-1].seq


# ------------------------------------------------------------------ the evaluator on the store
@dataclass
class Evaluation:
    """What one pass of the evaluator did."""

    evaluated: bool  # False: another process holds the lease (``reason`` says so)
    transitions: list[Transition] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)  # window, rule and why it did not count
    firing: list[AlertState] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""


class AlertEvaluator:
    """Evaluates ``rules`` over the stored windows of ``model`` not yet evaluated, under the lease
    ``monitor:{model}`` (owner ``owner``; renewing it when this process already holds it).

    ``dispatcher`` (a notify.Dispatcher) gets every firing alert and each resolved one; ``actions``
    (an actions.Actions) runs a rule's actions once per firing; ``horizon_ms``: windows older than
    this before ``now`` are not evaluated when a rule first meets them."""

    def __init__(self, model: str, rules: RuleSet, store: Store, owner: str | None = None,
                 lease_ttl_s: float = 300.0, dispatcher: Dispatcher | None = None, actions: Actions | None = None,
                 report: str | None = None, horizon_ms: int = DEFAULT_HORIZON_MS):
        import os
        import socket

        from modelcycle.store.validation import check_model_name

        self.model = check_model_name(model)
        if not isinstance(rules, RuleSet):
            raise InvalidInput(f"rules is a RuleSet (from load_rules or default_rules); got {type(rules).__name__}.")
        self.rules, self.store = rules, store
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_ttl_s, self.dispatcher, self.actions, self.report = lease_ttl_s, dispatcher, actions, report
        self.horizon_ms = horizon_ms
        self._references: dict[int, dict[str, float]] = {}

    @property
    def lease_name(self) -> str:
        return f"monitor:{self.model}"

    def evaluate(self, now: int | None = None) -> Evaluation:
        now = now_ms() if now is None else now
        lease = acquire_lease(self.store, self.lease_name, self.owner, self.lease_ttl_s)
        if lease is None:
            holder = self.store.get_lease(self.lease_name)
            return Evaluation(False, reason=f"another monitor ({holder.owner if holder else 'unknown'}) holds "
                                            f"{self.lease_name}; it evaluates the alerts")
        stored = {s.fingerprint: s for s in self.store.alert_states(self.model)}
        result = Evaluation(True)
        changed: dict[str, AlertState] = {}
        floor = max(0, now - self.horizon_ms) if self.horizon_ms else 0
        replayed = False
        for version, windows in sorted(self._windows(stored, now).items()):
            reference = self._reference(version)
            for rule in self.rules.rules:
                fp = alert_fingerprint(self.model, version, rule.name)
                previous = stored.get(fp)
                min_rows = self.rules.min_rows_of(rule)
                status, moved_here, skipped, replayed_from = self._evaluate_rule(
                    rule, previous, windows, reference, min_rows, floor)
                if replayed_from is not None:
                    replayed = True
                result.transitions += moved_here
                result.skipped += skipped
                if previous is not None and _same(status, Status.from_data(previous.data)):
                    continue  # nothing new for this rule
                if status.last_window is None:
                    continue
                changed[fp] = AlertState(self.model, fp, rule.name, status.state, status.active_at, status.fired_at,
                                         status.resolved_at, now, {**status.to_data(), "version": version,
                                                                   "severity": rule.severity, "expr": rule.expr})
        if not self._still_holding(lease):
            return Evaluation(False, reason=f"the lease {self.lease_name} passed to another monitor during the "
                                            "pass; nothing was written")
        self._record(result, changed, stored, replayed)
        self.store.save_alert_states(self.model, list(changed.values()))
        result.firing = [s for s in {**stored, **changed}.values() if s.state == FIRING]
        self._run_actions(result, changed)
        self._notify(result, {**stored, **changed})
        return result

    # -------------------------------------------------------------- the pass, step by step
    def _evaluate_rule(self, rule: Rule, previous: AlertState | None, windows: list[Window],
                       reference: Mapping[str, float], min_rows: int, floor: int):
        """Carry one rule's alert on over ``windows`` (those of one version from before the horizon
        on): (new status, transitions, skipped windows, start of the replay or None).

        A window within the horizon that was rewritten since the last evaluation (late labels)
        makes the alert evaluate again from its checkpoint, the status before the horizon's first
        window, over every window since; otherwise only the new windows are evaluated."""
        prev = Status.from_data(previous.data) if previous is not None else Status()
        checkpoint = Status.from_data(prev.checkpoint) if prev.checkpoint else Status()
        evaluated = [w for w in windows if prev.last_window is not None and w.start <= prev.last_window]
        for w in evaluated:  # windows that left the horizon: into the checkpoint, for good
            if w.start < floor and (checkpoint.last_window is None or w.start > checkpoint.last_window):
                checkpoint, _, _ = step(rule, checkpoint, w, reference, min_rows, self.model)
        rewritten = [w for w in evaluated if w.start >= floor and w.changed_at > prev.evaluated_at]
        if previous is not None and not prev.evaluated_at:
            rewritten = []  # an alert evaluated before checkpoints were kept: it carries on from here
        if rewritten:
            status = Status(**{**asdict(checkpoint), **{k: getattr(prev, k) for k in BOOKKEEPING}})
            todo = [w for w in windows if w.start >= floor and
                    (checkpoint.last_window is None or w.start > checkpoint.last_window)]
        else:
            status = prev  # windows older than the horizon are not evaluated when first met
            todo = [w for w in windows if w.start >= floor and (prev.last_window is None or w.start > prev.last_window)]
        moved_here, skipped = [], []
        for window in todo:
            old = status.state
            status, moved, why = step(rule, status, window, reference, min_rows, self.model)
            if why and (prev.last_window is None or window.start > prev.last_window):  # said once
                skipped.append({"version": window.version, "rule": rule.name, "window_start": window.start,
                                "window_end": window.end, "reason": why})
            if moved is not None:
                moved_here.append(Transition(self.model, window.version, rule.name, old, moved, window.start,
                                             window.end, status.value, status.threshold,
                                             status.active_at if moved == PENDING else status.fired_at))
        if rewritten and prev.state == status.state == FIRING and prev.actions_for == prev.fired_at:
            status.actions_for = status.fired_at  # the same episode, seen to start earlier: its actions ran
        if prev.last_window is not None and (status.last_window is None or status.last_window < prev.last_window):
            status.last_window = prev.last_window
        status.checkpoint = {k: v for k, v in checkpoint.to_data().items() if k not in BOOKKEEPING}
        status.evaluated_at = now_ms()
        return status, moved_here, skipped, (rewritten[0].start if rewritten else None)

    def _windows(self, stored: dict[str, AlertState], now: int) -> dict[int, list[Window]]:
        """Per version, the stored windows from the horizon on (from the oldest checkpoint, where
        windows are leaving the horizon), with the values the rules read and when they were written."""
        floor = max(0, now - self.horizon_ms) if self.horizon_ms else 0
        since = floor
        for s in stored.values():
            checkpoint = Status.from_data(s.data).checkpoint or {}
            if checkpoint.get("last_window") is not None:
                since = min(since, int(checkpoint["last_window"]) + 1)
        marks = self.store.monitor_results(self.model, metrics=["rows"], start_ms=since)
        per_version: dict[int, list] = defaultdict(list)
        for p in marks:
            per_version[p.version].append(p)
        needed = sorted({m.name for r in self.rules.rules for c in (r.condition, r.resolve_condition)
                         if c is not None for m in metrics_of(c) if not m.reference})
        out = {}
        for version, points in per_version.items():
            values: dict[int, dict[str, float]] = defaultdict(dict)
            written = {p.window_start: p.computed_at for p in points}
            if needed:
                for p in self.store.monitor_results(self.model, version=version, metrics=needed,
                                                    start_ms=points[0].window_start):
                    values[p.window_start][p.metric] = p.value
                    written[p.window_start] = max(written.get(p.window_start, 0), p.computed_at)
            out[version] = [Window(version, p.window_start, p.window_end, p.value, values.get(p.window_start, {}),
                                   written[p.window_start]) for p in sorted(points, key=lambda p: p.window_start)]
        return out

    def _reference(self, version: int) -> dict[str, float]:
        """The version's run metrics that rules read as ``reference.<metric>`` (else its parent's)."""
        if version not in self._references:
            wanted = self.rules.reference_metrics()
            found: dict[str, float] = {}
            if wanted and version:
                try:
                    run = self.store.get_run(self.store.get_model_version(self.model, version).run_id)
                    runs = [run] + ([self.store.get_run(run.parent_id)] if run.parent_id else [])
                except NotFound:
                    runs = []
                for r in runs:
                    for key in wanted:
                        if key not in found and key in r.metrics:
                            found[key] = float(r.metrics[key].value)
            self._references[version] = found
        return self._references[version]

    def _still_holding(self, lease) -> bool:
        current = self.store.get_lease(self.lease_name)
        return current is not None and current.owner == self.owner and current.epoch == lease.epoch

    def _record(self, result: Evaluation, changed: dict[str, AlertState], stored: dict[str, AlertState],
                replayed: bool = False) -> None:
        """Each transition once as a monitor event, even when a pass is repeated after a crash
        between writing the events and the states, or windows are evaluated again after late
        labels; ``result.transitions`` keeps only those recorded now."""
        since = 0 if replayed else min([Status.from_data(s.data).event_seq for s in stored.values()] or [0])
        recorded = {(e.data.get("fingerprint"), e.data.get("window_start"), e.data.get("new")): e.seq
                    for e in (_all_events(self.store, self.model, ALERT_EVENT) if replayed else
                              self.store.monitor_events(self.model, kind=ALERT_EVENT, after_seq=since, limit=50_000))}
        fresh = []
        for t in result.transitions:
            fp = alert_fingerprint(self.model, t.version, t.rule)
            state = changed[fp]
            seq = recorded.get((fp, t.window_start, t.new))
            if seq is None or not replayed:
                fresh.append(t)
            if seq is None:
                data = {**t.to_dict(), "fingerprint": fp, "labels": state.data.get("labels", {}),
                        "annotations": state.data.get("annotations", {}), "severity": state.data.get("severity"),
                        "expr": state.data.get("expr"), "fired_at": state.fired_at, "resolved_at": state.resolved_at}
                seq = self.store.add_monitor_event(self.model, ALERT_EVENT, data).seq
            state.data["event_seq"] = max(state.data.get("event_seq", 0), seq)
        result.transitions = fresh
        below: dict[tuple[int, int], dict[str, Any]] = {}
        for s in result.skipped:
            if "min_rows" in s["reason"]:
                entry = below.setdefault((s["version"], s["window_start"]), {**s, "rules": []})
                entry["rules"].append(s["rule"])
        for entry in below.values():
            entry.pop("rule")
            self.store.add_monitor_event(self.model, SKIP_EVENT, entry)

    def _run_actions(self, result: Evaluation, changed: dict[str, AlertState]) -> None:
        if self.actions is None:
            return
        by_name = {r.name: r for r in self.rules.rules}
        for state in changed.values():
            rule = by_name[state.rule]
            if state.state != FIRING or not rule.actions or state.data.get("actions_for") == state.fired_at:
                continue
            # Marked done before running: an action such as a rollback runs at most once per firing.
            state.data["actions_for"] = state.fired_at
            self.store.save_alert_states(self.model, [state])
            notification = self.notification(state)
            for name in rule.actions:
                outcome = self.actions.run(name, notification)
                entry = {"fingerprint": state.fingerprint, "rule": state.rule, "version": state.data["version"],
                         "fired_at": state.fired_at, **outcome.to_dict()}
                result.actions.append(entry)
                self.store.add_monitor_event(self.model, ACTION_EVENT, entry)

    def notification(self, state: AlertState) -> Notification:
        from modelcycle.monitoring.notify import Notification

        d = state.data
        firing = state.state == FIRING
        return Notification(self.model, int(d["version"]), state.rule, "firing" if firing else "resolved",
                            d.get("value"), d.get("threshold"), int(state.fired_at or state.active_at or 0),
                            severity=d.get("severity") or "warning", labels=d.get("labels") or {},
                            annotations=d.get("annotations") or {}, report=self.report,
                            resolved_at=None if firing else state.resolved_at, window_start=d.get("window_start"),
                            window_end=d.get("window_end"), expr=d.get("expr"), fingerprint=state.fingerprint)

    def _notify(self, result: Evaluation, states: dict[str, AlertState]) -> None:
        if self.dispatcher is None:
            return
        resolved_now = {alert_fingerprint(self.model, t.version, t.rule) for t in result.transitions
                        if t.new == RESOLVED}
        for state in states.values():
            # A resolved notice is owed where the firing went out and the resolved did not yet
            # (a restart, or group_interval held it back when a one-pass monitor exited).
            owed = state.state == RESOLVED and any(
                (entry or {}).get("state") == FIRING for entry in (state.data.get("delivered") or {}).values())
            if state.state == FIRING or (state.state == RESOLVED and (state.fingerprint in resolved_now or owed)):
                self.dispatcher.submit(self.notification(state))
        self.dispatcher.flush()


def acquire_lease(store: Store, name: str, owner: str, ttl_s: float):
    """``store.acquire_lease``, taking over at once a lease whose holder was a process of this
    host that is gone (a monitor killed with -9 and restarted would otherwise wait out the TTL,
    up to 15 minutes with --every 5m). Owners are ``host:pid``."""
    import socket

    from modelcycle.monitoring.actions import _alive

    lease = store.acquire_lease(name, owner, ttl_s)
    if lease is not None:
        return lease
    holder = store.get_lease(name)
    host, _, pid = (holder.owner if holder is not None else "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and f"{host}:{pid}" != owner and not _alive(int(pid)):
        log.warning("The lease %s was held by %s, a process of this host that is gone; taking it over", name,
                    holder.owner)
        store.release_lease(name, holder.owner)
        lease = store.acquire_lease(name, owner, ttl_s)
    return lease


def dispatcher_for(rules: RuleSet, store: Store, model: str, **kwargs) -> Dispatcher | None:
    """The Dispatcher of the rules' ``notifications`` settings (None without them): silences read
    from the store, every send attempt recorded as a monitor event. ``group_wait`` defaults to 0
    so that one pass (``monitor run``) sends what it found before it exits."""
    if not rules.notifications:
        return None
    from modelcycle.monitoring.notify import Dispatcher

    def record(attempt) -> None:
        store.add_monitor_event(model, NOTIFY_EVENT, attempt.to_dict())

    settings = dict(rules.notifications)
    settings.setdefault("group_wait", 0)
    kwargs.setdefault("delivery", StoreDelivery(store, model))
    return Dispatcher.from_config(settings, silences=lambda: silences(store, model), on_attempt=record, **kwargs)


class StoreDelivery:
    """What a dispatcher delivered, in each alert's state in the store (``data["delivered"]``: per
    channel the state sent and when): a restarted monitor, or the next holder of the lease, does
    not send it again, and still sends the resolved notice of an alert whose firing went out."""

    def __init__(self, store: Store, model: str):
        self.store, self.model = store, model

    def load(self) -> dict[str, dict[str, dict[str, Any]]]:
        return {s.fingerprint: dict(s.data.get("delivered") or {}) for s in self.store.alert_states(self.model)}

    def save(self, entries: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
        from dataclasses import replace

        states = {s.fingerprint: s for s in self.store.alert_states(self.model)}
        updated = [replace(states[fp], data={**states[fp].data, "delivered": {
            **(states[fp].data.get("delivered") or {}), **{k: dict(v) for k, v in channels.items()}}})
            for fp, channels in entries.items() if fp in states]
        self.store.save_alert_states(self.model, updated)


class EventState:
    """State kept as the latest monitor event of one kind (the retrain action's cooldown), so
    that every monitor process and host sees the same."""

    def __init__(self, store: Store, model: str, kind: str = "retrain_state"):
        self.store, self.model, self.kind = store, model, kind

    def load(self) -> dict[str, Any]:
        found = _all_events(self.store, self.model, self.kind)
        return dict(found[-1].data) if found else {}

    def save(self, state: dict[str, Any]) -> None:
        self.store.add_monitor_event(self.model, self.kind, state)


def actions_for(rules: RuleSet, store: Store, model: str, client=None) -> Actions | None:
    """The Actions of the rules' ``actions`` settings, when any rule has actions."""
    if not any(r.actions for r in rules.rules):
        return None
    from modelcycle.monitoring.actions import Actions

    return Actions.from_config(rules.actions or {}, state=EventState(store, model), client=client)


def alert_history(store: Store, model: str, limit: int = 1000) -> list[dict[str, Any]]:
    """The alerts of ``model``, newest first: each one pending or firing now, and each firing
    episode that resolved, with when it fired and resolved."""
    current = [s for s in store.alert_states(model) if s.state in (PENDING, FIRING)]
    out = [{"version": s.data.get("version"), "rule": s.rule, "state": s.state, "since": s.fired_at or s.active_at,
            "resolved_at": None, "value": s.data.get("value"), "threshold": s.data.get("threshold"),
            "severity": s.data.get("severity"), "summary": (s.data.get("annotations") or {}).get("summary", "")}
           for s in current]
    for e in reversed(_all_events(store, model, ALERT_EVENT)):
        d = e.data
        if d.get("new") == RESOLVED:
            out.append({"version": d.get("version"), "rule": d.get("rule"), "state": RESOLVED,
                        "since": d.get("since"), "resolved_at": d.get("resolved_at"), "value": d.get("value"),
                        "threshold": d.get("threshold"), "severity": d.get("severity"),
                        "summary": (d.get("annotations") or {}).get("summary", "")})
        if len(out) >= limit:
            break
    return out


# ------------------------------------------------------------------ rule tests (`monitor test-rules`)
_SERIES_ITEM = re.compile(r"^(_|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?:([-+])((?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))?"
                          r"(?:x(\d+))?$")


def expand_series(text: object, what: str) -> list[float | None]:
    """promtool's notation: ``1 2 3``, ``0+0.1x4`` (0 0.1 0.2 0.3 0.4), ``0.5x2`` (0.5 0.5 0.5),
    ``_`` (no value) and ``_x3`` (three windows without one)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return [float(text)]
    if not isinstance(text, str) or not text.split():
        raise InvalidInput(f"The values of {what} are a string such as '0 0.5x3 0.1'; got {text!r}.")
    out: list[float | None] = []
    for item in text.split():
        m = _SERIES_ITEM.match(item)
        if m is None:
            raise InvalidInput(f"{item!r} in the values of {what} is not a number, '_', 'AxN' or 'A+BxN'.")
        first, sign, step_text, times = m.groups()
        if first == "_":
            if sign:
                raise InvalidInput(f"{item!r} in the values of {what}: '_' takes no step.")
            out += [None] * (int(times) if times else 1)
            continue
        start, step_value = float(first), float(step_text or 0) * (-1 if sign == "-" else 1)
        if times is None:
            if sign:
                raise InvalidInput(f"{item!r} in the values of {what}: a step needs a count, as in 0+0.1x4.")
            out.append(start)
        else:
            out += [start + i * step_value for i in range(int(times) + 1)]
    return out


def check_rule_cases(rules: RuleSet, cases: Any) -> tuple[int, list[str]]:
    """Replay the series of each test case through ``rules`` and compare the alerts firing at each
    ``eval_time`` with ``exp_alerts`` (promtool's layout); (checks made, failures with diffs)."""
    import difflib

    import yaml

    from modelcycle.monitoring.notify import parse_duration

    if not isinstance(cases, Mapping) or not isinstance(cases.get("tests"), list):
        raise InvalidInput("The test cases are a mapping with a 'tests' list, each with input_series and "
                           "alert_rule_test.")
    names = {r.name for r in rules.rules}
    checks, failures = 0, []
    for i, case in enumerate(cases["tests"]):
        where = f"tests[{i}]" + (f" ({case.get('name')})" if isinstance(case, Mapping) and case.get("name") else "")
        if not isinstance(case, Mapping):
            raise InvalidInput(f"{where} is a mapping with input_series and alert_rule_test.")
        unknown = sorted(set(case) - {"name", "interval", "model", "version", "reference", "input_series",
                                      "alert_rule_test"})
        if unknown:
            raise InvalidInput(f"{where}: unknown field {unknown[0]!r}.")
        interval = int(parse_duration(case.get("interval", "1h"), f"{where}.interval") * 1000)
        if interval <= 0:
            raise InvalidInput(f"{where}.interval is a positive duration such as 1h.")
        model, version = str(case.get("model", "model")), int(case.get("version", 1))
        raw = case.get("input_series") or {}
        if isinstance(raw, list):  # promtool's [{series: name, values: "..."}]
            raw = {item.get("series"): item.get("values") for item in raw if isinstance(item, Mapping)}
        if not isinstance(raw, Mapping) or not raw:
            raise InvalidInput(f"{where}.input_series maps metric names to values such as '0 0.5x3'.")
        series = {str(k): expand_series(v, f"{where}.input_series.{k}") for k, v in raw.items()}
        length = max(len(v) for v in series.values())
        windows = []
        for n in range(length):
            values = {k: v[n] for k, v in series.items() if n < len(v) and v[n] is not None}
            rows = values.pop("rows", math.inf)
            windows.append(Window(version, n * interval, (n + 1) * interval, rows, values))
        reference = {str(k): float(v) for k, v in (case.get("reference") or {}).items()}
        replayed = replay(rules, windows, reference, model)
        for j, check in enumerate(case.get("alert_rule_test") or []):
            at = f"{where}.alert_rule_test[{j}]"
            if not isinstance(check, Mapping) or "eval_time" not in check or "alertname" not in check:
                raise InvalidInput(f"{at} needs eval_time and alertname (and exp_alerts, [] for none).")
            if check["alertname"] not in names:
                raise InvalidInput(f"{at}: no rule is named {check['alertname']!r}; the rules are {sorted(names)}.")
            eval_ms = int(parse_duration(check["eval_time"], f"{at}.eval_time") * 1000)
            done = [statuses for w, statuses, _ in replayed if w.end <= eval_ms]
            status = done[-1][check["alertname"]] if done else Status()
            rule = next(r for r in rules.rules if r.name == check["alertname"])
            got = []
            if status.state == FIRING:
                got = [{"labels": {k: v for k, v in alert_labels(model, version, rule, status).items()
                                   if k != "alertname"}, "annotations": dict(status.annotations)}]
            expected = [{"labels": {str(k): str(v) for k, v in (e.get("exp_labels") or e.get("labels") or {}).items()},
                         "annotations": {str(k): str(v) for k, v in
                                         (e.get("exp_annotations") or e.get("annotations") or {}).items()}}
                        for e in (check.get("exp_alerts") or [])]
            checks += 1
            matched = len(got) == len(expected) and all(
                all(g["labels"].get(k) == v for k, v in e["labels"].items())
                and all(g["annotations"].get(k) == v for k, v in e["annotations"].items())
                for e, g in zip(expected, got))
            if not matched:
                shown_got = [{"labels": {k: g["labels"][k] for k in (e["labels"] if e else g["labels"])
                                         if k in g["labels"]} or g["labels"],
                              "annotations": {k: g["annotations"].get(k) for k in (e["annotations"] if e else {})}}
                             for e, g in zip(expected + [None] * len(got), got)]
                diff = difflib.unified_diff(
                    yaml.safe_dump(expected, sort_keys=True).splitlines(),
                    yaml.safe_dump(shown_got, sort_keys=True).splitlines(), "expected", "got", lineterm="")
                failures.append(f"{where}: {check['alertname']} at {check['eval_time']} "
                                f"(state {status.state}{', ' + status.reason if status.reason else ''}):\n"
                                + "\n".join(f"    {line}" for line in diff))
    return checks, failures
