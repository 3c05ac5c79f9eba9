"""What an alert may do besides notify: roll the model back (and abort its running canary), start
a retraining command with a cooldown, or call a webhook. ``Actions.run`` never raises: it
returns an ActionResult, so a failing action does not stop the monitor."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shlex
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from modelcycle.exceptions import InvalidInput, ModelcycleError
from modelcycle.monitoring.notify import Clock, Notification, SystemClock, _number, iso, parse_duration

if TYPE_CHECKING:
    from modelcycle.tracking.client import Client

log = logging.getLogger("modelcycle.monitoring")

ACTION_NAMES = ("rollback", "retrain", "webhook")
DEFAULT_COOLDOWN_S = 6 * 3600.0


@dataclass(frozen=True)
class ActionResult:
    action: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "ok": self.ok, "detail": self.detail, "data": self.data}


def alert_reason(n: Notification) -> str:
    """One line naming the alert, as the registry's audit log keeps it."""
    return (f"alert {n.rule} ({n.severity}) on {n.model} version {n.version}: value {_number(n.value)}, "
            f"threshold {_number(n.threshold)}, firing since {iso(n.since)}, fingerprint {n.key}")


# -- rollback ------------------------------------------------------------------------------


def rollback(n: Notification, client: Client | None = None, user: str | None = None) -> ActionResult:
    """Take the alerting version out of service.

    If it is the candidate of a running canary (or other active deployment), aborting that
    deployment is the rollback: Production never moved to it. If it holds Production, Production
    goes back to the version before it through the registry, and any canary of the model
    running against it is aborted too. Both are recorded with the alert as their reason."""
    from modelcycle.models.uris import resolve_version
    from modelcycle.registry import api as registry
    from modelcycle.tracking import fluent
    from modelcycle.tracking.context import current_user

    c = client or fluent.client()
    user = user or current_user()
    reason = alert_reason(n)
    active = _active_deployments(c.store, n.model)
    aborted = []
    candidates = [d for d in active if d.candidate_version == n.version]
    for d in candidates:
        aborted.append(_abort(c.store, d, user, reason))
    if candidates:
        return ActionResult("rollback", True, f"aborted {', '.join(aborted)}: version {n.version} was their "
                            "candidate; Production is unchanged", {"aborted": aborted, "reason": reason})
    try:
        production = resolve_version(c.store, f"{n.model}@production").version
    except ModelcycleError:
        production = None
    if production is not None and n.version not in (production, 0):
        return ActionResult("rollback", False, f"version {n.version} of {n.model!r} does not hold Production "
                            f"(version {production} does) and is no deployment's candidate: nothing rolled back",
                            {"reason": reason})
    for d in active:  # a canary measured against the version leaving Production means nothing now
        if d.candidate_version is not None:
            aborted.append(_abort(c.store, d, user, reason))
    restored = registry.rollback(n.model, reason=reason, client=c)
    detail = f"Production of {n.model!r} moved back from version {production} to version {restored.version}"
    if aborted:
        detail += f"; aborted {', '.join(aborted)}"
    return ActionResult("rollback", True, detail, {"from_version": production, "to_version": restored.version,
                                                   "aborted": aborted, "reason": reason})


def _active_deployments(store, model: str) -> list:
    if importlib.util.find_spec("modelcycle.rollout.strategies") is None:  # deployments come with rollout
        return []
    try:
        deployments = store.list_deployments()
    except (AttributeError, NotImplementedError):
        return []
    return [d for d in deployments if d.model_name == model and d.state in ("active", "paused")]


def _abort(store, deployment, user: str, reason: str) -> str:
    from modelcycle.rollout.strategies import rollback as rollout_rollback

    rollout_rollback(store, deployment.name, user, reason)
    return f"deployment {deployment.name!r}"


# -- retrain -------------------------------------------------------------------------------


