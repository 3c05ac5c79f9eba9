"""Optuna samplers and pruners by name, checked before a study starts."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from modelcycle.exceptions import InvalidInput

SAMPLERS = ("tpe", "random", "grid", "cmaes", "gp")
PRUNERS = ("none", "median", "hyperband")


@dataclass(frozen=True)
class SamplerSpec:
    """What a worker needs to build its own sampler: a name and its settings, or an instance."""

    name: str
    seed: int | None = None
    grid: dict[str, list] | None = None
    parallel: bool = False
    instance: Any = None
    start: int = 0  # trials the study held when this search began: a resumed study has some

    def build(self, worker: int = 0):
        import optuna

        if self.instance is not None:
            return self.instance
        return self._build(optuna, self.worker_seed(worker))

    def worker_seed(self, worker: int) -> int | None:
        """The seed itself for the first process of a new study; another for each other worker
        (with one seed they would suggest the same parameters) and for a resumed study (which
        would otherwise draw its first points again)."""
        if self.seed is None or (worker == 0 and self.start == 0):
            return self.seed
        import numpy as np

        return int(np.random.SeedSequence([self.seed, worker, self.start]).generate_state(1)[0])

    def _build(self, optuna, seed: int | None):
        if self.name == "tpe":
            return optuna.samplers.TPESampler(seed=seed, constant_liar=self.parallel)
        if self.name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if self.name == "grid":
            return optuna.samplers.GridSampler(self.grid, seed=seed)
        if self.name == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed)
        return optuna.samplers.GPSampler(seed=seed)

    def describe(self) -> str:
        return type(self.instance).__name__ if self.instance is not None else self.name


def sampler_spec(sampler, seed: int | None, grid: dict[str, list] | None, parallel: bool) -> SamplerSpec:
    import optuna

    if isinstance(sampler, optuna.samplers.BaseSampler):
        return SamplerSpec(type(sampler).__name__, instance=sampler)
    if not isinstance(sampler, str) or sampler.lower() not in SAMPLERS:
        raise InvalidInput(f"Unknown sampler {sampler!r}; use one of {', '.join(map(repr, SAMPLERS))}, or pass an "
                           "optuna.samplers.BaseSampler instance.")
    name = sampler.lower()
    if name == "cmaes" and importlib.util.find_spec("cmaes") is None:
        raise InvalidInput("The 'cmaes' sampler needs the cmaes package: pip install 'modelcycle[tune]' "
                           "(or pip install cmaes).")
    if name == "gp" and (importlib.util.find_spec("torch") is None or importlib.util.find_spec("scipy") is None):
        raise InvalidInput("The 'gp' sampler (Optuna's GPSampler) needs PyTorch: pip install torch. "
                           "Or choose sampler='tpe'.")
    if name == "grid" and grid is None:
        raise InvalidInput("The 'grid' sampler needs the grid: pass space={name: [values...], ...} "
                           "(lists, or ranges with a step).")
    return SamplerSpec(name, seed, grid if name == "grid" else None, parallel)


@dataclass(frozen=True)
class PrunerSpec:
    name: str
    instance: Any = None

    def build(self):
        import optuna

        if self.instance is not None:
            return self.instance
        if self.name == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
        if self.name == "hyperband":
            return optuna.pruners.HyperbandPruner()
        return optuna.pruners.NopPruner()

    def describe(self) -> str:
        return type(self.instance).__name__ if self.instance is not None else self.name


def pruner_spec(pruner) -> PrunerSpec:
    import optuna

    if pruner is None:
        return PrunerSpec("none")
    if isinstance(pruner, optuna.pruners.BasePruner):
        return PrunerSpec(type(pruner).__name__, instance=pruner)
    if not isinstance(pruner, str) or pruner.lower() not in PRUNERS:
        raise InvalidInput(f"Unknown pruner {pruner!r}; use None, 'median' or 'hyperband', or pass an "
                           "optuna.pruners.BasePruner instance.")
    return PrunerSpec(pruner.lower())
