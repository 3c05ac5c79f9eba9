"""The analysis of a canary step, and the leader that runs it.

``analyse`` is a pure function of the interval's per-arm stats (and ROC AUC per arm where labels
arrived): pass, fail or hold, with the numbers behind the verdict. ``Leader.tick`` runs in the
one worker holding the deployment's lease: it reads the step state from the deployment row,
decides, and writes the next state by compare-and-set naming its lease epoch, so a worker that
takes over after a crash continues from the stored step, neither repeating nor skipping one.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from modelcycle.exceptions import Conflict, ModelcycleError
from modelcycle.rollout import strategies
from modelcycle.rollout.strategies import Checks
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import ArmStats, Deployment
from modelcycle.store.validation import MAX_LEASE_S, MAX_NAME_LENGTH

log = logging.getLogger("modelcycle.rollout")


@dataclass(frozen=True)
class Verdict:
    outcome: str  # pass | fail | hold
    reasons: list[str]
    numbers: dict[str, Any] = field(default_factory=dict)


def analyse(stats: dict[str, ArmStats], checks: Checks, auc: dict[str, float] | None = None,
            candidate: str = "candidate", stable: str = "stable") -> Verdict:
    cand = stats.get(candidate) or ArmStats(candidate, None, 0, 0, ())
    base = stats.get(stable) or ArmStats(stable, None, 0, 0, ())
    p99_c, p99_s = cand.latency_quantile_ms(0.99), base.latency_quantile_ms(0.99)
    numbers: dict[str, Any] = {
        "candidate_requests": cand.requests, "candidate_errors": cand.errors,
        "candidate_error_rate": round(cand.error_rate, 6), "stable_requests": base.requests,
        "stable_errors": base.errors, "stable_error_rate": round(base.error_rate, 6),
        "candidate_p99_ms": p99_c, "stable_p99_ms": p99_s,
    }
    if cand.requests < checks.min_requests:
        return Verdict("hold", [f"{cand.requests} candidate requests, fewer than the {checks.min_requests} "
                                "an analysis needs"], numbers)
    failed, notes = [], []
    if cand.error_rate >= checks.max_error_rate:
        failed.append(f"error rate {cand.error_rate:.2%} is not under {checks.max_error_rate:.2%}")
    if base.requests < checks.min_requests:  # a p99 of a few requests is noise, not a baseline
        notes.append(f"latency not compared: {base.requests} stable requests, fewer than the "
                     f"{checks.min_requests} a p99 needs")
    elif p99_c is not None and p99_s is not None and p99_c > p99_s * (1 + checks.max_p99_increase) \
            and p99_c - p99_s >= checks.min_p99_increase_ms:
        failed.append(f"p99 latency {p99_c:.3g} ms is above stable's {p99_s:.3g} ms "
                      f"+{checks.max_p99_increase:.0%}")
    if auc and checks.max_auc_drop is not None and candidate in auc and stable in auc:
        numbers.update(candidate_auc=round(auc[candidate], 6), stable_auc=round(auc[stable], 6))
        if auc[candidate] < auc[stable] - checks.max_auc_drop:
            failed.append(f"ROC AUC {auc[candidate]:.4f} is more than {checks.max_auc_drop:g} below "
                          f"stable's {auc[stable]:.4f}")
    return Verdict("fail" if failed else "pass", (failed or ["every check passed"]) + notes, numbers)


def arm_auc(model_name: str, since_ms: int, checks: Checks, arms: tuple[str, ...]) -> dict[str, float]:
    """ROC AUC per arm over the predictions logged since ``since_ms`` whose labels arrived (binary
    classifiers only); arms with fewer than ``checks.min_labels`` labels are left out."""
    try:
        from sklearn.metrics import roc_auc_score

        from modelcycle.serving.feedback import read_predictions

        frame = read_predictions(model_name, start=since_ms)
    except Exception as exc:  # no prediction log, no labels: the metric check is skipped
        log.debug("no labels for the analysis of %s: %s", model_name, exc)
        return {}
    out: dict[str, float] = {}
    if frame is None or frame.empty or "label" not in frame or "proba" not in frame:
        return out
    for arm in arms:
        rows = frame[(frame["arm"] == arm) & frame["label"].notna() & frame["proba"].notna()]
        if len(rows) < checks.min_labels:
            continue
        labels = rows["label"].astype(str)
        classes = sorted(labels.unique())
        if len(classes) != 2:
            continue
        score = [p[-1] for p in rows["proba"]]
        out[arm] = float(roc_auc_score((labels == classes[-1]).astype(int), score))
    return out


def lease_name(deployment: str) -> str:
    """``deployment:NAME``; past the length of a name, its start and a digest of the whole."""
    name = f"deployment:{deployment}"
    if len(name) <= MAX_NAME_LENGTH:
        return name
    digest = hashlib.blake2b(deployment.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return f"{name[:MAX_NAME_LENGTH - 33]}#{digest}"


class Leader:
    """The analysis of one deployment, run by whichever worker holds ``deployment:NAME``."""

    def __init__(self, store, name: str, owner: str, healthy=None):
        self.store = store
        self.name = name
        self.owner = owner
        self.lease_name = lease_name(name)
        self.healthy = healthy  # arm -> bool: whether this worker's copy of the arm answers (blue-green)
        self.epoch: int | None = None

    def tick(self, d: Deployment | None = None) -> Deployment | None:
        """One look: take or renew the lease, and if a step is due, decide it. Returns the
        deployment as written (or read), None without the lease."""
        interval_s = strategies.setting(d, "interval_s", strategies.DEFAULT_INTERVAL_S, 0.1) if d \
            else strategies.DEFAULT_INTERVAL_S
        lease = self.store.acquire_lease(self.lease_name, self.owner, min(max(3 * interval_s, 2.0), MAX_LEASE_S))
        if lease is None:
            self.epoch = None
            return None
        if self.epoch != lease.epoch:
            log.info("%s leads the analysis of %s (epoch %d)", self.owner, self.name, lease.epoch)
        self.epoch = lease.epoch
        d = self.store.get_deployment(self.name)
        try:
            return self._decide(d)
        except Conflict as exc:  # someone changed the deployment meanwhile: look again next time
            log.info("analysis of %s: %s", self.name, exc.message)
            return d

    def _decide(self, d: Deployment) -> Deployment:
        actor = f"analysis@{self.owner}"
        if d.state == "promoting":
            return strategies.finish_promotion(self.store, d, actor, "", d.config.get("force") is True, self.epoch)
        if d.state != "active" or d.strategy not in ("canary", "bluegreen"):
            return d
        if d.strategy == "bluegreen" and d.shares.get("candidate", 0) == 0:
            if self.healthy is not None and not self.healthy("candidate"):
                return d  # not loaded or not answering yet
            return self.store.update_deployment(
                self.name, d.revision, actor, "switch", "the candidate answered its health check", None,
                self.epoch, shares={"stable": 0.0, "candidate": 100.0}, step_started_at=now_ms())
        interval_ms = int(strategies.setting(d, "interval_s", strategies.DEFAULT_INTERVAL_S, 0.1) * 1000)
        now = now_ms()
        # Due an interval after the step began or after the last change, which for an active
        # step is the last look that held it: a hold keeps counting from the step's start, but
        # is not written again on every tick.
        if now - max(d.step_started_at, d.updated_at) < interval_ms:
            return d
        checks = Checks.from_dict(d.config.get("checks")) if isinstance(d.config.get("checks"), dict) else Checks()
        stats = self.store.deployment_stats(self.name, d.step_started_at, now)
        auc = arm_auc(d.model_name, d.step_started_at, checks, ("stable", "candidate")) \
            if checks.max_auc_drop is not None else {}
        verdict = analyse(stats, checks, auc)
        numbers = {**verdict.numbers, "step": d.step_index, "share": d.shares.get("candidate"),
                   "window_ms": [d.step_started_at, now]}
        reason = "; ".join(verdict.reasons)
        if verdict.outcome == "hold":
            return self.store.update_deployment(self.name, d.revision, actor, "hold", reason, numbers, self.epoch)
        if verdict.outcome == "fail":
            failures = d.failures + 1
            numbers["failures"] = failures
            max_failures = int(strategies.setting(d, "max_failures", strategies.DEFAULT_MAX_FAILURES, 1))
            if failures >= max_failures:
                log.warning("rolling %s back: %s %s", self.name, reason, numbers)
                return strategies.rollback(self.store, self.name, actor,
                                           f"{failures} failed analyses (max {max_failures}): {reason}",
                                           numbers, self.epoch, expected=d)
            return self.store.update_deployment(self.name, d.revision, actor, "analysis_failed", reason, numbers,
                                                self.epoch, failures=failures, step_started_at=now)
        if d.step_index + 1 < len(d.steps):
            share = d.steps[d.step_index + 1]
            return self.store.update_deployment(
                self.name, d.revision, actor, "step", f"step {d.step_index} passed: {reason}", numbers, self.epoch,
                step_index=d.step_index + 1, step_started_at=now,
                shares={"stable": 100.0 - share, "candidate": float(share)})
        log.info("promoting %s: the last step passed %s", self.name, numbers)
        return strategies.promote(self.store, self.name, actor, f"every step passed: {reason}", numbers=numbers,
                                  epoch=self.epoch, expected=d)

    def release(self) -> None:
        try:
            self.store.release_lease(self.lease_name, self.owner)
        except ModelcycleError:
            pass
