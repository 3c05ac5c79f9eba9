"""Training specs: one YAML file declares a whole training, `modelcycle train spec.yaml` runs it.

    name: fraud-forest
    experiment: fraud
    data:
      train: transactions@3          # a stored dataset version
      target: is_fraud
      drop: [transaction_id]         # or features: [amount, age, ...]
      eval: transactions-eval@1      # or test_size: 0.2, split from train (stored as <train>-eval)
    model:
      class: sklearn.ensemble.RandomForestClassifier
      params: {n_jobs: 1, random_state: 0}
    search:                          # optional: without it the model is cross-validated as given
      space:
        n_estimators: {low: 50, high: 300}
        max_depth: {low: 2, high: 12}
        max_features: {choices: [sqrt, log2]}
      n_trials: 20
    cv: 5
    metrics: [roc_auc, f1]           # the first is the objective
    evaluation:
      slices: [country, {column: age, bins: 4}]
      sensitive: [gender]
    register:
      name: fraud
      policy: {metric: roc_auc, significance: 0.05}
      promote: true

The spec is checked whole before anything runs (``--dry-run`` stops there): unknown fields,
wrong types, a class that does not import or has no fit, parameters it does not take, empty
ranges, datasets and columns that do not exist; each error names its field. Then the search
runs (mc.tune; mc.cross_validate without a search), the best model is evaluated on the eval
data (mc.evaluate, against the Production version when there is one), registered, and offered
to the model's promotion gates: a refusal is part of the result, not an error.
"""

from __future__ import annotations

import importlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modelcycle.exceptions import InvalidInput, NotFound

SCALARS = (str, int, float, bool, type(None))
MODEL_RUN_SUFFIX = "-model"  # the run of the trained model is named <name>-model


class _Section(BaseModel):
    # strict: `n_trials: true` is not 1, `cv: 3.0` not 3 and `importance: "yes"` not true
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, strict=True)


SliceItem = Union[str, dict[str, Any]]


class DataSpec(_Section):
    train: str = Field(description="the training data: a stored dataset version, name@version")
    target: str
    features: Optional[list[str]] = None  # default: every column but the target and `drop`
    drop: list[str] = []
    eval: Optional[str] = None  # a stored dataset version; default: split test_size off train
    test_size: float = Field(0.25, gt=0, lt=1)
    seed: int = 0


class ModelSpec(_Section):
    class_: str = Field(alias="class", description="an importable class: sklearn.ensemble.RandomForestClassifier")
    params: dict[str, Any] = {}


class SearchSpec(_Section):
    space: dict[str, Any]
    n_trials: int = Field(20, ge=1)
    timeout: Optional[float] = Field(None, gt=0)
    sampler: Literal["tpe", "random", "grid", "cmaes", "gp"] = "tpe"
    seed: Optional[int] = 0
    n_jobs: int = Field(1, ge=-1)
    study: Optional[str] = None  # run again with the same name to resume the study

    @field_validator("space")
    @classmethod
    def _not_empty(cls, value: dict) -> dict:
        if not value:
            raise ValueError("the search space is empty; give at least one parameter to search")
        return value


class EvaluationSpec(_Section):
    slices: list[SliceItem] = []
    sensitive: list[SliceItem] = []
    threshold: float = Field(0.5, gt=0, lt=1)
    importance: bool = True
    learning_curve: bool = False
    against_production: bool = True  # compare with the registered model's Production version


class RegisterSpec(_Section):
    name: str
    description: str = ""
    tags: dict[str, Union[str, int, float, bool]] = {}  # stored as text
    policy: Optional[dict[str, Any]] = None  # the model's promotion gates, set before promoting
    promote: bool = True


