"""Model URIs and references, resolved to the run and folder that hold the model.

    runs:/<run_id>/<path>          a model logged in a run
    models:/<name>/<version>       a registered version
    models:/<name>@<alias>         the version an alias points at (champion, challenger, ...)
    models:/<name>@production      the version in a stage (production, staging)
    models:/<name>@latest          the newest version
    <name>@<version|alias|stage>   the same, without the scheme (the CLI's form)
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from modelcycle.exceptions import InvalidInput, NotFound
from modelcycle.store.base import Store
from modelcycle.store.entities import ModelVersion, Stage
from modelcycle.store.validation import (
    check_artifact_path, check_model_name, check_run_id, is_version_text, parse_version,
)

_URI_HELP = ("use runs:/<run_id>/<path>, models:/<name>/<version>, models:/<name>@<alias>, "
             "models:/<name>@production or <name>@<version|alias|stage>")


_FORMS = "runs:/<run_id>/<path>, models:/<name>@<version|alias|stage> or the path of a local model folder"
# Two letters at least: "C:" is a drive, not a scheme.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")
_PATH_LIKE = re.compile(r"^(?:[/\\~]|\.{1,2}(?:[/\\]|$)|[A-Za-z]:[/\\])")


def _one_slash_too_many(uri: str, scheme: str) -> None:
    if uri.startswith(f"{scheme}://"):
        raise InvalidInput(f"{uri!r} has one '/' too many: write {scheme}:/{uri[len(scheme) + 3:]}.")


def local_folder(uri: str) -> Path | None:
    """The local folder ``uri`` names (a path, or a file:// URI), or None when it is a model URI
    or reference for the store. What is neither is refused, saying what to pass instead."""
    if not uri.strip():
        raise InvalidInput(f"The model URI is empty. Pass {_FORMS}.")
    scheme = _SCHEME.match(uri)
    if scheme and scheme.group(1) in ("runs", "models"):
        _one_slash_too_many(uri, scheme.group(1))
        return None
    if scheme and scheme.group(1).lower() != "file":
        name = scheme.group(1).lower()
        raise InvalidInput(f"Cannot load a model from {uri!r}: {name}:// is not a model URI. Pass {_FORMS}. A model "
                           f"logged to a store whose artifacts are on {name} loads by its runs:/ or models:/ URI.")
    path = Path(unquote(urlparse(uri).path)) if scheme else Path(uri).expanduser()
    if path.is_dir():
        return path
    if not (scheme or _PATH_LIKE.match(uri) or path.exists()):
        return None  # a registry reference such as fraud@production
    shown = f"{uri!r} ({path})" if uri.startswith("~") else repr(uri)
    if path.is_file():
        folder = f"it ({str(path.parent)!r})" if path.name == "model.yaml" else "model.yaml"
        raise InvalidInput(f"{shown} is a file, not a model folder: pass the folder that holds {folder}.")
    raise NotFound(f"No model folder at {shown}: the path does not exist. Pass the folder mc.log_model wrote "
                   "(Client.download_artifacts copies one from the store), or load from the store by a runs:/ or "
                   "models:/ URI.")


def parse_ref(ref: str) -> tuple[str, str]:
    """``name@selector`` or ``models:/name/3`` -> (name, selector); a bare name means latest."""
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput(f"A model reference is a non-empty string; {_URI_HELP}.")
    _one_slash_too_many(ref, "models")
    body = ref[len("models:/"):] if ref.startswith("models:/") else ref
    if "@" in body:
        name, _, selector = body.rpartition("@")
    elif "/" in body:
        name, _, selector = body.rpartition("/")
        if not is_version_text(selector):
            raise InvalidInput(f"In {ref!r}, the part after '/' must be a version number; {_URI_HELP}.")
    else:
        name, selector = body, "latest"
    if not name or not selector:
        raise InvalidInput(f"{ref!r} is not a model reference; {_URI_HELP}.")
    return check_model_name(name), selector


def resolve_version(store: Store, ref: str) -> ModelVersion:
    name, selector = parse_ref(ref)
    if is_version_text(selector):
        return store.get_model_version(name, parse_version("model", selector))
    lowered = selector.lower()
    if lowered == "latest":
        latest = store.get_registered_model(name).latest_version
        if latest is None:
            raise NotFound(f"The model {name!r} has no versions yet.")
        return store.get_model_version(name, latest)
    if lowered == Stage.PRODUCTION.value.lower():
        version = store.get_registered_model(name).production_version
        if version is None:
            raise NotFound(f"No version of {name!r} is in Production. Promote one with "
                           f"`modelcycle models promote {name} VERSION`.")
        return store.get_model_version(name, version)
    for stage in (Stage.STAGING, Stage.ARCHIVED):
        if lowered == stage.value.lower():
            versions = [v for v in store.list_model_versions(name) if v.stage is stage]
            if not versions:
                raise NotFound(f"No version of {name!r} is in {stage.value}.")
            return versions[-1]
    return store.get_model_version_by_alias(name, selector)


def resolve(store: Store, uri: str) -> tuple[str, str, ModelVersion | None]:
    """(run id, artifact path, registered version or None) of a model URI or reference."""
    if isinstance(uri, str) and uri.startswith("runs:/"):
        _one_slash_too_many(uri, "runs")
        run_id, _, path = uri[len("runs:/"):].partition("/")
        if not path:
            raise InvalidInput(f"{uri!r} names a run but no model folder; use runs:/<run_id>/<path>, e.g. "
                               f"runs:/{run_id}/model.")
        return check_run_id(run_id), check_artifact_path(path), None
    version = resolve_version(store, uri)
    return version.run_id, version.artifact_path, version
