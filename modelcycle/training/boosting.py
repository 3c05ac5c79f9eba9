"""Early stopping for XGBoost and LightGBM on a validation set, with the per-iteration curve of
every evaluation metric logged as metric history (step = iteration), and, inside mc.tune, the
validation metric reported to the trial so that a pruner can stop a poor one early.

    model = mc.training.fit_boosting(XGBClassifier(n_estimators=500), X, y, (X_val, y_val),
                                     early_stopping_rounds=20, trial=trial)

Curve names are ``<eval set>_<metric>`` as the library names them: ``validation_0_logloss``
(XGBoost), ``valid_0_binary_logloss`` (LightGBM); ``best_iteration`` is logged when early
stopping chose one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from modelcycle.exceptions import InvalidInput
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import Metric


def _library(model) -> str:
    module = type(model).__module__.split(".")[0]
    if module in ("xgboost", "lightgbm"):
        return module
    raise InvalidInput(f"{type(model).__name__} is not an XGBoost or LightGBM model; early stopping here takes "
                       "their scikit-learn interface (XGBClassifier, XGBRegressor, LGBMClassifier, LGBMRegressor).")


def curves_of(model_or_results) -> dict[str, list[float]]:
    """The evaluation curves of a fitted model (or an evals_result dict) by metric name."""
    if isinstance(model_or_results, Mapping):
        results = model_or_results
    elif _library(model_or_results) == "xgboost":
        try:
            results = model_or_results.evals_result()
        except Exception:  # XGBoost raises when fit had no eval_set
            results = {}
    else:
        results = getattr(model_or_results, "evals_result_", None) or {}
    curves = {}
    for data_name, metrics in results.items():
        for metric_name, values in metrics.items():
            curves[f"{data_name}_{metric_name}"] = [float(v) for v in values]
    return curves


def _best_iteration(model) -> int | None:
    for attribute in ("best_iteration_", "best_iteration"):
        try:
            value = getattr(model, attribute, None)
        except Exception:  # XGBoost raises AttributeError-like errors without early stopping
            value = None
        if isinstance(value, int) and value > 0:
            return value
    return None


def _run_id(run_id: str | None) -> str:
    from modelcycle.tracking import fluent

    if run_id is not None:
        return run_id
    active = fluent.active_run()
    return active.id if active is not None else fluent.start_run().id


def log_boosting_curve(model_or_results, run_id: str | None = None, prefix: str = "") -> dict[str, list[float]]:
    """Log each evaluation curve of a fitted XGBoost/LightGBM model (or an ``evals_result``
    dict) as metric history on ``run_id`` (the active run by default), in one write. Returns
    the curves."""
    from modelcycle.tracking import fluent

    curves = curves_of(model_or_results)
    if not curves:
        raise InvalidInput("The model has no evaluation curve: fit it with eval_set=[(X_val, y_val)].")
    stamp = now_ms()
    metrics = [Metric(f"{prefix}{name}", value, step, stamp) for name, values in curves.items()
               for step, value in enumerate(values)]
    best = None if isinstance(model_or_results, Mapping) else _best_iteration(model_or_results)
    if best is not None:
        metrics.append(Metric(f"{prefix}best_iteration", best, 0, stamp))
    fluent.client().log_batch(_run_id(run_id), metrics)
    return curves


class _Reporter:
    """Reports the last evaluation set's first metric to an Optuna trial every ``every``
    iterations and asks whether to prune."""

    def __init__(self, trial, every: int):
        self.trial, self.every = trial, every
        self.pruned_at: int | None = None

    def report(self, iteration: int, value: float) -> bool:
        if self.trial is None or iteration % self.every:
            return False
        if math.isfinite(value):
            self.trial.report(value, iteration)
        if self.trial.should_prune():
            self.pruned_at = iteration
            return True
        return False


def fit_boosting(model, X, y, eval_set, *, early_stopping_rounds: int | None = 50, eval_metric=None, trial=None,
                 report_every: int = 1, run_id: str | None = None, log_curve: bool = True, **fit_kwargs):
    """Fit an XGBoost or LightGBM scikit-learn model on ``X``, ``y`` with early stopping on
    ``eval_set`` = (X_val, y_val) (None: no early stopping), log its curves (see the module's
    docstring) to ``run_id`` or the active run, and with ``trial`` (inside mc.tune) report the
    validation metric each ``report_every`` iterations; a trial the pruner stops raises
    optuna.TrialPruned after its curve is logged. Returns the fitted model."""
    library = _library(model)
    if not (isinstance(eval_set, tuple) and len(eval_set) == 2):
        raise InvalidInput("eval_set must be one validation set as a pair (X_val, y_val).")
    if early_stopping_rounds is not None and (isinstance(early_stopping_rounds, bool)
                                              or not isinstance(early_stopping_rounds, int)
                                              or early_stopping_rounds < 1):
        raise InvalidInput(f"early_stopping_rounds must be a whole number of at least 1, or None; got "
                           f"{early_stopping_rounds!r}.")
    if isinstance(report_every, bool) or not isinstance(report_every, int) or report_every < 1:
        raise InvalidInput(f"report_every must be a whole number of at least 1; got {report_every!r}.")
    reporter = _Reporter(trial, report_every)
    if library == "xgboost":
        _fit_xgboost(model, X, y, eval_set, early_stopping_rounds, eval_metric, reporter, fit_kwargs)
    else:
        _fit_lightgbm(model, X, y, eval_set, early_stopping_rounds, eval_metric, reporter, fit_kwargs)
    if log_curve and curves_of(model):  # a trial pruned at its first iteration has no curve yet
        log_boosting_curve(model, run_id)
    if reporter.pruned_at is not None:
        import optuna

        raise optuna.TrialPruned(f"pruned at iteration {reporter.pruned_at}")
    return model


def _fit_xgboost(model, X, y, eval_set, rounds, eval_metric, reporter, fit_kwargs) -> None:
    import xgboost

    class Report(xgboost.callback.TrainingCallback):
        def after_iteration(self, booster, epoch, evals_log):
            if not evals_log:
                return False
            data = list(evals_log.values())[-1]
            values = next(iter(data.values()))
            last = values[-1]
            return reporter.report(epoch, float(last[0] if isinstance(last, tuple) else last))

    settings = {"callbacks": [*(model.get_params().get("callbacks") or []), Report()]}
    if rounds is not None:
        settings["early_stopping_rounds"] = rounds
    if eval_metric is not None:
        settings["eval_metric"] = eval_metric
    model.set_params(**settings)
    try:
        model.fit(X, y, eval_set=[eval_set], verbose=False, **fit_kwargs)
    finally:
        # The callback closes over the trial: leave it out of the fitted model, which is pickled.
        model.set_params(callbacks=[c for c in settings["callbacks"] if not isinstance(c, Report)] or None)


def _fit_lightgbm(model, X, y, eval_set, rounds, eval_metric, reporter, fit_kwargs) -> None:
    import lightgbm

    def report(env):
        if env.evaluation_result_list:
            _, _, value, _ = env.evaluation_result_list[0][:4]
            if reporter.report(env.iteration, float(value)):
                raise lightgbm.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    callbacks = list(fit_kwargs.pop("callbacks", None) or [])
    if rounds is not None:
        callbacks.append(lightgbm.early_stopping(rounds, verbose=False))
    callbacks.append(report)
    extra = {"eval_metric": eval_metric} if eval_metric is not None else {}
    import inspect

    if "eval_X" in inspect.signature(type(model).fit).parameters:  # LightGBM 4.7 deprecates eval_set
        extra.update(eval_X=(eval_set[0],), eval_y=(eval_set[1],))
    else:
        extra["eval_set"] = [eval_set]
    model.fit(X, y, callbacks=callbacks, **extra, **fit_kwargs)