class TrainingSpec(_Section):
    name: Optional[str] = None
    experiment: Optional[str] = None
    data: DataSpec
    model: ModelSpec
    search: Optional[SearchSpec] = None
    cv: int = Field(5, ge=2)
    metrics: Optional[list[str]] = None  # scikit-learn scorer names; the first is the objective
    evaluation: EvaluationSpec = EvaluationSpec()
    registration: Optional[RegisterSpec] = Field(None, alias="register")  # "register" is taken by BaseModel

    @field_validator("metrics")
    @classmethod
    def _some_metrics(cls, value):
        if value is not None and not value:
            raise ValueError("give at least one metric, or leave metrics out for the model's default score")
        return value

    @property
    def run_name(self) -> str:
        return self.name or f"train-{self.model.class_.rpartition('.')[2]}"

    def _check_names(self, where: str) -> None:
        """What is stored as a name or a tag, with the store's own rules."""
        from modelcycle.store.validation import MAX_NAME_LENGTH, check_name, check_tags

        limit = MAX_NAME_LENGTH - len(MODEL_RUN_SUFFIX)
        if self.name is not None and len(self.name) > limit:
            raise InvalidInput(f"{where}name: {len(self.name)} characters; the limit is {limit} (the model's run is "
                               f"named after it, <name>{MODEL_RUN_SUFFIX}).")
        checks = [("name", lambda: check_name("run", self.name) if self.name is not None else None),
                  ("experiment", lambda: check_name("experiment", self.experiment)
                   if self.experiment is not None else None),
                  ("search.study", lambda: check_name("study", self.search.study)
                   if self.search is not None and self.search.study is not None else None),
                  ("register.tags", lambda: check_tags(self.registration.tags)
                   if self.registration is not None else None)]
        for field_name, check in checks:
            try:
                check()
            except InvalidInput as exc:
                raise InvalidInput(f"{where}{field_name}: {exc.message}") from None
        if self.search is not None and not (self.search.n_jobs >= 1 or self.search.n_jobs == -1):
            raise InvalidInput(f"{where}search.n_jobs: n_jobs must be a number of processes of at least 1 (or -1 for "
                               f"one per core); got {self.search.n_jobs}.")
        if self.data.features is not None and not self.data.features:
            raise InvalidInput(f"{where}data.features: give at least one feature, or leave features out for every "
                               "column but the target and drop.")

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(cls, source: str | Path | dict, check_store: bool = True) -> TrainingSpec:
        """Parse and check a spec (a YAML file, YAML text, or a dict). ``check_store``: also check
        that its datasets and columns exist in the tracking store."""
        where, data = _read(source)
        try:
            spec = cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput(_describe(where, exc)) from None
        spec._check_names(where)
        spec._check_model(where)
        if check_store:
            spec._check_data(where)
        return spec

    def estimator_class(self, where: str = "") -> type:
        module, _, name = self.model.class_.rpartition(".")
        if not module:
            raise InvalidInput(f"{where}model.class must be a full import path such as sklearn.ensemble.RandomForestClassifier; "
                               f"got {self.model.class_!r}.")
        try:
            found = getattr(importlib.import_module(module), name)
        except ImportError as exc:
            raise InvalidInput(f"{where}model.class: {self.model.class_!r} cannot be imported ({exc}). Install its package, "
                               "or correct the path.") from None
        except AttributeError:
            raise InvalidInput(f"{where}model.class: the module {module!r} has no {name!r}. Correct the name (case matters)."
                               ) from None
        if not isinstance(found, type):
            raise InvalidInput(f"{where}model.class: {self.model.class_!r} is not a class.")
        return found

    def estimator(self):
        return self.estimator_class()(**self.model.params)

    def _check_model(self, where: str) -> None:
        cls = self.estimator_class(where)
        if not callable(getattr(cls, "fit", None)):
            raise InvalidInput(f"{where}model.class: {cls.__name__} has no fit method, so it cannot be trained. Use a "
                               "scikit-learn estimator, or the scikit-learn interface of XGBoost or LightGBM.")
        if not callable(getattr(cls, "get_params", None)):
            raise InvalidInput(f"{where}model.class: {cls.__name__} has no get_params, so it cannot be cloned for "
                               "each fold and trial; make it a scikit-learn estimator.")
        try:
            valid = set(cls().get_params(deep=True))
        except Exception as exc:
            raise InvalidInput(f"{where}model.class: {cls.__name__}() could not be made with its defaults ({exc}).") \
                from None
        for key in self.model.params:
            if key not in valid:
                raise InvalidInput(f"{where}model.params.{key}: {cls.__name__} has no parameter {key!r}. Its parameters "
                                   f"are {', '.join(sorted(valid))}.")
        try:
            estimator = self.estimator()
        except Exception as exc:
            raise InvalidInput(f"{where}model.params: {cls.__name__}(**params) failed: {exc}") from None
        problem = _invalid_params(estimator)
        if problem:
            raise InvalidInput(f"{where}model.params: {problem}")
        if self.search is not None:
            for key in self.search.space:
                if key in self.model.params:
                    raise InvalidInput(f"{where}search.space.{key}: {key!r} is also fixed in model.params; search it or "
                                       "fix it, not both.")
            from modelcycle.training import space as spaces
            from modelcycle.training.samplers import sampler_spec

            try:
                dimensions = spaces.parse_space(self.search_space(), valid, cls.__name__)
            except InvalidInput as exc:
                raise InvalidInput(f"{where}search.space: {exc.message}") from None
            for key, dimension in dimensions.items():
                for value in _ends(dimension):
                    problem = _invalid_params(self.estimator().set_params(**{key: value}))
                    if problem:
                        raise InvalidInput(f"{where}search.space.{key}: {problem}")
            try:
                grid = spaces.grid(dimensions) if self.search.sampler == "grid" else None
                sampler_spec(self.search.sampler, self.search.seed, grid, self.search.n_jobs != 1)
            except InvalidInput as exc:
                raise InvalidInput(f"{where}search.sampler: {exc.message}") from None
        if self.metrics:
            from sklearn.metrics import get_scorer_names

            names = set(get_scorer_names())
            for i, metric in enumerate(self.metrics):
                if metric not in names:
                    close = sorted(n for n in names if metric.split("_")[0] in n)[:6]
                    raise InvalidInput(f"{where}metrics[{i}]: {metric!r} is not a scikit-learn scorer name"
                                       + (f"; did you mean {', '.join(close)}?" if close else "."))
        from modelcycle.evaluation.slices import parse_specs
        from modelcycle.registry.gates import PromotionPolicy
        from modelcycle.store.validation import check_model_name

        for what in ("slices", "sensitive"):
            try:
                parse_specs(getattr(self.evaluation, what), what)
            except InvalidInput as exc:
                raise InvalidInput(f"{where}evaluation.{what}: {exc.message}") from None
        if self.registration is not None:
            try:
                check_model_name(self.registration.name)
            except InvalidInput as exc:
                raise InvalidInput(f"{where}register.name: {exc.message}") from None
            if self.registration.policy is not None:
                try:
                    PromotionPolicy(**self.registration.policy)
                except InvalidInput as exc:
                    raise InvalidInput(f"{where}register.policy: {exc.message}") from None

    def search_space(self) -> dict[str, Any]:
        """The YAML space as mc.tune takes it: {low, high} ranges, {choices} and fixed values."""
        from modelcycle.training.space import Choice, Float, Int

        out = {}
        for key, value in (self.search.space if self.search else {}).items():
            if isinstance(value, dict) and set(value) == {"choices"}:
                out[key] = Choice(value["choices"])
            elif isinstance(value, dict) and {"low", "high"} <= set(value) <= {"low", "high", "log", "step"}:
                low, high = value["low"], value["high"]
                integer = all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) and \
                    not isinstance(value.get("step", 1), float)
                options = {k: value[k] for k in ("log", "step") if k in value}
                out[key] = Int(low, high, **options) if integer else Float(low, high, **options)
            elif isinstance(value, list):
                out[key] = Choice(value)
            elif isinstance(value, SCALARS):
                out[key] = value
            else:
                raise InvalidInput(f"search.space.{key}: a range is {{low: 2, high: 12}} (add log: true for a log "
                                   "range, step: for a grid), a choice {choices: [a, b]} or a list, else a fixed value; "
                                   f"got {value!r}.")
        return out

    def _check_data(self, where: str) -> None:
        from modelcycle.data.datasets import get_dataset, load_schema

        rows = {}

        def columns_of(field_name: str, ref: str) -> list[str]:
            try:
                version = get_dataset(ref)
            except (NotFound, InvalidInput) as exc:
                raise type(exc)(f"{where}{field_name}: {exc.message}") from None
            rows[field_name] = version.num_rows
            return list(load_schema(f"{version.name}@{version.version}").columns)

        train = columns_of("data.train", self.data.train)
        d = self.data
        training_rows = rows["data.train"] - (0 if d.eval else math.ceil(d.test_size * rows["data.train"]))
        if self.cv > training_rows:
            raise InvalidInput(f"{where}cv: {self.cv} folds of the {training_rows} training rows; give at most one "
                               "fold per row.")
        if d.target not in train:
            raise InvalidInput(f"{where}data.target: {d.target!r} is not a column of {d.train}. Its columns are "
                               f"{', '.join(train)}.")
        for name, listed in (("data.features", d.features or []), ("data.drop", d.drop)):
            for i, column in enumerate(listed):
                if column not in train:
                    raise InvalidInput(f"{where}{name}[{i}]: {column!r} is not a column of {d.train}.")
                if column == d.target:
                    raise InvalidInput(f"{where}{name}[{i}]: {column!r} is the target.")
        if d.features is not None and d.drop:
            raise InvalidInput(f"{where}data: give features or drop, not both.")
        evaluated = columns_of("data.eval", d.eval) if d.eval else train
        for column in self.feature_columns(train):
            if column not in evaluated:
                raise InvalidInput(f"{where}data.eval: {d.eval} lacks the feature {column!r} the model is trained on.")
        if d.target not in evaluated:
            raise InvalidInput(f"{where}data.eval: {d.eval} has no target column {d.target!r}.")
        from modelcycle.evaluation.slices import parse_specs

        for what in ("slices", "sensitive"):
            for i, item in enumerate(parse_specs(getattr(self.evaluation, what), what)):
                if item.column not in evaluated:
                    raise InvalidInput(f"{where}evaluation.{what}[{i}]: {item.column!r} is not a column of the "
                                       f"evaluation data ({d.eval or d.train}).")

    def feature_columns(self, columns: list[str]) -> list[str]:
        d = self.data
        if d.features is not None:
            return list(d.features)
        return [c for c in columns if c != d.target and c not in d.drop]


