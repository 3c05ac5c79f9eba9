"""`mc.log_model` and `mc.load_model`."""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle import config
from modelcycle.artifacts.blobs import file_digest
from modelcycle.exceptions import Conflict, InvalidInput, NotFound
from modelcycle.models import flavors, missing
from modelcycle.models.manifest import MANIFEST_FILE, Manifest
from modelcycle.models.onnx import OnnxPredictor, export
from modelcycle.models.signature import Signature, as_input, check_labels, enforce, spec_of
from modelcycle.models.uris import local_folder, resolve
from modelcycle.store.base import Store
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import ModelVersion
from modelcycle.store.validation import check_artifact_path
from modelcycle.tracking.context import current_user
from modelcycle.tracking.fluent import active_run, client, start_run

EXAMPLE_FILE = "input_example.json"
EXAMPLE_ROWS = 20


@dataclass(frozen=True)
class ModelInfo:
    uri: str  # runs:/<run_id>/<path>
    run_id: str
    artifact_path: str
    manifest: Manifest
    registered: ModelVersion | None = None


def _write_example(example, path: Path) -> None:
    head = example.head(EXAMPLE_ROWS) if isinstance(example, pd.DataFrame) else example[:EXAMPLE_ROWS]
    if isinstance(head, pd.DataFrame):
        path.write_text(head.to_json(orient="split", index=False, date_format="iso"), encoding="utf-8")
    else:
        import json

        path.write_text(json.dumps({"dtype": str(head.dtype), "data": head.tolist()}), encoding="utf-8")


def read_example(path: Path) -> pd.DataFrame | np.ndarray:
    import json

    data = json.loads(path.read_text(encoding="utf-8"))
    if "dtype" in data:
        return np.asarray(data["data"], dtype=data["dtype"])
    return pd.DataFrame(data["data"], columns=data["columns"])


def _class_name(manifest: Manifest) -> str:
    return manifest.model_class.rpartition(".")[2]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def log_model(model: Any, name: str = "model", input_example: Any = None,
              signature: Signature | dict | None = None, onnx: bool = True, run_id: str | None = None,
              registered_model_name: str | None = None) -> ModelInfo:
    """Store ``model`` in the active run (or ``run_id``) under ``name``: its native form, an ONNX
    form where the converters support it and it agrees with the native model on
    ``input_example``, the signature (inferred from the example when not given), the pinned
    requirements, and the datasets and metrics of its run. The manifest is written last: a
    folder without one is not a model, so an interrupted call leaves nothing loadable."""
    artifact_path = check_artifact_path(name)
    flavor = flavors.detect(model)
    task, classes = flavors.task_of(model)
    example = as_input(input_example) if input_example is not None else None
    if isinstance(example, pd.DataFrame):
        check_labels(example)
    predictions = None
    if example is not None:
        try:
            labels = np.asarray(model.predict(example))
            proba = np.asarray(model.predict_proba(example)) if task == "classification" else None
        except Exception as exc:  # the user's model refusing its own example
            holes = missing.describe(example)
            if holes:
                raise InvalidInput(
                    f"The model could not predict on its input_example, which has missing values {holes}: this "
                    f"{type(model).__name__} does not accept them. Pass an example without missing values "
                    "(example.dropna()), or impute them in the model (e.g. a SimpleImputer step in the pipeline). "
                    f"It said: {type(exc).__name__}: {_first_line(exc)}") from exc
            raise InvalidInput(f"The model could not predict on its input_example ({type(exc).__name__}: "
                               f"{exc}). Pass an example of the data it was trained on.") from exc
        predictions = (labels, proba)
    if signature is None and example is not None:
        signature = Signature(spec_of(example), spec_of(predictions[0]))
    elif isinstance(signature, dict):
        signature = Signature.from_dict(signature)
    elif signature is not None and not isinstance(signature, Signature):
        raise InvalidInput(f"signature must be a Signature or a dict; got {type(signature).__name__}.")
    if example is not None and signature is not None:
        example = enforce(signature, example)  # a given signature must accept it; as predictions will see it
    missing_values = {"refused": missing.refused_columns(model, example)} if example is not None else None

    tracking = client()
    run_id = run_id or (active_run() or start_run()).id  # like logging a metric: no run starts one
    run = tracking.get_run(run_id)
    uses = tracking.store.dataset_uses(run_id=run_id)
    with tempfile.TemporaryDirectory(prefix="modelcycle-model-") as tmp:
        folder = Path(tmp)
        native = flavors.save_native(model, flavor, folder)
        onnx_info = (export(model, flavor, task, signature, example, predictions, folder / "model.onnx")
                     if onnx else {"file": None, "reason": "not requested (onnx=False)"})
        if example is not None:
            _write_example(example, folder / EXAMPLE_FILE)
        packages = flavors.requirements(flavor, onnx_info.get("file") is not None)
        (folder / "requirements.txt").write_text("".join(f"{k}=={v}\n" for k, v in packages["packages"].items()),
                                                 encoding="utf-8")
        files = {}
        for file in sorted(folder.iterdir()):  # the store hashes what it stores: its digests go in the manifest
            stored = tracking.store.log_artifact(run_id, file, f"{artifact_path}/{file.name}")
            files[file.name] = {"sha256": stored.digest, "size": stored.size}
        manifest = Manifest(
            flavor=flavor, model_class=f"{type(model).__module__}.{type(model).__qualname__}", task=task,
            native=native, onnx=onnx_info, files=files,
            requirements=packages,
            created_at=now_ms(), classes=classes, signature=signature,
            input_example=EXAMPLE_FILE if example is not None else None, missing_values=missing_values,
            run={"id": run_id, "datasets": [{"dataset": u.dataset, "role": u.role} for u in uses],
                 "metrics": {k: m.value for k, m in sorted(run.metrics.items())}},
        )
        manifest_file = folder / MANIFEST_FILE
        manifest_file.write_text(manifest.to_yaml(), encoding="utf-8")
        tracking.store.log_artifact(run_id, manifest_file, f"{artifact_path}/{MANIFEST_FILE}")
    uri = f"runs:/{run_id}/{artifact_path}"
    registered = None
    if registered_model_name is not None:
        registered = register_version(tracking.store, uri, registered_model_name, current_user())
    return ModelInfo(uri, run_id, artifact_path, manifest, registered)


