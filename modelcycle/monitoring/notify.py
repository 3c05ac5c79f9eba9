"""Notifications of alerts and their dispatch: dedupe, grouping, repeats, resolved notices,
silences, a rate limit per channel with a digest of what exceeds it, retries with backoff and a
log of every attempt. Sending never raises out of the dispatcher: the monitor must go on."""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol, Sequence

from modelcycle.exceptions import InvalidInput
from modelcycle.store.clock import now_ms

if TYPE_CHECKING:
    from modelcycle.monitoring.channels import Channel

log = logging.getLogger("modelcycle.monitoring")

FIRING, RESOLVED = "firing", "resolved"
DEFAULT_GROUP_BY = ("model", "alertname")


class Clock(Protocol):
    def now_ms(self) -> int: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now_ms(self) -> int:
        return now_ms()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Silence(Protocol):
    """What the dispatcher needs of a silence: whether it mutes these labels, and until when (ms;
    None for no end)."""

    expires_at: int | None

    def matches(self, labels: Mapping[str, str]) -> bool: ...


def parse_duration(value: object, what: str) -> float:
    """Seconds from a number of seconds or ``500ms``, ``30s``, ``5m``, ``4h``, ``1d``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h|d)?\s*", str(value))
        if not match:
            raise InvalidInput(f"{what} is a duration such as 30s, 5m or 4h (or a number of seconds); got {value!r}.")
        seconds = float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}[
            match.group(2)]
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidInput(f"{what} is a duration of 0 or more; got {value!r}.")
    return seconds


def fingerprint(labels: Mapping[str, str]) -> str:
    """Prometheus' fingerprint of a label set: FNV-1a 64 over the sorted names and values, each
    followed by the byte 0xff; 16 hex digits, as Alertmanager's webhook shows it."""
    h = 0xCBF29CE484222325
    for name in sorted(labels):
        for part in (name, str(labels[name])):
            for byte in part.encode() + b"\xff":
                h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4g}"


@dataclass(frozen=True)
class Notification:
    """One alert of one rule for one model version, firing or resolved. Times are ms since the
    epoch: ``since`` is when it started firing, ``resolved_at`` when it stopped."""

    model: str
    version: int
    rule: str
    state: str
    value: float | None
    threshold: float | None
    since: int
    severity: str = "warning"
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    report: str | None = None
    resolved_at: int | None = None
    window_start: int | None = None
    window_end: int | None = None
    expr: str | None = None
    fingerprint: str | None = None  # the alert's own (the store's); else computed from the labels

    def __post_init__(self):
        if self.state not in (FIRING, RESOLVED):
            raise InvalidInput(f"A notification's state is 'firing' or 'resolved'; got {self.state!r}.")
        for name in ("model", "rule"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise InvalidInput(f"A notification's {name} is a non-empty string; got {getattr(self, name)!r}.")
        if not isinstance(self.since, int) or isinstance(self.since, bool):
            raise InvalidInput(f"A notification's since is ms since the epoch (an int); got {self.since!r}.")

    @property
    def all_labels(self) -> dict[str, str]:
        return {**{k: str(v) for k, v in self.labels.items()}, "alertname": self.rule, "model": self.model,
                "version": str(self.version), "severity": self.severity}

    @property
    def key(self) -> str:
        return self.fingerprint or fingerprint(self.all_labels)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "rule": self.rule, "state": self.state,
                "value": None if self.value is None or math.isnan(self.value) else self.value,
                "threshold": self.threshold, "since": self.since, "severity": self.severity,
                "labels": dict(self.labels), "annotations": dict(self.annotations), "report": self.report,
                "resolved_at": self.resolved_at, "window_start": self.window_start,
                "window_end": self.window_end, "expr": self.expr, "fingerprint": self.key}

    def title(self) -> str:
        return f"[{self.state.upper()}] {self.rule} on {self.model} version {self.version} ({self.severity})"

    def facts(self) -> list[tuple[str, str]]:
        """What every message says, as (name, text) pairs."""
        rule = f"{self.rule} ({self.expr})" if self.expr else self.rule
        facts = [("Model", f"{self.model} version {self.version}"), ("Rule", rule),
                 ("Value", f"{_number(self.value)} (threshold {_number(self.threshold)})"),
                 ("Since", iso(self.since))]
        if self.state == RESOLVED and self.resolved_at is not None:
            facts.append(("Resolved", iso(self.resolved_at)))
        if self.window_start is not None and self.window_end is not None:
            facts.append(("Window", f"{iso(self.window_start)} to {iso(self.window_end)}"))
        for name in ("summary", "description"):
            if self.annotations.get(name):
                facts.append((name.capitalize(), str(self.annotations[name])))
        facts.append(("Report", self.report or "none"))
        return facts

    def short(self) -> str:
        """One line, for SMS."""
        text = (f"[{self.state.upper()}] {self.model} v{self.version} {self.rule}: {_number(self.value)} "
                f"(threshold {_number(self.threshold)}) since {iso(self.since)}")
        return text + (f" report {self.report}" if self.report else "")