def _invalid_params(estimator) -> str | None:
    """scikit-learn's own complaint about the estimator's parameters (as fit would raise it),
    or None; estimators of other libraries are not checked before they fit."""
    validate = getattr(estimator, "_validate_params", None)
    if not callable(validate):
        return None
    try:
        validate()
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None


def _ends(dimension) -> list:
    """The values of a dimension to check: the ends of a range, every choice, a fixed value."""
    from modelcycle.training.space import Choice, Fixed

    if isinstance(dimension, Fixed):
        return [dimension.value]
    if isinstance(dimension, Choice):
        return list(dimension.options)
    return [dimension.low, dimension.high]


def _read(source: str | Path | dict) -> tuple[str, Any]:
    import yaml

    if isinstance(source, dict):
        return "", source
    if not isinstance(source, (str, Path)):
        raise InvalidInput(f"A training spec is a path to a YAML file, YAML text or a dict; got "
                           f"{type(source).__name__}.")
    path = Path(source)
    text = None
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and source.endswith((".yaml", ".yml"))):
        if not path.is_file():
            raise NotFound(f"No training spec at {str(path)!r}.")
        text = path.read_text(encoding="utf-8")
        where = f"{path.name}: "
    else:
        text, where = str(source), ""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{where}not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{where}a training spec is a YAML mapping with data, model, ...; got "
                           f"{type(data).__name__}.")
    return where, data


