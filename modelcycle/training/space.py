"""Search spaces: ranges, log ranges and choices, checked before any trial runs.

    space = {
        "max_depth": mc.training.Int(2, 12),
        "learning_rate": mc.training.Float(1e-3, 0.3, log=True),
        "booster": mc.training.Choice(["gbtree", "dart"]),
        "subsample": (0.5, 1.0),          # a tuple of two numbers: a range (ints: Int, else Float)
        "criterion": ["gini", "entropy"],  # a list: a choice
        "n_jobs": 1,                       # anything else plain: a fixed value
    }
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from modelcycle.exceptions import InvalidInput
from modelcycle.store.validation import check_key, check_text


def _number(name: str, what: str, value: object, integer: bool) -> float | int:
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or (not integer and not math.isfinite(value)):
        expected = "an integer" if integer else "a finite number"
        raise InvalidInput(f"The {what} of {name!r} must be {expected}; got {value!r}.")
    return int(value) if integer else float(value)


@dataclass(frozen=True)
class Float:
    """A float in [low, high]; ``log`` samples its logarithm uniformly; ``step`` makes it discrete."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def check(self, name: str) -> Float:
        low, high = _number(name, "low end", self.low, False), _number(name, "high end", self.high, False)
        _check_range(name, low, high, self.log, self.step, False)
        return Float(low, high, bool(self.log), None if self.step is None else float(self.step))

    def distribution(self):
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def grid(self, name: str) -> list:
        if self.step is None:
            raise InvalidInput(f"The grid sampler needs a finite grid, but {name!r} is a continuous range. "
                               f"Give it a step (Float({self.low}, {self.high}, step=...)) or a Choice.")
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [self.low + i * self.step for i in range(count)]


@dataclass(frozen=True)
class Int:
    """An int in [low, high], both included; ``log`` samples its logarithm uniformly."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def check(self, name: str) -> Int:
        low, high = _number(name, "low end", self.low, True), _number(name, "high end", self.high, True)
        step = _number(name, "step", self.step, True)
        _check_range(name, low, high, self.log, step, True)
        return Int(low, high, bool(self.log), step)

    def distribution(self):
        from optuna.distributions import IntDistribution

        return IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def grid(self, name: str) -> list:
        return list(range(self.low, self.high + 1, self.step))


@dataclass(frozen=True)
class Choice:
    """One of ``options`` (numbers, strings, booleans or None, as Optuna stores them)."""

    options: tuple

    def __init__(self, options):
        object.__setattr__(self, "options", tuple(options) if not isinstance(options, (str, bytes)) else options)

    def check(self, name: str) -> Choice:
        if not isinstance(self.options, tuple):
            raise InvalidInput(f"The choices of {name!r} must be a list; got {self.options!r}.")
        if not self.options:
            raise InvalidInput(f"The choice {name!r} has no options; give at least one.")
        for option in self.options:
            if option is not None and not isinstance(option, (bool, int, float, str)):
                raise InvalidInput(
                    f"The choice {name!r} has the option {option!r} ({type(option).__name__}); options must be "
                    "numbers, strings, booleans or None. Choose among names and map them to objects yourself.")
            if isinstance(option, str):  # it is stored as the trial's param
                check_text(f"The option {option!r} of {name!r}", option)
        return self

    def distribution(self):
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(list(self.options))

    def grid(self, name: str) -> list:
        return list(self.options)


def _check_range(name: str, low, high, log: bool, step, integer: bool) -> None:
    if not isinstance(log, bool) and type(log).__name__ != "bool_":  # "no" and 1 are not flags
        raise InvalidInput(f"The 'log' of {name!r} must be True or False; got {log!r}.")
    if low > high:
        raise InvalidInput(f"The range of {name!r} is empty: its low end {low} is above its high end {high}. "
                           "Swap them.")
    if log and low <= 0:
        raise InvalidInput(f"The log range of {name!r} starts at {low}; a log range needs a low end above 0.")
    if step is not None:
        if step <= 0:
            raise InvalidInput(f"The step of {name!r} must be above 0; got {step}.")
        if log and (integer and step != 1 or not integer):
            raise InvalidInput(f"{name!r} cannot be both a log range and have a step; choose one.")


Dimension = Float | Int | Choice


@dataclass(frozen=True)
class Fixed:
    value: Any


def parse_space(space: object, valid_names: set[str] | None = None, owner: str = "") -> dict[str, Dimension | Fixed]:
    """The checked dimensions of ``space`` (see the module's docstring), in the given order."""
    if not isinstance(space, dict):
        raise InvalidInput(f"A search space is a dict of parameter name to range or choices; got "
                           f"{type(space).__name__}.")
    if not space:
        raise InvalidInput("The search space is empty; give at least one parameter to search.")
    parsed: dict[str, Dimension | Fixed] = {}
    for name, spec in space.items():
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"A parameter name in the search space must be a non-empty str; got {name!r}.")
        check_key("param", name)
        if valid_names is not None and name not in valid_names:
            close = sorted(n for n in valid_names if n.split("__")[-1] == name.split("__")[-1])
            hint = f" Did you mean {close[0]!r}?" if close else f" Its parameters: {', '.join(sorted(valid_names))}."
            raise InvalidInput(f"{owner} has no parameter {name!r}.{hint}")
        parsed[name] = _dimension(name, spec)
    if not any(isinstance(d, (Float, Int, Choice)) for d in parsed.values()):
        raise InvalidInput("The search space fixes every parameter; give at least one range or choice to search.")
    return parsed