def register_version(store: Store, uri: str, name: str, user: str, description: str = "",
                     tags: dict[str, str] | None = None) -> ModelVersion:
    """Register the model at ``uri`` (``runs:/<run_id>/<path>``) as the next version of ``name``.
    The folder is checked first (manifest, every file and its digest), so a broken model is
    refused; the store then pins the digests of the folder's files, which must be the ones
    checked: a folder changed in between is refused, and the version withdrawn."""
    if not isinstance(uri, str) or not uri.startswith("runs:/"):
        raise InvalidInput(f"Register a model logged in a run: runs:/<run_id>/<path> (as returned by "
                           f"mc.log_model); got {uri!r}.")
    source = _Source(uri, store)
    version = store.create_model_version(name, source.run_id, source.path, user, description, tags)
    checked = {rel: meta["sha256"] for rel, meta in source.manifest.files.items()}
    checked[MANIFEST_FILE] = source.digests[MANIFEST_FILE]
    changed = sorted(rel for rel, digest in checked.items() if version.files.get(rel) != digest)
    if changed:
        store.delete_model_version(name, version.version, user,
                                   f"its files changed while it was registered: {', '.join(changed)}")
        raise Conflict(f"The model at {uri} changed while it was registered ({', '.join(changed)}), so version "
                       f"{version.version} of {name!r} was withdrawn. Register it again.")
    return version


