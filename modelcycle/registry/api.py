"""The registry's Python API: register, promote through gates, aliases, rollback, lineage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelcycle.exceptions import InvalidInput
from modelcycle.models.uris import resolve_version
from modelcycle.registry.gates import (
    POLICY_TAG, GateReport, PromotionPolicy, PromotionRefused, check_gates, check_policy, policy_of,
)
from modelcycle.store.entities import ModelVersion, RegisteredModel, Stage, Transition
from modelcycle.tracking import fluent
from modelcycle.tracking.context import current_user

if TYPE_CHECKING:
    from modelcycle.models.api import ModelInfo
    from modelcycle.tracking.client import Client


@dataclass(frozen=True)
class Promotion:
    version: ModelVersion
    gates: GateReport | None  # None when the target stage has no gates
    forced: bool


def register_model(source: str | ModelInfo, name: str, description: str = "",
                   tags: dict[str, Any] | None = None, client: Client | None = None) -> ModelVersion:
    """Register the model at ``source`` (``runs:/<run_id>/<path>``) as the next version of
    ``name``. The model folder is checked first (manifest, every file and its digest), so a
    broken model is refused and nothing is half-registered; the version keeps the digests of
    its files, and the folder can no longer change."""
    from modelcycle.models.api import ModelInfo, register_version  # the model stack, only when used

    uri = source.uri if isinstance(source, ModelInfo) else source
    return register_version((client or fluent.client()).store, uri, name, current_user(), description,
                            {k: str(v) for k, v in (tags or {}).items()})


def get_model_version(ref: str, client: Client | None = None) -> ModelVersion:
    """``name@3``, ``name@champion``, ``name@production``, ``models:/name/3``, ..."""
    return resolve_version((client or fluent.client()).store, ref)


def set_promotion_policy(name: str, policy: PromotionPolicy | None = None, client: Client | None = None,
                         **rules) -> PromotionPolicy:
    """Store the gates ``promote`` applies to ``name``: a PromotionPolicy, or its rules as
    keywords (see PromotionPolicy)."""
    if check_policy(policy, "set_promotion_policy") is not None and rules:
        raise InvalidInput(f"Pass either a PromotionPolicy or rules ({', '.join(rules)}), not both.")
    policy = policy or PromotionPolicy(**rules)
    (client or fluent.client()).store.set_registered_model_tag(name, POLICY_TAG, policy.to_json())
    return policy


def get_promotion_policy(name: str, client: Client | None = None) -> PromotionPolicy:
    return policy_of((client or fluent.client()).store.get_registered_model(name))


def promote(name: str, version: int, to: str | Stage = Stage.PRODUCTION, force: bool = False,
            reason: str = "", policy: PromotionPolicy | None = None,
            client: Client | None = None, user: str | None = None) -> Promotion:
    """Move a version to a stage. Into Production it must first pass the model's gates (or
    ``policy``); a refusal raises PromotionRefused naming the rule and the numbers. ``force``
    overrides, and the audit log records the override and what it overrode."""
    c = client or fluent.client()
    stage = Stage.parse(to)
    check_policy(policy, "promote")
    candidate = c.store.get_model_version(name, version)
    report = None
    forced = False
    if stage is Stage.PRODUCTION:
        model = c.store.get_registered_model(name)
        report = check_gates(c.store, model, candidate, policy or policy_of(model))
        if not report.ok:
            if not force:
                raise PromotionRefused(report)
            forced = True
            reason = f"{reason + ' ' if reason else ''}[forced past {report.summary()}]"
        elif report.results:  # the audit log keeps the numbers a promotion passed with, too
            reason = f"{reason + ' ' if reason else ''}[gates passed: {report.summary(report.results)}]"
    moved = c.store.transition_model_version_stage(
        name, version, stage, user or current_user(), reason, forced=forced,
        expected_production=report.champion if report else None, check_production=report is not None)
    return Promotion(moved, report, forced)


def archive(name: str, version: int, reason: str = "", client: Client | None = None) -> ModelVersion:
    store = (client or fluent.client()).store
    return store.transition_model_version_stage(name, version, Stage.ARCHIVED, current_user(), reason)


def rollback(name: str, reason: str = "", client: Client | None = None) -> ModelVersion:
    """Give Production back to the version that held it before the current one."""
    return (client or fluent.client()).store.rollback_model(name, current_user(), reason)


def set_alias(name: str, alias: str, version: int, reason: str = "", client: Client | None = None) -> None:
    (client or fluent.client()).store.set_model_alias(name, alias, version, current_user(), reason)


def delete_alias(name: str, alias: str, reason: str = "", client: Client | None = None) -> None:
    (client or fluent.client()).store.delete_model_alias(name, alias, current_user(), reason)


def delete_model_version(name: str, version: int, reason: str = "", client: Client | None = None) -> None:
    (client or fluent.client()).store.delete_model_version(name, version, current_user(), reason)


def list_models(client: Client | None = None) -> list[RegisteredModel]:
    return (client or fluent.client()).store.list_registered_models()


def model_history(name: str, client: Client | None = None) -> list[Transition]:
    return (client or fluent.client()).store.model_history(name)


def lineage(ref: str, client: Client | None = None) -> dict[str, Any]:
    """version -> run -> datasets (name@version, role) -> code (git commit), as plain data."""
    c = client or fluent.client()
    version = resolve_version(c.store, ref)
    run = c.get_run(version.run_id)
    experiment = c.store.get_experiment(run.experiment_id)
    uses = c.store.dataset_uses(run_id=run.id)
    parent = c.get_run(run.parent_id) if run.parent_id else None
    if parent is not None and not uses:
        uses = c.store.dataset_uses(run_id=parent.id)  # data logged once for a sweep of child runs
    tags = run.tags
    return {
        "model": version.name, "version": version.version, "stage": version.stage.value,
        "aliases": list(version.aliases), "source": version.source,
        "run": {"id": run.id, "name": run.name, "experiment": experiment.name, "status": run.status.value,
                "parent_id": run.parent_id, "params": dict(run.params),
                "metrics": {k: m.value for k, m in sorted(run.metrics.items())}},
        "datasets": [{"dataset": u.dataset, "role": u.role} for u in uses],
        "code": {"commit": tags.get("mc.source.git.commit"), "dirty": tags.get("mc.source.git.dirty"),
                 "repo": tags.get("mc.source.git.repo"), "branch": tags.get("mc.source.git.branch"),
                 "entry_point": tags.get("mc.source.entry_point")},
    }
