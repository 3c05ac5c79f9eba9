"""Checks shared by every store implementation, so a bad argument reads the same everywhere."""

from __future__ import annotations

import math
import posixpath
import re

from modelcycle.exceptions import InvalidInput

MAX_KEY_LENGTH = 250
MAX_NAME_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 8000
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,249}$")


def check_key(kind: str, key: object) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput(f"A {kind} key must be a non-empty string; got {key!r}.")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"The {kind} key {key[:40]!r}... is {len(key)} characters long; "
            f"the limit is {MAX_KEY_LENGTH}."
        )
    return key


def check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        article = "An" if kind[0] in "aeiou" else "A"
        raise InvalidInput(f"{article} {kind} name must be a non-empty string; got {name!r}.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"The {kind} name is {len(name)} characters; the limit is {MAX_NAME_LENGTH}.")
    return name


def check_run_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise InvalidInput(
            f"A run id is 32 lowercase hex characters (as printed by `modelcycle runs ls`); got {run_id!r}."
        )
    return run_id


def check_tag_value(key: str, value: object) -> str:
    value = str(value)
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise InvalidInput(
            f"The value of tag {key!r} is {len(value)} characters; the limit is {MAX_TAG_VALUE_LENGTH}. "
            "Log long text as an artifact instead (log_text)."
        )
    return value


def check_metric_value(key: str, value: object) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(f"The value of metric {key!r} must be a number; got {value!r}.") from None
    return number


def check_step(key: str, step: object) -> int:
    if isinstance(step, bool) or not isinstance(step, int):
        try:
            if isinstance(step, float) and math.isfinite(step) and step == int(step):
                return int(step)
            if isinstance(step, str) and step.lstrip("-").isdigit():
                return int(step)
        except (TypeError, ValueError):
            pass
        raise InvalidInput(f"The step of metric {key!r} must be an integer; got {step!r}.")
    if not -(2**63) <= step < 2**63:
        raise InvalidInput(f"The step of metric {key!r} must fit in 64 bits; got {step}.")
    return step


MAX_ARTIFACT_PATH_LENGTH = 1000


def check_artifact_path(path: object, allow_root: bool = False) -> str:
    """A relative POSIX path inside a run, without '..', normalised."""
    if not isinstance(path, str):
        raise InvalidInput(f"An artifact path must be a string; got {path!r}.")
    if len(path) > MAX_ARTIFACT_PATH_LENGTH:
        raise InvalidInput(f"The artifact path {path[:40]!r}... is {len(path)} characters long; the limit is "
                           f"{MAX_ARTIFACT_PATH_LENGTH}.")
    cleaned = path.replace("\\", "/").strip("/")
    if cleaned in ("", "."):
        if allow_root:
            return ""
        raise InvalidInput("An artifact path must name a file, e.g. 'model/model.pkl'; got an empty path.")
    parts = cleaned.split("/")
    if any(p in ("..",) for p in parts) or "\x00" in cleaned:
        raise InvalidInput(f"An artifact path must stay inside the run (no '..'); got {path!r}.")
    return posixpath.normpath(cleaned)


RESERVED_ALIASES = ("latest", "none", "staging", "production", "archived")
_MODEL_NAME_FORBIDDEN = ("@", "/", ":")


def check_model_name(name: object) -> str:
    check_name("model", name)
    if any(c in name for c in _MODEL_NAME_FORBIDDEN) or name != name.strip():  # type: ignore[union-attr]
        raise InvalidInput(f"A model name cannot contain '@', '/' or ':' (they separate versions and "
                           f"aliases in model URIs) nor start or end with spaces; got {name!r}.")
    return name  # type: ignore[return-value]


def check_alias(alias: object) -> str:
    if not isinstance(alias, str) or not _ALIAS.match(alias):
        raise InvalidInput(f"An alias starts with a letter or '_' and has up to 250 letters, digits, "
                           f"'_', '-' or '.' (e.g. champion, challenger); got {alias!r}.")
    if alias.lower() in RESERVED_ALIASES:
        raise InvalidInput(f"{alias!r} names a stage or the latest version in model URIs; choose "
                           "another alias (e.g. champion).")
    return alias


def check_model_version(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput(f"A model version is a positive integer; got {version!r}.")
    return version


def check_audit(user: object, reason: object) -> tuple[str, str]:
    """Who made a registry change and why, as the audit log keeps them."""
    if not isinstance(user, str) or not user.strip():
        raise InvalidInput(f"The user of a registry change must be a non-empty string; got {user!r}.")
    if len(user) > MAX_NAME_LENGTH:
        raise InvalidInput(f"The user is {len(user)} characters; the limit is {MAX_NAME_LENGTH}.")
    if not isinstance(reason, str):
        raise InvalidInput(f"The reason of a registry change must be a string; got {reason!r}.")
    if len(reason) > MAX_TAG_VALUE_LENGTH:
        raise InvalidInput(f"The reason is {len(reason)} characters; the limit is {MAX_TAG_VALUE_LENGTH}.")
    return user, reason