class _Source:
    """Where a model's files come from: the store (checked against the digests it recorded
    when the model was logged) or a local folder."""

    def __init__(self, uri: str, store=None):
        self.uri = uri
        if not isinstance(uri, str):
            raise InvalidInput(f"A model URI is a string such as runs:/<run_id>/model or models:/<name>@production; "
                               f"got {uri!r}.")
        self.local = local_folder(uri)
        self.version = None
        if self.local is not None:
            self.manifest = self._local_manifest()
            return
        self.store = store or client().store
        self.run_id, self.path, self.version = resolve(self.store, uri)
        prefix = f"{self.path}/"
        # What the run's folder holds now: relative path -> digest.
        self.digests = {info.path[len(prefix):]: info.digest
                        for info in self.store.list_artifact_files(self.run_id, self.path)
                        if info.path.startswith(prefix)}
        if self.version is not None:
            self._check_pinned()
        if MANIFEST_FILE not in self.digests:
            raise NotFound(f"There is no model at {self._where()}: no {MANIFEST_FILE} in runs:/{self.run_id}/"
                           f"{self.path}. Log one with mc.log_model(model, {self.path!r}).")
        where = f"{MANIFEST_FILE} of {self._where()}"
        text = b"".join(self.store.open_artifact(self.run_id, prefix + MANIFEST_FILE))
        if hashlib.sha256(text).hexdigest() != self.digests[MANIFEST_FILE]:
            raise InvalidInput(f"The {where} arrived with another digest than the store recorded; it was "
                               "changed outside modelcycle.")
        self.manifest = Manifest.from_yaml(text, where)
        for rel, meta in self.manifest.files.items():
            digest = self.digests.get(rel)
            if digest is None:
                raise NotFound(f"The model at {self._where()} is missing its file {rel!r}; log the model again.")
            if digest != meta["sha256"]:
                raise InvalidInput(f"The file {rel!r} of the model at {self._where()} is not the one its manifest "
                                   "lists (its digest differs); log the model again.")

    def _check_pinned(self) -> None:
        """A registered version is the files pinned when it was registered, byte for byte: the
        folder must still hold exactly those (every file read later is checked against them
        through the manifest, itself one of them)."""
        pinned = self.version.files
        if MANIFEST_FILE not in pinned:
            raise NotFound(f"There is no model in {self._where()}: no {MANIFEST_FILE} was pinned when it was registered "
                           f"(its folder runs:/{self.run_id}/{self.path} held none, or the tracking server is older "
                           "than this client). Register a model logged with mc.log_model.")
        for rel, digest in sorted(pinned.items()):
            if self.digests.get(rel) != digest:
                raise Conflict(f"The file {rel!r} of {self._where()} is not the one registered: the run's folder "
                               "no longer holds the bytes pinned at registration. Load another version, or log "
                               "the model again and register it as a new version.")

    def _where(self) -> str:
        return self.uri if self.version is None else f"{self.uri} (version {self.version.version})"

    def _local_manifest(self) -> Manifest:
        path = self.local / MANIFEST_FILE
        if not path.is_file():
            raise NotFound(f"{str(self.local)!r} is not a model folder: it has no {MANIFEST_FILE}.")
        manifest = Manifest.from_yaml(path.read_bytes(), str(path))
        for rel, meta in manifest.files.items():
            file = self.local / rel
            if not file.is_file():
                raise NotFound(f"The model folder {str(self.local)!r} is missing its file {rel!r}.")
            if file_digest(file)[0] != meta["sha256"]:
                raise InvalidInput(f"The file {rel!r} in {str(self.local)!r} does not match its manifest digest.")
        return manifest

    @property
    def trusted(self) -> bool:
        return self.local is None

    def _cache(self, rel: str) -> Path:
        digest = self.manifest.files[rel]["sha256"]
        # Named by content, with the file's suffix: some libraries read the format from it.
        return config.home() / "cache" / "blobs" / digest[:2] / (digest + Path(rel).suffix)

    def fetch(self, rel: str) -> Path:
        """A local copy of one file, verified against the manifest's digest: also when it is
        already in the cache, where anyone who can write to the folder could replace it."""
        digest = self.manifest.files[rel]["sha256"]
        if self.local is not None:
            return self.local / rel
        cache = self._cache(rel)
        if cache.is_file():
            if file_digest(cache)[0] == digest:
                return cache
            cache.unlink(missing_ok=True)  # damaged or replaced: fetched again from the store
        cache.parent.mkdir(parents=True, exist_ok=True)
        part = cache.with_name(f".{digest}.{uuid.uuid4().hex}.part")
        sha = hashlib.sha256()
        try:
            with open(part, "wb") as out:
                for chunk in self.store.open_artifact(self.run_id, f"{self.path}/{rel}"):
                    sha.update(chunk)
                    out.write(chunk)
            if sha.hexdigest() != digest:
                raise InvalidInput(f"The file {rel!r} of {self._where()} arrived with another digest than "
                                   "the store recorded; it was changed outside modelcycle.")
            os.replace(part, cache)
        finally:
            part.unlink(missing_ok=True)
        return cache

    def read(self, rel: str) -> bytes:
        """The bytes of one file, checked after they are read: what is checked is what is used
        (a pickle is unpickled from these bytes, never from a file that could change meanwhile)."""
        digest = self.manifest.files[rel]["sha256"]
        for _attempt in range(2):
            data = self.fetch(rel).read_bytes()
            if hashlib.sha256(data).hexdigest() == digest:
                return data
            if self.local is None:
                self._cache(rel).unlink(missing_ok=True)  # replaced after it was checked
        raise InvalidInput(f"The file {rel!r} of {self._where()} keeps changing while it is read; "
                           "check who writes to the folder it is read from.")