def _dimension(name: str, spec: object) -> Dimension | Fixed:
    if isinstance(spec, (Float, Int, Choice)):
        return spec.check(name)
    if isinstance(spec, list):
        return Choice(spec).check(name)
    if isinstance(spec, tuple):
        if len(spec) != 2 or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in spec):
            raise InvalidInput(
                f"The search space entry {name!r} is a tuple {spec!r}: a tuple means a range (low, high) of two "
                "numbers. For choices use a list; for a log range mc.training.Float(low, high, log=True).")
        if all(isinstance(v, numbers.Integral) for v in spec):
            return Int(*spec).check(name)
        return Float(*spec).check(name)
    if spec is None or isinstance(spec, (bool, int, float, str)):
        return Fixed(spec)
    if isinstance(spec, (set, frozenset, dict, range)) or hasattr(spec, "rvs"):
        raise InvalidInput(
            f"The search space entry {name!r} is of an unknown kind ({type(spec).__name__}). Use "
            "mc.training.Float(low, high, log=False), mc.training.Int(low, high), mc.training.Choice([...]), "
            "a (low, high) tuple or a list of choices.")
    return Fixed(spec)  # an object, e.g. an estimator for a pipeline step: used as it is


def suggest(trial, space: dict[str, Dimension | Fixed]) -> dict[str, Any]:
    """The parameters of one trial: each dimension suggested through ``trial``."""
    params = {}
    for name, dimension in space.items():
        if isinstance(dimension, Fixed):
            params[name] = dimension.value
        elif isinstance(dimension, Float):
            params[name] = trial.suggest_float(name, dimension.low, dimension.high, log=dimension.log,
                                               step=dimension.step)
        elif isinstance(dimension, Int):
            params[name] = trial.suggest_int(name, dimension.low, dimension.high, log=dimension.log,
                                             step=dimension.step)
        else:
            params[name] = trial.suggest_categorical(name, list(dimension.options))
    return params


def grid(space: dict[str, Dimension | Fixed]) -> dict[str, list]:
    """The grid of ``space`` for Optuna's GridSampler."""
    return {name: d.grid(name) for name, d in space.items() if not isinstance(d, Fixed)}


def grid_size(space: dict[str, Dimension | Fixed]) -> int:
    return math.prod(len(values) for values in grid(space).values())
