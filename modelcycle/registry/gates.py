"""Promotion gates: the rules a version must pass before it takes Production. Pure checks over
stored data; they return a report and render nothing."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from numbers import Real

from modelcycle.exceptions import Conflict, InvalidInput
from modelcycle.store.base import Store
from modelcycle.store.entities import ModelVersion, RegisteredModel
from modelcycle.store.validation import check_dataset_role, check_key

POLICY_TAG = "mc.promotion_policy"
COMPARISON_TAG = "mc.eval.baseline"  # mc.evaluate(..., baseline=...) records its paired test here


def _invalid(parameter: str, expected: str, value: object, owner: str = "PromotionPolicy") -> InvalidInput:
    return InvalidInput(f"The {parameter!r} parameter of {owner} must be {expected}. Got {value!r} instead.")


def _is_bool(value: object) -> bool:
    # numpy's booleans too, without importing numpy on every CLI start
    return isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"))


def _flag(parameter: str, value: object) -> bool:
    if not _is_bool(value):  # "false" and 1 are truthy, not booleans
        raise _invalid(parameter, "an instance of 'bool'", value)
    return bool(value)


@dataclass(frozen=True, init=False)
class PromotionPolicy:
    """``metric``: the run metric to compare (none: no metric gate); the candidate must beat the
    Production version's value by at least ``min_delta`` (negative: may be that much worse),
    both evaluated on the same dataset version (the run input with role ``eval_role``).
    ``required_tags``: tags the candidate version must carry. ``check_signature``: the
    candidate must take every input the Production version takes. ``significance``: the
    candidate's ROC AUC must also beat the Production version's in a paired test at this level
    (one-sided DeLong, from ``mc.evaluate(..., baseline=<the Production version>)`` on the eval
    dataset); needs ``metric="roc_auc"``."""

    metric: str | None = None
    higher_is_better: bool = True
    min_delta: float = 0.0
    eval_role: str = "eval"
    required_tags: tuple[str, ...] = ()
    check_signature: bool = True
    significance: float | None = None

    def __init__(self, metric: str | None = None, higher_is_better: bool = True, min_delta: float = 0.0,
                 eval_role: str = "eval", required_tags: Sequence[str] = (), check_signature: bool = True,
                 significance: float | None = None, **unknown):
        if unknown:
            names = [f.name for f in fields(self)]
            raise InvalidInput(f"PromotionPolicy has no parameter {next(iter(unknown))!r}. Its parameters are "
                               f"{', '.join(names[:-1])} and {names[-1]}.")
        if metric is not None:
            try:
                metric = check_key("metric", metric)
            except InvalidInput:
                raise _invalid("metric", "a metric key (a non-empty str) or None", metric) from None
        if _is_bool(min_delta) or not isinstance(min_delta, Real) or not math.isfinite(min_delta):
            raise _invalid("min_delta", "a finite real number", min_delta)
        try:
            eval_role = check_dataset_role(eval_role)
        except InvalidInput:
            raise _invalid("eval_role", "a dataset role (1 to 50 letters, digits, '_', '.' or '-'), such as 'eval'",
                           eval_role) from None
        tags_expected = "a list of tag keys (non-empty str)"
        if isinstance(required_tags, (str, bytes)) or not isinstance(required_tags, (list, tuple, set, frozenset)):
            raise _invalid("required_tags", tags_expected, required_tags)
        try:
            required_tags = tuple(check_key("tag", tag) for tag in required_tags)
        except InvalidInput:
            raise _invalid("required_tags", tags_expected, required_tags) from None
        if significance is not None:
            if _is_bool(significance) or not isinstance(significance, Real) or not 0 < significance < 1:
                raise _invalid("significance", "a float in the range (0, 1) or None", significance)
            if metric != "roc_auc" or not higher_is_better:
                raise InvalidInput(f"The 'significance' parameter of PromotionPolicy needs metric='roc_auc' (higher is "
                                   f"better): the paired test is DeLong's, of ROC AUC. Got metric={metric!r}"
                                   f"{'' if higher_is_better else ', higher_is_better=False'}.")
            significance = float(significance)
        for name, value in (("metric", metric), ("higher_is_better", _flag("higher_is_better", higher_is_better)),
                            ("min_delta", float(min_delta)), ("eval_role", eval_role),
                            ("required_tags", required_tags),
                            ("check_signature", _flag("check_signature", check_signature)),
                            ("significance", significance)):
            object.__setattr__(self, name, value)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> PromotionPolicy:
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError(f"a JSON object was expected, not {type(data).__name__}")
            return cls(**data)
        except (ValueError, InvalidInput) as exc:
            raise InvalidInput(f"The stored promotion policy is malformed ({exc}); set it again with "
                               "`modelcycle models policy`.") from None


def check_policy(policy: object, owner: str) -> PromotionPolicy | None:
    if policy is not None and not isinstance(policy, PromotionPolicy):
        raise _invalid("policy", "a PromotionPolicy or None", policy, owner)
    return policy


@dataclass(frozen=True)
class GateResult:
    rule: str  # metric, significance, signature, tags
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateReport:
    name: str
    candidate: int
    champion: int | None  # the Production version the gates compared against
    results: list[GateResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[GateResult]:
        return [r for r in self.results if not r.passed]

    def summary(self, results: list[GateResult] | None = None) -> str:
        """The failures (or the results given) as "rule: detail; ..."."""
        return "; ".join(f"{r.rule}: {r.detail}" for r in (self.failures if results is None else results))


class PromotionRefused(Conflict):
    """A gate refused the promotion; ``report`` says which and by how much."""

    def __init__(self, report: GateReport):
        super().__init__(
            f"Version {report.candidate} of {report.name!r} was not promoted to Production: "
            f"{report.summary()}. Fix it, or override with force=True (--force); the override is "
            "recorded in the audit log.")
        self.report = report


def policy_of(model: RegisteredModel) -> PromotionPolicy:
    text = model.tags.get(POLICY_TAG)
    return PromotionPolicy.from_json(text) if text else PromotionPolicy()


def _eval_datasets(store: Store, run_id: str, role: str) -> set[str]:
    return {u.dataset for u in store.dataset_uses(run_id=run_id) if u.role == role}


def _metric_gate(store: Store, policy: PromotionPolicy, candidate: ModelVersion,
                 champion: ModelVersion) -> GateResult:
    key = policy.metric
    values = []
    for v in (candidate, champion):
        metric = store.get_run(v.run_id).metrics.get(key)
        if metric is None or math.isnan(metric.value):
            return GateResult("metric", False, f"the run of version {v.version} has no value for {key!r}")
        values.append(metric.value)
    sets = [_eval_datasets(store, v.run_id, policy.eval_role) for v in (candidate, champion)]
    if not sets[0] or not sets[1]:
        missing = candidate.version if not sets[0] else champion.version
        return GateResult("metric", False, f"the run of version {missing} recorded no dataset with role "
                                           f"{policy.eval_role!r}, so the two {key} values may not be comparable; "
                                           f"log it with mc.log_dataset(data, name, role={policy.eval_role!r})")
    if sets[0] != sets[1]:
        return GateResult("metric", False, f"version {candidate.version} was evaluated on "
                                           f"{', '.join(sorted(sets[0]))} and version {champion.version} on "
                                           f"{', '.join(sorted(sets[1]))}; compare them on the same data")
    new, old = values
    delta = new - old if policy.higher_is_better else old - new
    sense = "higher" if policy.higher_is_better else "lower"
    detail = (f"{key} {new:.6g} vs {old:.6g} of version {champion.version} on {', '.join(sorted(sets[0]))}: "
              f"{delta:+.6g} ({sense} is better), needs {policy.min_delta:+.6g} or more")
    return GateResult("metric", delta >= policy.min_delta, detail)


def _significance_gate(store: Store, policy: PromotionPolicy, candidate: ModelVersion,
                       champion: ModelVersion) -> GateResult:
    """The paired test recorded on the candidate's run must be against this champion, on the
    candidate's eval dataset, and significant at the policy's level."""
    how = (f"evaluate it with mc.evaluate(model, data, target, baseline='models:/{candidate.name}/{champion.version}') "
           f"on its {policy.eval_role!r} dataset")
    text = store.get_run(candidate.run_id).tags.get(COMPARISON_TAG)
    try:
        recorded = json.loads(text) if text else None
    except ValueError:
        recorded = None
    if not isinstance(recorded, dict):
        return GateResult("significance", False, f"the run of version {candidate.version} recorded no paired test "
                                                 f"against version {champion.version}; {how}")
    against = (recorded.get("model"), recorded.get("version"))
    if against != (candidate.name, champion.version):
        compared = f"version {against[1]} of {against[0]!r}" if against[0] else "a model that is not registered"
        return GateResult("significance", False, f"version {candidate.version} was compared with {compared}, not with "
                                                 f"version {champion.version} (Production); {how}")
    test = recorded.get("test")
    if not isinstance(test, dict) or test.get("metric") != policy.metric or test.get("p_value_improvement") is None:
        return GateResult("significance", False, f"the comparison of version {candidate.version} with version "
                                                 f"{champion.version} has no paired test of {policy.metric}")
    eval_sets = _eval_datasets(store, candidate.run_id, policy.eval_role)
    if recorded.get("dataset") not in eval_sets:
        on = recorded.get("dataset") or "data not stored as a dataset version"
        return GateResult("significance", False, f"the paired test of version {candidate.version} was on {on}, not on "
                                                 f"its {policy.eval_role!r} dataset "
                                                 f"({', '.join(sorted(eval_sets)) or 'none recorded'}); {how}")
    p = float(test["p_value_improvement"])
    detail = (f"{policy.metric} {test['candidate']:.6g} vs {test['baseline']:.6g} of version {champion.version} on "
              f"{recorded['dataset']}: {test['difference']:+.4g} ({100 * test['confidence']:.0f}% CI "
              f"{test['ci_low']:+.4g} to {test['ci_high']:+.4g}), one-sided DeLong p = {p:.3g}, needs "
              f"p < {policy.significance:g}")
    return GateResult("significance", p < policy.significance, detail)


def _signature_gate(store: Store, candidate: ModelVersion, champion: ModelVersion) -> GateResult:
    from modelcycle.models.api import read_manifest  # the model stack, only when a gate needs it
    from modelcycle.models.signature import incompatibilities

    new = read_manifest(candidate.source, store).signature
    old = read_manifest(champion.source, store).signature
    if old is None:
        return GateResult("signature", True, f"version {champion.version} has no signature to keep")
    if new is None:
        return GateResult("signature", False, f"version {candidate.version} has no signature, version "
                                              f"{champion.version} takes {old.describe()}")
    problems = incompatibilities(old, new)
    if problems:
        return GateResult("signature", False, "; ".join(problems))
    return GateResult("signature", True, f"takes what version {champion.version} takes")


def check_gates(store: Store, model: RegisteredModel, candidate: ModelVersion,
                policy: PromotionPolicy) -> GateReport:
    production = model.production_version
    champion = store.get_model_version(candidate.name, production) if production is not None else None
    results = []
    if policy.required_tags:
        missing = [t for t in policy.required_tags if not candidate.tags.get(t)]
        results.append(GateResult("tags", not missing,
                                  f"missing tag{'s' if len(missing) > 1 else ''} {', '.join(missing)}" if missing
                                  else f"has {', '.join(policy.required_tags)}"))
    if champion is not None and champion.version != candidate.version:
        if policy.metric:
            results.append(_metric_gate(store, policy, candidate, champion))
        if policy.significance is not None:
            results.append(_significance_gate(store, policy, candidate, champion))
        if policy.check_signature:
            results.append(_signature_gate(store, candidate, champion))
    return GateReport(candidate.name, candidate.version, production, results)