def _describe(where: str, exc: ValidationError) -> str:
    """Every problem on a line of its own, named by its field path."""
    lines, unions = [], {}
    for error in exc.errors():
        loc = error["loc"]
        if loc and isinstance(loc[-1], str) and (loc[-1] in _TYPE_TAGS or "[" in loc[-1]):
            # one error per member of a union (str | dict): said once, with the forms it takes
            unions.setdefault(_path(loc[:-1]), (error.get("input"), []))[1].append(loc[-1].split("[")[0])
            continue
        path = _path(loc)
        kind = error["type"]
        if kind == "extra_forbidden":
            parent = error["loc"][:-1]
            known = _fields_at(parent)
            lines.append(f"{path}: unknown field" + (f"; the fields here are {', '.join(known)}" if known else ""))
        elif kind == "missing":
            lines.append(f"{path}: required, and missing")
        else:
            got = error.get("input")
            lines.append(f"{path}: {error['msg'].removeprefix('Value error, ')} (got {got!r})")
    for path, (got, forms) in unions.items():
        named = {"str": "a name", "dict": "a mapping", "list": "a list", "int": "an integer", "float": "a number"}
        lines.append(f"{path}: must be {' or '.join(named.get(f, f) for f in dict.fromkeys(forms))} (got {got!r})")
    return f"{where}the training spec is not valid:\n  " + "\n  ".join(lines)


