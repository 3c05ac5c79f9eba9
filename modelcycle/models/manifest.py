"""The manifest of a logged model (``model.yaml``): what it is, how to load it, what it takes,
what it needs, where it came from, and the digest of every file it is made of."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from modelcycle.exceptions import InvalidInput
from modelcycle.models.signature import Signature

MANIFEST_FILE = "model.yaml"
FORMAT = 1
FLAVORS = ("sklearn", "xgboost", "lightgbm", "python")
TASKS = ("classification", "regression", "other")


@dataclass
class Manifest:
    flavor: str
    model_class: str
    task: str
    native: dict[str, Any]  # file, format
    onnx: dict[str, Any]  # file (None when there is no ONNX form), reason or max_abs_diff, ...
    files: dict[str, dict[str, Any]]  # relative path -> sha256, size
    requirements: dict[str, Any]  # python, packages
    created_at: int
    classes: list[Any] | None = None
    signature: Signature | None = None
    input_example: str | None = None
    run: dict[str, Any] = field(default_factory=dict)  # id, datasets, metrics
    # {"refused": [...]}: the input columns in which the native model refuses missing values
    # (NaN), found by trying; "*" for a tensor input. None when not tried (no input example).
    missing_values: dict[str, Any] | None = None

    @property
    def has_onnx(self) -> bool:
        return bool(self.onnx.get("file"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "modelcycle_model": FORMAT, "flavor": self.flavor, "model_class": self.model_class,
            "task": self.task, "classes": self.classes, "native": self.native, "onnx": self.onnx,
            "signature": self.signature.to_dict() if self.signature else None,
            "input_example": self.input_example, "requirements": self.requirements, "run": self.run,
            "files": self.files, "created_at": self.created_at, "missing_values": self.missing_values,
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str | bytes, where: str = MANIFEST_FILE) -> Manifest:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{where} is not valid YAML: {exc}") from None
        return cls.from_dict(data, where)

    @classmethod
    def from_dict(cls, d: Any, where: str = MANIFEST_FILE) -> Manifest:
        def need(key: str, kind, choices=None):
            value = d.get(key)
            if not isinstance(value, kind) or (choices and value not in choices):
                expected = f"one of {', '.join(choices)}" if choices else (
                    kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind))
                raise InvalidInput(f"{where}: '{key}' must be {expected}; got {value!r}. "
                                   "The model directory is damaged: log the model again.")
            return value

        if not isinstance(d, dict):
            raise InvalidInput(f"{where} must be a mapping; got {type(d).__name__}. Log the model again.")
        if d.get("modelcycle_model") != FORMAT:
            raise InvalidInput(f"{where}: 'modelcycle_model' must be {FORMAT} (the manifest format); got "
                               f"{d.get('modelcycle_model')!r}. Was this directory written by modelcycle?")
        native, onnx, files = need("native", dict), need("onnx", dict), need("files", dict)
        if not isinstance(native.get("file"), str) or not isinstance(native.get("format"), str):
            raise InvalidInput(f"{where}: 'native' needs a file and a format; got {native!r}.")
        for path, info in files.items():
            if not isinstance(info, dict) or not isinstance(info.get("sha256"), str):
                raise InvalidInput(f"{where}: files.{path} needs a sha256; got {info!r}.")
        if d.get("input_example") is not None and not isinstance(d["input_example"], str):
            raise InvalidInput(f"{where}: 'input_example' must be a file name or null; got {d['input_example']!r}.")
        if not isinstance(d.get("run") or {}, dict):
            raise InvalidInput(f"{where}: 'run' must be a mapping (id, datasets, metrics); got {d['run']!r}.")
        for listed in (native["file"], onnx.get("file"), d.get("input_example")):
            if listed and listed not in files:
                raise InvalidInput(f"{where}: {listed!r} is used but not listed under 'files'.")
        signature = Signature.from_dict(d["signature"]) if d.get("signature") is not None else None
        classes = d.get("classes")
        if classes is not None and not isinstance(classes, list):
            raise InvalidInput(f"{where}: 'classes' must be a list; got {classes!r}.")
        missing = d.get("missing_values")
        if missing is not None and not (isinstance(missing, dict) and isinstance(missing.get("refused"), list)
                                        and all(isinstance(c, str) for c in missing["refused"])):
            raise InvalidInput(f"{where}: 'missing_values' must be a mapping with a list of column names under "
                               f"'refused'; got {missing!r}.")
        return cls(need("flavor", str, FLAVORS), need("model_class", str), need("task", str, TASKS), native,
                   onnx, files, need("requirements", dict), need("created_at", int), classes, signature,
                   d.get("input_example"), d.get("run") or {}, missing)