@dataclass(frozen=True)
class Batch:
    """What one message carries: the alerts of one group, or a digest of messages the rate limit
    held back."""

    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    alerts: tuple[Notification, ...]
    digest: bool = False
    external_url: str = ""

    @property
    def status(self) -> str:
        return FIRING if any(a.state == FIRING for a in self.alerts) else RESOLVED

    def common_labels(self) -> dict[str, str]:
        return _common([a.all_labels for a in self.alerts])

    def common_annotations(self) -> dict[str, str]:
        return _common([{k: str(v) for k, v in a.annotations.items()} for a in self.alerts])

    def title(self) -> str:
        if self.digest:
            return f"Digest of {len(self.alerts)} alert notifications held back by the rate limit"
        if len(self.alerts) == 1:
            return self.alerts[0].title()
        firing = sum(a.state == FIRING for a in self.alerts)
        what = ", ".join(f"{k}={v}" for k, v in sorted(self.group_labels.items()))
        return f"[{self.status.upper()}:{firing}] {len(self.alerts)} alerts ({what})"


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


@dataclass(frozen=True)
class SendRecord:
    """One attempt to deliver one message on one channel."""

    time_ms: int
    channel: str
    channel_type: str
    group_key: str
    attempt: int
    ok: bool
    status: int | None
    error: str
    fingerprints: tuple[str, ...]
    states: tuple[str, ...]
    models: tuple[str, ...]
    digest: bool
    duration_ms: int
    outcome: str  # sent | failed | gave_up | folded

    def to_dict(self) -> dict[str, Any]:
        return {"time_ms": self.time_ms, "channel": self.channel, "channel_type": self.channel_type,
                "group_key": self.group_key, "attempt": self.attempt, "ok": self.ok, "status": self.status,
                "error": self.error, "fingerprints": list(self.fingerprints), "states": list(self.states),
                "models": list(self.models), "digest": self.digest, "duration_ms": self.duration_ms,
                "outcome": self.outcome}


class DeliveryError(Exception):
    """A channel could not deliver; ``retryable`` is False where trying again cannot help
    (a refused token, a malformed request)."""

    def __init__(self, message: str, status: int | None = None, retryable: bool = True):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass
class RateLimit:
    """At most ``count`` messages per ``per_s`` seconds, over a sliding window."""

    count: int
    per_s: float
    _sent: deque = field(default_factory=deque, repr=False)

    def allows(self, now_ms: int) -> bool:
        while self._sent and self._sent[0] <= now_ms - self.per_s * 1000:
            self._sent.popleft()
        return len(self._sent) < self.count

    def take(self, now_ms: int) -> None:
        self._sent.append(now_ms)


@dataclass
class _Alert:
    notification: Notification
    group: str


@dataclass
class _ChannelGroup:
    delivered: dict[str, str] = field(default_factory=dict)  # fingerprint -> state last delivered
    delivered_at: dict[str, int] = field(default_factory=dict)  # fingerprint -> when
    last_sent_at: int | None = None
    next_try_at: int = 0


