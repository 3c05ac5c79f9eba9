"""Deployments and their strategies as changes of the stored row: start a canary, an A/B test,
shadow traffic or a blue-green switch; pause, resume, roll back and promote. Every change is a
compare-and-set on the revision read, so two at the same moment cannot both apply."""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from modelcycle.exceptions import Conflict, InvalidInput
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import Deployment
from modelcycle.store.validation import check_text

DEFAULT_INTERVAL_S = 60.0
DEFAULT_MAX_FAILURES = 2


@dataclass(frozen=True)
class Checks:
    """The analysis of a canary step. The candidate fails when its error rate reaches
    ``max_error_rate``, when its p99 latency is above stable's by more than ``max_p99_increase``
    (1.0: +100%) and by at least ``min_p99_increase_ms`` (so sub-millisecond jitter does not
    fail a step; compared only when stable too served ``min_requests``), or when its ROC AUC on the labels that arrived is more than ``max_auc_drop``
    below stable's (needs ``min_labels`` labels per arm). Below ``min_requests`` requests of the
    candidate in the interval the step holds."""

    max_error_rate: float = 0.01
    max_p99_increase: float = 1.0
    min_p99_increase_ms: float = 5.0
    max_auc_drop: float | None = 0.05
    min_labels: int = 50
    min_requests: int = 20

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Checks:
        data = dict(data or {})
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise InvalidInput(f"The checks have no setting {unknown[0]!r}; they are {', '.join(names)}.")
        for name, value in data.items():
            if value is None and name == "max_auc_drop":
                continue
            if name in _WHOLE_CHECKS:
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**31:
                    raise InvalidInput(f"The check {name!r} must be a whole number of at least 0; got {value!r}.")
                continue
            high = 1.0 if name in _RATE_CHECKS else 1e9
            if not _number(value) or not 0 <= value <= high:
                raise InvalidInput(f"The check {name!r} must be a number from 0 to {high:g}; got {value!r}.")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Checks:
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise InvalidInput(f"Cannot read the checks file {str(path)!r}: {exc.strerror}.") from None
        except yaml.YAMLError as exc:
            raise InvalidInput(f"The checks file {str(path)!r} is not YAML: {exc}.") from None
        if isinstance(data, dict) and "checks" in data:
            data = data["checks"]
        if data is not None and not isinstance(data, dict):
            raise InvalidInput(f"The checks file {str(path)!r} holds a mapping such as `max_error_rate: 0.01`.")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_WHOLE_CHECKS = ("min_labels", "min_requests")