class FileState:
    """The retrain action's state as a JSON file, written whole and renamed into place."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def load(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("The retrain state %s is unreadable (%s); starting afresh", self.path, exc)
            return {}

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


class Retrainer:
    """Runs ``command`` for an alert with MODELCYCLE_ALERT_MODEL, _VERSION, _RULE, _SEVERITY,
    _FINGERPRINT, _WINDOW_START, _WINDOW_END and _FIRED_AT (ms since the epoch) in its
    environment; a run the command creates is tagged mc.alert.* with them (tracking.context).

    Per model, a retraining does not start while another runs, nor within ``cooldown`` seconds
    of the last one's end. ``state`` is where that is kept between processes: a path (a JSON
    file) or an object with ``load() -> dict`` and ``save(dict)``."""

    def __init__(self, command: str | Sequence[str], state: str | Path | Any, cooldown: float = DEFAULT_COOLDOWN_S,
                 cwd: str | Path | None = None, env: Mapping[str, str] | None = None, timeout: float | None = None,
                 clock: Clock | None = None):
        if isinstance(command, str):
            command = shlex.split(command)
        if not command or not all(isinstance(p, str) for p in command):
            raise InvalidInput(f"The retrain command is a command line such as 'python train.py'; got {command!r}.")
        self.command = list(command)
        self.state = FileState(state) if isinstance(state, (str, Path)) else state
        self.cooldown_ms = int(parse_duration(cooldown, "cooldown") * 1000)
        self.cwd, self.env, self.timeout = cwd, dict(env or {}), timeout
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self.processes: dict[str, subprocess.Popen] = {}

    def environment(self, n: Notification) -> dict[str, str]:
        start = n.window_start if n.window_start is not None else n.since
        end = n.window_end if n.window_end is not None else self.clock.now_ms()
        return {"MODELCYCLE_ALERT_MODEL": n.model, "MODELCYCLE_ALERT_VERSION": str(n.version),
                "MODELCYCLE_ALERT_RULE": n.rule, "MODELCYCLE_ALERT_SEVERITY": n.severity,
                "MODELCYCLE_ALERT_FINGERPRINT": n.key, "MODELCYCLE_ALERT_WINDOW_START": str(start),
                "MODELCYCLE_ALERT_WINDOW_END": str(end), "MODELCYCLE_ALERT_FIRED_AT": str(n.since)}

    def __call__(self, n: Notification, wait: bool = False) -> ActionResult:
        with self._lock:
            now = self.clock.now_ms()
            state = self.state.load()
            last = state.get(n.model)
            if last and last.get("finished_at") is None and _alive(last.get("pid")):
                return ActionResult("retrain", True, f"not started: a retraining of {n.model!r} (pid "
                                    f"{last['pid']}) is running since {iso(last['started_at'])}",
                                    {"started": False, "running": last})
            ended = last and int(last.get("finished_at") or last["started_at"])
            if last and now < ended + self.cooldown_ms:
                until = ended + self.cooldown_ms
                return ActionResult("retrain", True, f"not started: {n.model!r} was retrained at "
                                    f"{iso(ended)}; the cooldown lasts until {iso(until)}",
                                    {"started": False, "last": last, "cooldown_until": until})
            try:
                process = subprocess.Popen(self.command, cwd=self.cwd, env={**os.environ, **self.env,
                                                                             **self.environment(n)},
                                           stdin=subprocess.DEVNULL)
            except OSError as exc:
                return ActionResult("retrain", False, f"could not start {shlex.join(self.command)}: {exc}",
                                    {"started": False})
            record = {"pid": process.pid, "started_at": now, "finished_at": None, "returncode": None,
                      "rule": n.rule, "version": n.version, "fingerprint": n.key,
                      "command": shlex.join(self.command)}
            state[n.model] = record
            self.state.save(state)
            self.processes[n.model] = process
        if wait:
            self._finish(n.model, process)
            record = self.state.load()[n.model]
            return ActionResult("retrain", record["returncode"] == 0,
                                f"{record['command']} exited with {record['returncode']}", {"started": True, **record})
        threading.Thread(target=self._finish, args=(n.model, process), daemon=True).start()
        return ActionResult("retrain", True, f"started {record['command']} (pid {process.pid})",
                            {"started": True, **record})

    def _finish(self, model: str, process: subprocess.Popen) -> None:
        try:
            code = process.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
            log.warning("The retraining of %r ran past %s s and was stopped", model, self.timeout)
        with self._lock:
            state = self.state.load()
            if state.get(model, {}).get("pid") == process.pid:
                state[model] = {**state[model], "finished_at": self.clock.now_ms(), "returncode": code}
                self.state.save(state)


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if sys.platform.startswith("linux"):  # a finished child not yet reaped is no longer running
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
        except (OSError, IndexError):
            return False
    return True


# -- webhook -------------------------------------------------------------------------------


def webhook(n: Notification, url: str, headers: Mapping[str, str] | None = None, timeout: float = 10.0) -> ActionResult:
    """POST ``{"action": "webhook", "reason": ..., "alert": {...}}`` to ``url``."""
    import httpx

    payload = {"action": "webhook", "reason": alert_reason(n), "alert": n.to_dict()}
    response = httpx.post(url, json=payload, headers=dict(headers or {}), timeout=timeout)
    ok = response.status_code < 300
    return ActionResult("webhook", ok, f"HTTP {response.status_code} from {url.split('?')[0]}",
                        {"status": response.status_code})


# -- configuration -------------------------------------------------------------------------


class Actions:
    """The actions a monitor may run, from a mapping such as
    ``{rollback: {}, retrain: {command: python train.py, cooldown: 6h}, webhook: {url: ...}}``."""

    def __init__(self, rollback: bool = True, retrainer: Retrainer | None = None,
                 webhook: Mapping[str, Any] | None = None, client: Client | None = None,
                 on_result: Callable[[Notification, ActionResult], None] | None = None):
        self.rollback_enabled = rollback
        self.retrainer = retrainer
        self.webhook_options = dict(webhook) if webhook else None
        self.client = client
        self.on_result = on_result

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None, state: str | Path | Any = None, clock: Clock | None = None,
                    **kwargs) -> Actions:
        data = data or {}
        if not isinstance(data, Mapping):
            raise InvalidInput(f"actions is a mapping such as {{retrain: {{command: python train.py}}}}; got {data!r}.")
        unknown = sorted(set(data) - set(ACTION_NAMES))
        if unknown:
            raise InvalidInput(f"actions.{unknown[0]}: not an action; the actions are {list(ACTION_NAMES)}.")
        retrainer = None
        if data.get("retrain") is not None:
            spec = data["retrain"]
            if not isinstance(spec, Mapping) or "command" not in spec:
                raise InvalidInput("actions.retrain.command is required, e.g. {command: python train.py}.")
            extra = sorted(set(spec) - {"command", "cooldown", "cwd", "env", "timeout"})
            if extra:
                raise InvalidInput(f"actions.retrain.{extra[0]}: not a field; the fields are command, cooldown, "
                                   "cwd, env and timeout.")
            if state is None:
                raise InvalidInput("The retrain action needs a place for its cooldown state (a file or store).")
            timeout = parse_duration(spec["timeout"], "actions.retrain.timeout") if "timeout" in spec else None
            retrainer = Retrainer(spec["command"], state, parse_duration(spec.get("cooldown", DEFAULT_COOLDOWN_S),
                                                                         "actions.retrain.cooldown"),
                                  spec.get("cwd"), spec.get("env"), timeout, clock)
        hook = data.get("webhook")
        if hook is not None:
            if not isinstance(hook, Mapping) or not str(hook.get("url", "")).startswith(("http://", "https://")):
                raise InvalidInput(f"actions.webhook.url is an http:// or https:// URL; got {hook!r}.")
            extra = sorted(set(hook) - {"url", "headers", "timeout"})
            if extra:
                raise InvalidInput(f"actions.webhook.{extra[0]}: not a field; the fields are url, headers, timeout.")
        if not isinstance(data.get("rollback", True), (bool, Mapping)):
            raise InvalidInput(f"actions.rollback is true, false or {{}}; got {data['rollback']!r}.")
        return cls(rollback=data.get("rollback", True) is not False, retrainer=retrainer, webhook=hook, **kwargs)

    def run(self, name: str, n: Notification) -> ActionResult:
        """Run one action for a notification; never raises."""
        try:
            if name == "rollback":
                result = (rollback(n, self.client) if self.rollback_enabled
                          else ActionResult(name, False, "the rollback action is not enabled"))
            elif name == "retrain":
                result = (self.retrainer(n) if self.retrainer is not None
                          else ActionResult(name, False, "no retrain command is configured"))
            elif name == "webhook":
                result = (webhook(n, **self.webhook_options) if self.webhook_options
                          else ActionResult(name, False, "no webhook URL is configured"))
            else:
                result = ActionResult(name, False, f"{name!r} is not an action; the actions are {list(ACTION_NAMES)}")
        except Exception as exc:  # the monitor must go on
            log.exception("The %s action for %s failed", name, n.title())
            result = ActionResult(name, False, f"{type(exc).__name__}: {exc}")
        if self.on_result is not None:
            try:
                self.on_result(n, result)
            except Exception:
                log.exception("The action-result hook failed")
        return result