class DeliveryRecord(Protocol):
    """Where a dispatcher keeps what it delivered, beyond its own memory (the monitor's: the
    alert states in the store), so that a restarted process or another one taking over neither
    repeats nor loses a notification: ``load()`` gives ``{fingerprint: {channel: {"state": ...,
    "at": ms}}}`` and ``save`` takes entries of that shape."""

    def load(self) -> Mapping[str, Mapping[str, Mapping[str, Any]]]: ...

    def save(self, entries: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None: ...


@dataclass
class _Group:
    labels: dict[str, str]
    created_at: int
    alerts: dict[str, _Alert] = field(default_factory=dict)
    channels: dict[str, _ChannelGroup] = field(default_factory=dict)


class Dispatcher:
    """Takes the monitor's alerts with ``submit`` and sends what is due with ``flush``.

    A new group waits ``group_wait`` for more alerts; a change in a group already notified waits
    ``group_interval``; a group still firing is sent again after ``repeat_interval``. An alert is
    delivered once per state on each channel, and resolved only where its firing was delivered.
    Silenced alerts are not sent (and are sent once the silence expires, if still firing)."""

    def __init__(self, channels: Sequence[Channel], *, group_by: Sequence[str] = DEFAULT_GROUP_BY,
                 group_wait: float = 30.0, group_interval: float = 300.0, repeat_interval: float = 4 * 3600.0,
                 silences: Iterable[Silence] | Callable[[], Iterable[Silence]] = (),
                 clock: Clock | None = None, on_attempt: Callable[[SendRecord], None] | None = None,
                 max_attempts: int = 3, backoff: float = 0.5, max_backoff: float = 10.0,
                 receiver: str = "modelcycle", external_url: str = "", delivery: DeliveryRecord | None = None):
        names = [c.name for c in channels]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise InvalidInput(f"Channel names must differ; {duplicated} appear more than once. Name each channel.")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or not 1 <= max_attempts <= 10:
            raise InvalidInput(f"max_attempts is a whole number from 1 to 10; got {max_attempts!r}.")
        self.channels = list(channels)
        self.group_by = tuple("alertname" if g == "rule" else g for g in group_by)
        self.group_wait_ms = int(parse_duration(group_wait, "group_wait") * 1000)
        self.group_interval_ms = int(parse_duration(group_interval, "group_interval") * 1000)
        self.repeat_interval_ms = int(parse_duration(repeat_interval, "repeat_interval") * 1000)
        self.backoff_s = parse_duration(backoff, "backoff")
        self.max_backoff_s = parse_duration(max_backoff, "max_backoff")
        self.max_attempts = max_attempts
        self.silences = silences
        self.clock = clock or SystemClock()
        self.on_attempt = on_attempt
        self.receiver = receiver
        self.external_url = external_url
        self.send_log: list[SendRecord] = []
        self.delivery = delivery
        self._groups: dict[str, _Group] = {}
        self._digests: dict[str, dict[tuple[str, str], Notification]] = {c.name: {} for c in self.channels}
        self._lock = threading.RLock()

    @classmethod
    def from_config(cls, data: Mapping[str, Any], **kwargs) -> Dispatcher:
        """From a mapping such as a YAML file holds: ``channels`` and optionally ``group_by``,
        ``group_wait``, ``group_interval``, ``repeat_interval``, ``receiver``, ``external_url`` and
        ``retry: {attempts, backoff, max_backoff}``; ``kwargs`` (silences, clock, on_attempt) win."""
        from modelcycle.monitoring.channels import channels_from_config

        if not isinstance(data, Mapping):
            raise InvalidInput(f"The notification settings are a mapping with a 'channels' list; got {data!r}.")
        known = {"channels", "group_by", "group_wait", "group_interval", "repeat_interval", "receiver",
                 "external_url", "retry"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(f"Unknown notification setting {unknown[0]!r}; the settings are {sorted(known)}.")
        options: dict[str, Any] = {}
        for name in ("group_wait", "group_interval", "repeat_interval"):
            if name in data:
                options[name] = parse_duration(data[name], name)
        if "group_by" in data:
            group_by = data["group_by"]
            if not isinstance(group_by, list) or not all(isinstance(g, str) and g for g in group_by):
                raise InvalidInput(f"group_by is a list of label names such as [model, alertname]; got {group_by!r}.")
            options["group_by"] = group_by
        for name in ("receiver", "external_url"):
            if name in data:
                if not isinstance(data[name], str):
                    raise InvalidInput(f"{name} is a string; got {data[name]!r}.")
                options[name] = data[name]
        retry = data.get("retry") or {}
        if not isinstance(retry, Mapping) or set(retry) - {"attempts", "backoff", "max_backoff"}:
            raise InvalidInput(f"retry is a mapping of attempts, backoff and max_backoff; got {retry!r}.")
        if "attempts" in retry:
            options["max_attempts"] = retry["attempts"]
        for name in ("backoff", "max_backoff"):
            if name in retry:
                options[name] = parse_duration(retry[name], f"retry.{name}")
        return cls(channels_from_config(data.get("channels")), **{**options, **kwargs})

    # -- the monitor's side ------------------------------------------------------------------

    def submit(self, notification: Notification) -> None:
        """Hand over the current state of one alert. Submit firing alerts on every evaluation
        (a repeat needs them) and a resolved one when it resolves; submitting again is harmless."""
        try:
            with self._lock:
                now = self.clock.now_ms()
                labels = notification.all_labels
                group_labels = {g: labels.get(g, "") for g in self.group_by}
                key = "{}:{" + ",".join(f'{k}="{v}"' for k, v in group_labels.items()) + "}"
                group = self._groups.get(key)
                if group is None:
                    group = self._groups[key] = _Group(group_labels, now)
                group.alerts[notification.key] = _Alert(notification, key)
        except Exception:  # the monitor must go on
            log.exception("Could not take the notification of %r", notification)

    def notify(self, notifications: Iterable[Notification]) -> list[SendRecord]:
        for n in notifications:
            self.submit(n)
        return self.flush()

    def flush(self) -> list[SendRecord]:
        """Send whatever is due now; returns the attempts made. Never raises."""
        start = len(self.send_log)
        try:
            with self._lock:
                self._restore()
                silenced = self._silenced_keys()
                for channel in self.channels:
                    self._send_digest(channel)
                for key, group in list(self._groups.items()):
                    for channel in self.channels:
                        self._flush_group(key, group, channel, silenced)
                    self._forget_done(key, group)
        except Exception:
            log.exception("Notification dispatch failed; the monitor goes on")
        return self.send_log[start:]

    # -- internals ---------------------------------------------------------------------------

    def _restore(self) -> None:
        """What the delivery record holds that this process did not send itself (before a restart,
        or from another process that held the lease) counts as delivered here too."""
        if self.delivery is None:
            return
        try:
            persisted = self.delivery.load()
        except Exception:
            log.exception("Could not read what was delivered; going by this process's memory")
            return
        for group in self._groups.values():
            for fp in group.alerts:
                for name, entry in (persisted.get(fp) or {}).items():
                    state = group.channels.setdefault(name, _ChannelGroup())
                    at = int(entry.get("at") or 0)
                    if at > state.delivered_at.get(fp, -1) and entry.get("state") in (FIRING, RESOLVED):
                        state.delivered[fp], state.delivered_at[fp] = entry["state"], at
                        state.last_sent_at = max(state.last_sent_at or 0, at)

    def _remember(self, channel: Channel, alerts: Sequence[Notification], now: int) -> None:
        if self.delivery is None:
            return
        try:
            self.delivery.save({n.key: {channel.name: {"state": n.state, "at": now}} for n in alerts})
        except Exception:
            log.exception("Could not record the delivery of %d notifications on %r; a restart may send them again",
                          len(alerts), channel.name)

    def _silenced_keys(self) -> set[str]:
        try:
            silences = list(self.silences() if callable(self.silences) else self.silences)
        except Exception:
            log.exception("Could not read the silences; sending as if there were none")
            return set()
        now = self.clock.now_ms()
        active = [s for s in silences if getattr(s, "expires_at", None) is None or s.expires_at > now]
        out = set()
        for group in self._groups.values():
            for fp, alert in group.alerts.items():
                labels = alert.notification.all_labels
                for s in active:
                    try:
                        if s.matches(labels):
                            out.add(fp)
                            break
                    except Exception:
                        log.exception("A silence failed to match %s; ignoring that silence", labels)
        return out

    def _flush_group(self, key: str, group: _Group, channel: Channel, silenced: set[str]) -> None:
        now = self.clock.now_ms()
        state = group.channels.setdefault(channel.name, _ChannelGroup())
        if now < state.next_try_at:
            return
        alerts = [a.notification for fp, a in group.alerts.items() if fp not in silenced]
        changed = [n for n in alerts if state.delivered.get(n.key) != n.state
                   and not (n.state == RESOLVED and n.key not in state.delivered)]
        firing = [n for n in alerts if n.state == FIRING]
        if state.last_sent_at is None:
            due = bool(changed) and now >= group.created_at + self.group_wait_ms
        elif changed:
            due = now >= state.last_sent_at + self.group_interval_ms
        else:
            due = bool(firing) and now >= state.last_sent_at + self.repeat_interval_ms
        if not due:
            return
        resolved = [n for n in changed if n.state == RESOLVED]
        batch = Batch(self.receiver, key, group.labels, tuple(firing + resolved), external_url=self.external_url)
        outcome = self._deliver(channel, batch)
        if outcome in ("sent", "folded"):
            for n in batch.alerts:
                state.delivered[n.key], state.delivered_at[n.key] = n.state, now
            state.last_sent_at = now
            if outcome == "sent":  # a folded one is recorded when its digest goes out
                self._remember(channel, batch.alerts, now)
        else:  # try the group again after group_interval, not on every pass of the monitor
            state.next_try_at = now + self.group_interval_ms

    def _forget_done(self, key: str, group: _Group) -> None:
        for fp, alert in list(group.alerts.items()):
            if alert.notification.state != RESOLVED:
                continue
            # Done once no channel still owes its resolved notice.
            owed = any(ch.delivered.get(fp) == FIRING for ch in group.channels.values())
            if not owed:
                del group.alerts[fp]
                for ch in group.channels.values():
                    ch.delivered.pop(fp, None)
        if not group.alerts:
            del self._groups[key]

    def _send_digest(self, channel: Channel) -> None:
        pending = self._digests[channel.name]
        if not pending:
            return
        limit = getattr(channel, "rate_limit", None)
        if limit is not None and not limit.allows(self.clock.now_ms()):
            return
        batch = Batch(self.receiver, "digest", {}, tuple(pending.values()), digest=True,
                      external_url=self.external_url)
        pending.clear()
        if self._deliver(channel, batch, fold=False) != "sent":
            log.warning("The digest of %d notifications on channel %r was not delivered", len(batch.alerts),
                        channel.name)
        else:
            self._remember(channel, batch.alerts, self.clock.now_ms())

    def _fold(self, channel: Channel, batch: Batch) -> None:
        pending = self._digests[channel.name]
        for n in batch.alerts:
            pending[(n.key, n.state)] = n

    def _deliver(self, channel: Channel, batch: Batch, fold: bool = True) -> str:
        """sent, folded (into the channel's digest, for the rate limit) or failed."""
        limit = getattr(channel, "rate_limit", None)
        if fold and self._digests[channel.name]:
            self._fold(channel, batch)  # behind a waiting digest, so no message overtakes it
            self._record(channel, batch, 0, False, None, "held for the digest", 0, "folded")
            return "folded"
        for attempt in range(1, self.max_attempts + 1):
            now = self.clock.now_ms()
            if limit is not None and not limit.allows(now):
                if not fold:
                    return "failed"
                self._fold(channel, batch)
                self._record(channel, batch, attempt, False, None,
                             f"rate limit of {limit.count} per {limit.per_s:g}s reached; held for the digest", 0,
                             "folded")
                return "folded"
            if limit is not None:
                limit.take(now)
            started = time.perf_counter()
            try:
                status = channel.send(batch)
            except Exception as exc:
                retryable = getattr(exc, "retryable", True)
                last = attempt == self.max_attempts or not retryable
                self._record(channel, batch, attempt, False, getattr(exc, "status", None),
                             f"{type(exc).__name__}: {exc}"[:500], _ms_since(started), "gave_up" if last else "failed")
                if last:
                    return "failed"
                self.clock.sleep(min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s))
                continue
            self._record(channel, batch, attempt, True, status, "", _ms_since(started), "sent")
            return "sent"
        return "failed"

    def _record(self, channel: Channel, batch: Batch, attempt: int, ok: bool, status: int | None, error: str,
                duration_ms: int, outcome: str) -> None:
        record = SendRecord(self.clock.now_ms(), channel.name, channel.type, batch.group_key, attempt, ok, status,
                            error, tuple(n.key for n in batch.alerts), tuple(n.state for n in batch.alerts),
                            tuple(sorted({n.model for n in batch.alerts})), batch.digest, duration_ms, outcome)
        self.send_log.append(record)
        if not ok:
            log.warning("Notification on channel %r (%s), attempt %d: %s", channel.name, outcome, attempt, error)
        if self.on_attempt is not None:
            try:
                self.on_attempt(record)
            except Exception:
                log.exception("The send-log hook failed for %s", record)


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