class LoadedModel:
    """A model ready to predict. Inputs are checked against the signature and converted to the
    types the model was logged with."""

    def __init__(self, uri: str, manifest: Manifest, predictor, backend: str,
                 version: ModelVersion | None = None):
        self.uri, self.manifest, self._predictor, self.backend = uri, manifest, predictor, backend
        self.version = version

    @property
    def signature(self) -> Signature | None:
        return self.manifest.signature

    @property
    def classes_(self):
        return np.asarray(self.manifest.classes) if self.manifest.classes is not None else None

    def __repr__(self) -> str:
        return f"<LoadedModel {self.uri} {self.manifest.flavor} {self.manifest.task} backend={self.backend}>"

    def _input(self, data):
        return enforce(self.signature, data) if self.signature is not None else as_input(data)

    def _call(self, method: str, data) -> np.ndarray:
        data = self._input(data)
        try:
            return np.asarray(getattr(self._predictor, method)(data))
        except InvalidInput:
            raise
        except Exception as exc:
            # Explained only when it fails: checking every input first would cost every prediction.
            refused = (self.manifest.missing_values or {}).get("refused")
            if refused is not None:
                try:
                    missing.refuse(data, refused, _class_name(self.manifest))
                except InvalidInput as explained:
                    raise explained from exc
                raise
            holes = missing.describe(data)  # logged without an example: where it refuses them is unknown
            if not holes:
                raise
            raise InvalidInput(f"The model failed on input with missing values {holes} ({type(exc).__name__}: "
                               f"{_first_line(exc)}). Impute them (e.g. a SimpleImputer step in the pipeline) "
                               "or drop those rows before predicting.") from exc

    def predict(self, data) -> np.ndarray:
        return self._call("predict", data)

    def predict_proba(self, data) -> np.ndarray:
        if self.manifest.task != "classification":
            raise InvalidInput(f"The model at {self.uri} is a {self.manifest.task} model; predict_proba is "
                               "for classifiers. Use predict.")
        return self._call("predict_proba", data)


def load_model(uri: str, backend: str = "native", store=None) -> LoadedModel:
    """Load ``runs:/<run>/<path>``, ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
    ``models:/<name>@production`` (or a local model folder) with ``backend`` "native" (the
    library the model was trained with) or "onnx" (onnxruntime; nothing is unpickled).

    Pickled models load only from the store they were logged to, after their bytes are checked
    against the digest the store recorded: unpickling runs code."""
    if backend not in ("native", "onnx"):
        raise InvalidInput(f"backend must be 'native' or 'onnx'; got {backend!r}.")
    source = _Source(uri, store)
    manifest = source.manifest
    if backend == "onnx":
        if not manifest.has_onnx:
            raise InvalidInput(f"The model at {uri} has no ONNX form: {manifest.onnx.get('reason')}. "
                               "Load it with backend='native'.")
        onnx = manifest.onnx
        refused = (manifest.missing_values or {}).get("refused")
        # The ONNX form computes on whatever it is given: inputs the native model refuses are refused here.
        predictor = OnnxPredictor(source.fetch(onnx["file"]), onnx["inputs"], manifest.task,
                                  manifest.signature.columns if manifest.signature else None,
                                  onnx.get("string_columns"), refused,
                                  lambda data: missing.refuse(data, refused, _class_name(manifest)))
        return LoadedModel(uri, manifest, predictor, "onnx", source.version)
    if manifest.native["format"] == "pickle" and not source.trusted:
        raise InvalidInput(
            f"The model in {uri!r} is pickled, and pickles load only from the store they were logged to "
            "(runs:/ or models:/ URIs), where their digest is checked: unpickling runs code. "
            + ("Load it with backend='onnx', or through the store." if manifest.has_onnx
               else "Load it through the store."))
    problems = flavors.mismatched_requirements(manifest.requirements.get("packages", {}))
    relevant = [p for p in problems if not p.startswith(("onnxruntime", "pandas"))]
    if relevant:
        warnings.warn(f"Loading {uri}: {'; '.join(relevant)}. Predictions may differ; install the "
                      "logged versions (requirements.txt in the model folder).", stacklevel=2)
    native_file = manifest.native["file"]
    native = source.read(native_file) if manifest.native["format"] == "pickle" else source.fetch(native_file)
    predictor = flavors.load_native(manifest.native, native, manifest.model_class, manifest.task,
                                    manifest.classes)
    return LoadedModel(uri, manifest, predictor, "native", source.version)


def read_manifest(uri: str, store=None) -> Manifest:
    """The checked manifest of a model, without loading the model."""
    return _Source(uri, store).manifest


def load_input_example(uri: str) -> pd.DataFrame | np.ndarray | None:
    source = _Source(uri)
    rel = source.manifest.input_example
    return read_example(source.fetch(rel)) if rel else None