_RATE_CHECKS = ("max_error_rate", "max_auc_drop")


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_interval(text: str | float) -> float:
    """Seconds from ``90``, ``90s``, ``1m``, ``1h`` or ``500ms``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*", str(text))
        if not match:
            raise InvalidInput(f"An interval is a number of seconds or e.g. 30s, 1m, 1h; got {text!r}.")
        seconds = float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
    if not 0.1 <= seconds <= 7 * 24 * 3600:
        raise InvalidInput(f"An interval is from 0.1 s to 7 days; got {text!r}.")
    return seconds


def parse_steps(text: str | list) -> list[float]:
    values = list(text) if isinstance(text, (list, tuple)) else [p for p in str(text).replace(" ", "").split(",") if p]
    try:
        if any(isinstance(v, bool) or not isinstance(v, (str, int, float)) for v in values):
            raise ValueError
        steps = [float(v) for v in values]
    except ValueError:
        raise InvalidInput(f"Steps are percentages separated by commas, e.g. 5,25,50,100; got {text!r}.") from None
    if not steps or not all(map(math.isfinite, steps)) or steps != sorted(set(steps)) or steps[0] <= 0 \
            or steps[-1] > 100:
        raise InvalidInput(f"Steps increase from above 0 to at most 100 percent, e.g. 5,25,50,100; got {text!r}.")
    return steps


def _version(store, model_name: str, ref: str) -> int:
    from modelcycle.models.uris import resolve_version

    found = resolve_version(store, ref)
    if found.name != model_name:
        raise InvalidInput(f"{ref!r} is a version of {found.name!r}, but this deployment serves {model_name!r}.")
    return found.version


def _candidate(store, d: Deployment, ref: str) -> int:
    version = _version(store, d.model_name, ref)
    if version == d.stable_version:
        raise InvalidInput(f"Version {version} is already the stable version of {d.name!r}; name another candidate.")
    return version


def _open(d: Deployment, action: str) -> None:
    if d.state == "promoting":
        raise Conflict(f"The deployment {d.name!r} is being promoted; wait for it, then {action}.")


def create(store, name: str, ref: str, user: str, reason: str = "") -> Deployment:
    """A deployment of the version ``ref`` names (e.g. fraud@production), serving all traffic."""
    from modelcycle.models.uris import resolve_version

    version = resolve_version(store, ref)
    return store.create_deployment(name, version.name, version.version, user, {"salt": name}, reason)


def canary(store, name: str, candidate: str, steps: list[float], user: str, interval_s: float = DEFAULT_INTERVAL_S,
           max_failures: int = DEFAULT_MAX_FAILURES, checks: Checks | dict | None = None, fallback: bool = False,
           force: bool = False, reason: str = "") -> Deployment:
    d = store.get_deployment(name)
    _open(d, "start the canary")
    steps = parse_steps(steps)
    version = _candidate(store, d, candidate)
    if isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 1:
        raise InvalidInput(f"--max-failures is a whole number of at least 1; got {max_failures!r}.")
    first = steps[0]
    checks = Checks.from_dict(checks if isinstance(checks, dict) else (checks or Checks()).to_dict())
    config = _config(d, interval_s=parse_interval(interval_s), max_failures=max_failures,
                     checks=checks.to_dict(), fallback=bool(fallback), force=bool(force))
    return store.update_deployment(
        name, d.revision, user, "canary", reason or f"canary of version {version}", {"steps": steps},
        strategy="canary", state="active", candidate_version=version, arms={"stable": d.stable_version,
                                                                             "candidate": version},
        shares=_two(100 - first, first), steps=steps, step_index=0, step_started_at=now_ms(), failures=0,
        config=config)


def setting(d: Deployment, key: str, default: float, low: float = 0.0, high: float = float("inf")) -> float:
    """A number of the deployment's settings as its readers take it: ``default`` when it is
    missing or not a number in [low, high] (any client of the REST API may have written it)."""
    value = d.config.get(key, default)
    return float(value) if _number(value) and low <= value <= high else default


def text_setting(d: Deployment, key: str) -> str | None:
    value = d.config.get(key)
    return value if isinstance(value, str) and value else None


def _config(d: Deployment, **settings) -> dict[str, Any]:
    """A strategy's settings: its own, never those of the strategy before it (a canary's
    fallback or --force must not reach the A/B test or shadow traffic that follows)."""
    return {"salt": d.config.get("salt", d.name), **settings}


def _two(stable: float, candidate: float) -> dict[str, float]:
    return {"stable": float(stable), "candidate": float(candidate)}


def _arm_name(ref: str, version: int, taken: set[str]) -> str:
    selector = re.split(r"[@/]", ref)[-1].lower()
    name = selector if re.fullmatch(r"[a-z0-9_.\-]{1,64}", selector) and not selector.isdigit() else f"v{version}"
    return name if name not in taken else f"v{version}"


def ab(store, name: str, arms: list[tuple[str, float]], user: str, sticky_key: str | None = None,
       reason: str = "") -> Deployment:
    """Arms as (ref, weight): weights are relative (50,50 or 1,1 alike)."""
    d = store.get_deployment(name)
    _open(d, "start the A/B test")
    if len(arms) < 2:
        raise InvalidInput("An A/B test has at least two arms, e.g. --arms fraud@production=50,fraud@challenger=50.")
    weights = [w for _, w in arms]
    if not all(_number(w) and 0 < w <= 1e12 for w in weights):
        raise InvalidInput(f"Arm weights are numbers above 0 (relative: 50,50 or 1,1 alike); got {weights}.")
    if sticky_key is not None:
        if not isinstance(sticky_key, str) or not sticky_key.strip() or len(sticky_key) > 250:
            raise InvalidInput(f"The sticky key names a request field: a non-empty string of at most 250 "
                               f"characters, e.g. user_id; got {sticky_key!r}.")
        check_text("The sticky key", sticky_key)
    total = sum(weights)
    named: dict[str, int] = {}
    shares: dict[str, float] = {}
    for ref, weight in arms:
        version = _version(store, d.model_name, ref)
        if version in named.values():
            raise InvalidInput(f"Version {version} is in two arms; each arm serves another version.")
        arm = _arm_name(ref, version, set(named))
        named[arm] = version
        shares[arm] = 100.0 * weight / total
    shares[next(iter(shares))] += 100.0 - sum(shares.values())  # rounding
    # A salt of this experiment's own: a new test reshuffles who gets which arm, and every worker
    # reads the same salt from the store.
    config = _config(d, salt=f"{name}:{secrets.token_hex(8)}", sticky_key=sticky_key)
    first = next(iter(named.values()))
    return store.update_deployment(name, d.revision, user, "ab", reason or "A/B test", {"weights": shares},
                                   strategy="ab", state="active", stable_version=first, candidate_version=None,
                                   arms=named, shares=shares, steps=[], step_index=0, step_started_at=now_ms(),
                                   failures=0, config=config)


def shadow(store, name: str, candidate: str, share: float, user: str, reason: str = "") -> Deployment:
    d = store.get_deployment(name)
    _open(d, "start shadow traffic")
    if not _number(share) or not 0 < share <= 100:
        raise InvalidInput(f"The shadow share is a percentage above 0 and at most 100; got {share!r}.")
    version = _candidate(store, d, candidate)
    return store.update_deployment(
        name, d.revision, user, "shadow", reason or f"shadow traffic to version {version}", {"share": share},
        strategy="shadow", state="active", candidate_version=version,
        arms={"stable": d.stable_version, "shadow": version}, shares={"stable": 100.0, "shadow": 0.0},
        steps=[], step_index=0, step_started_at=now_ms(), failures=0, config=_config(d, shadow_share=share))


def bluegreen(store, name: str, candidate: str, user: str, interval_s: float = DEFAULT_INTERVAL_S,
              grace_s: float = 300.0, force: bool = False, reason: str = "") -> Deployment:
    """The candidate is loaded and warmed by every worker; once the leader's copy answers its
    health check, all traffic switches at once (the leader's next look)."""
    d = store.get_deployment(name)
    _open(d, "start the blue-green switch")
    if not _number(grace_s) or not 0 <= grace_s <= 7 * 24 * 3600:
        raise InvalidInput(f"--grace is the seconds the old version stays loaded, from 0 to 7 days; got {grace_s!r}.")
    version = _candidate(store, d, candidate)
    config = _config(d, interval_s=parse_interval(interval_s), max_failures=1, grace_s=grace_s,
                     checks=Checks().to_dict(), force=bool(force), fallback=False)
    return store.update_deployment(
        name, d.revision, user, "bluegreen", reason or f"blue-green switch to version {version}", None,
        strategy="bluegreen", state="active", candidate_version=version,
        arms={"stable": d.stable_version, "candidate": version}, shares=_two(100, 0), steps=[100],
        step_index=0, step_started_at=now_ms(), failures=0, config=config)


def pause(store, name: str, user: str, reason: str = "") -> Deployment:
    d = store.get_deployment(name)
    if d.state != "active":
        raise Conflict(f"The deployment {name!r} is {d.state}, not active: there is nothing to pause.")
    return store.update_deployment(name, d.revision, user, "pause", reason, state="paused")


def resume(store, name: str, user: str, reason: str = "") -> Deployment:
    d = store.get_deployment(name)
    if d.state != "paused":
        raise Conflict(f"The deployment {name!r} is {d.state}, not paused: there is nothing to resume.")
    return store.update_deployment(name, d.revision, user, "resume", reason, state="active",
                                   step_started_at=now_ms())


def rollback(store, name: str, user: str, reason: str = "", numbers: dict | None = None,
             epoch: int | None = None, expected: Deployment | None = None) -> Deployment:
    """Stable takes all traffic at once; the candidate stays loaded for the grace period."""
    d = expected or store.get_deployment(name)
    if d.state in ("promoting", "promoted"):
        raise Conflict(f"The deployment {name!r} is {d.state}: its candidate is the stable version now. "
                       f"Roll the registry back with `modelcycle models rollback {d.model_name}`.")
    if d.state == "rolled_back":
        raise Conflict(f"The deployment {name!r} is rolled back already: stable serves every request.")
    if len(d.arms) < 2:
        raise Conflict(f"The deployment {name!r} serves one version and has no candidate to roll back from.")
    if "stable" not in d.arms:
        shares = {arm: (100.0 if arm == next(iter(d.arms)) else 0.0) for arm in d.arms}
    else:
        shares = {arm: (100.0 if arm == "stable" else 0.0) for arm in d.arms}
    return store.update_deployment(name, d.revision, user, "rollback", reason or "rolled back", numbers, epoch,
                                   state="rolled_back", shares=shares)


def promote(store, name: str, user: str, reason: str = "", force: bool | None = None,
            numbers: dict | None = None, epoch: int | None = None, expected: Deployment | None = None) -> Deployment:
    """The candidate becomes stable, and Production moves to it through the registry's gates.
    First the deployment is claimed (state promoting, compare-and-set), so of two promotions or
    a promotion and a rollback at the same moment only one reaches the registry."""
    d = expected or store.get_deployment(name)
    if d.state == "promoted":
        raise Conflict(f"The deployment {name!r} is promoted already (version {d.stable_version}).")
    if d.state == "rolled_back":
        raise Conflict(f"The deployment {name!r} was rolled back, so its candidate is not promoted: start a new "
                       f"canary or blue-green switch of version {d.candidate_version} to promote it "
                       f"(`modelcycle deploy canary {name} --candidate {d.model_name}/{d.candidate_version}`).")
    if d.candidate_version is None:
        raise Conflict(f"The deployment {name!r} has no candidate to promote.")
    if d.state != "promoting":
        d = store.update_deployment(name, d.revision, user, "promoting", reason, numbers, epoch,
                                    state="promoting", shares=_full(d))
    return finish_promotion(store, d, user, reason, d.config.get("force") is True if force is None else force, epoch)


def _full(d: Deployment) -> dict[str, float]:
    return {arm: (100.0 if arm == "candidate" or d.arms[arm] == d.candidate_version else 0.0) for arm in d.arms}


def finish_promotion(store, d: Deployment, user: str, reason: str, force: bool, epoch: int | None) -> Deployment:
    """The registry's part of a promotion, then the deployment's: safe to run again after a crash
    between the two (a new leader does)."""
    from modelcycle.registry.api import promote as registry_promote
    from modelcycle.registry.gates import PromotionRefused
    from modelcycle.tracking.client import Client

    version = d.candidate_version
    current = store.get_model_version(d.model_name, version)
    forced = False
    if current.stage.value != "Production":
        try:
            result = registry_promote(d.model_name, version, force=bool(force), user=user,
                                      reason=reason or f"deployment {d.name!r} promoted version {version}",
                                      client=Client(store=store))
            forced = result.forced
        except PromotionRefused as exc:
            # Paused, stable serving the share it had before the promotion claimed it all: the
            # next move (a fix and `promote`, `--force`, or `rollback`) is a person's.
            claimed = [e for e in store.deployment_events(d.name) if e.kind == "promoting"]
            before = claimed[-1].from_shares if claimed and claimed[-1].from_shares else d.shares
            gates = [{"rule": r.rule, "detail": r.detail} for r in exc.report.failures]
            return store.update_deployment(d.name, d.revision, user, "promotion_refused", exc.message,
                                           {"gates": gates}, epoch, state="paused",
                                           shares={arm: float(before.get(arm, 0.0)) for arm in d.arms})
    return store.update_deployment(
        d.name, d.revision, user, "promoted", reason or f"version {version} is stable", {"forced": forced}, epoch,
        state="promoted", stable_version=version, candidate_version=None, arms={"stable": version},
        shares={"stable": 100.0})