_TYPE_TAGS = {"str", "int", "float", "bool", "dict", "list", "none"}


def _path(loc: tuple) -> str:
    return ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")


def _fields_at(loc: tuple) -> list[str]:
    model: Any = TrainingSpec
    for part in loc:
        fields = getattr(model, "model_fields", {})
        info = next((f for name, f in fields.items() if part in (name, f.alias)), None)
        if info is None:
            return []
        annotation = info.annotation
        args = [a for a in getattr(annotation, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        model = args[0] if args else annotation
    fields = getattr(model, "model_fields", None)
    if not fields:
        return []
    return [(f.alias or name) for name, f in fields.items()]


# ---------------------------------------------------------------------- running
@dataclass
class TrainResult:
    spec: TrainingSpec
    run_id: str  # the run that holds the model and its evaluation, a child of search_run_id
    best_params: dict[str, Any]
    best_value: float | None  # the objective's cross-validated value
    objective: str
    evaluation: Any  # an EvaluationResult
    version: Any = None  # the registered ModelVersion
    promoted: bool = False
    refusal: str | None = None  # why the gates refused the promotion
    gates: Any = None  # the GateReport the promotion decided on
    seconds: float = 0.0
    datasets: dict[str, str] = field(default_factory=dict)  # role -> name@version
    search_run_id: str | None = None  # the study's run, or the cross-validation's


def train(spec: TrainingSpec | str | Path | dict, progress: bool | None = None) -> TrainResult:
    """Run a training spec: search (or cross-validate), evaluate the best, register it, offer
    it to the promotion gates. A refused promotion is reported in the result."""
    started = time.perf_counter()
    import modelcycle as mc
    from modelcycle.data.datasets import get_dataset, load_dataset
    from modelcycle.store.clock import now_ms
    from modelcycle.store.entities import Metric
    from modelcycle.tracking import fluent

    if not isinstance(spec, TrainingSpec):
        spec = TrainingSpec.load(spec)
    else:
        spec._check_data("")
    d = spec.data
    train_version = get_dataset(d.train)
    train_ref = f"{train_version.name}@{train_version.version}"
    frame = load_dataset(train_ref)
    features = spec.feature_columns(list(frame.columns))
    estimator = spec.estimator()
    from modelcycle.training.inputs import is_classifier, split_target

    X, y = split_target(frame[features], frame[d.target], estimator)
    if d.eval:
        eval_version = get_dataset(d.eval)
        eval_ref = f"{eval_version.name}@{eval_version.version}"
        eval_frame = None
    else:
        from sklearn.model_selection import train_test_split

        train_rows, eval_frame = train_test_split(frame, test_size=d.test_size, random_state=d.seed,
                                                  stratify=frame[d.target] if is_classifier(estimator) else None)
        X, y = train_rows[features], train_rows[d.target]
        eval_ref = None

    client = fluent.client()
    scoring = spec.metrics
    if spec.search is not None:
        s = spec.search
        tuned = mc.tune(estimator, spec.search_space(), X, y, n_trials=s.n_trials, timeout=s.timeout,
                        sampler=s.sampler, seed=s.seed, n_jobs=s.n_jobs, study_name=s.study or None,
                        experiment=spec.experiment, cv=spec.cv, scoring=scoring, log_model=False, progress=progress)
        search_run, model = tuned.run_id, tuned.model
        best_params, best_value = dict(tuned.best_params), tuned.best_value
        objective = client.get_run(search_run).params.get("cv.scoring", "score").split(",")[0]
    else:
        from modelcycle.training.inputs import changed_params

        cv = mc.cross_validate(estimator, X, y, cv=spec.cv, scoring=scoring, experiment=spec.experiment,
                               run_name=spec.run_name, progress=progress)
        search_run = cv.run_id
        model = estimator.fit(X, y)
        objective = next(iter(cv.summary))
        best_params, best_value = changed_params(estimator), cv.summary[objective].mean

    # The model and its evaluation get a run of their own, a child of the search: the search's
    # run keeps its cross-validated scores, and the registered version's run holds the
    # evaluation on the eval data alone, which is what its promotion gates compare.
    search = client.get_run(search_run)
    final = client.create_run(search.experiment_id, f"{spec.run_name}{MODEL_RUN_SUFFIX}", {"mc.train": "true"},
                              search_run)
    run_id = final.id
    try:
        client.log_batch(run_id, params={"model.class": spec.model.class_, **spec.model.params, **best_params},
                         metrics=[] if best_value is None else [Metric(f"cv.{objective}", float(best_value), 0, now_ms())])
        client.store.link_dataset(run_id, train_version.name, train_version.version, "train")
        client.log_text(run_id, _spec_yaml(spec), "spec.yaml")
        info = mc.log_model(model, "model", input_example=X.head(5), run_id=run_id)
        baseline = None
        if spec.registration is not None and spec.evaluation.against_production:
            try:
                production = client.store.get_registered_model(spec.registration.name).production_version
            except NotFound:
                production = None
            if production is not None:
                baseline = f"models:/{spec.registration.name}/{production}"
        e = spec.evaluation
        evaluation = mc.evaluate(model, eval_ref if eval_ref else eval_frame, d.target, slices=e.slices or None,
                                 sensitive=e.sensitive or None, baseline=baseline, threshold=e.threshold,
                                 features=features, importance=e.importance, learning_curve=e.learning_curve,
                                 dataset_name=None if eval_ref else f"{train_version.name}-eval", run_id=run_id)
    except BaseException:
        client.end_run(run_id, "FAILED")
        raise
    client.end_run(run_id, "FINISHED")
    result = TrainResult(spec, run_id, best_params, best_value, objective, evaluation,
                         datasets={"train": train_ref, "eval": evaluation.dataset}, search_run_id=search_run)
    if spec.registration is not None:
        r = spec.registration
        result.version = mc.register_model(info, r.name, description=r.description or f"modelcycle train {spec.run_name}",
                                           tags=r.tags)
        if r.policy is not None:
            mc.set_promotion_policy(r.name, **r.policy)
        if r.promote:
            from modelcycle.registry import PromotionRefused

            try:
                promotion = mc.promote(r.name, result.version.version, reason=f"modelcycle train {spec.run_name}")
                result.promoted, result.gates = True, promotion.gates
            except PromotionRefused as refused:
                result.refusal, result.gates = refused.report.summary(), refused.report
    result.seconds = time.perf_counter() - started
    return result


def _spec_yaml(spec: TrainingSpec) -> str:
    import yaml

    return yaml.safe_dump(spec.model_dump(by_alias=True, exclude_defaults=True), sort_keys=False)

