"""Checks shared by every store implementation, so a bad argument reads the same everywhere."""

from __future__ import annotations

import math
import numbers
import operator
import posixpath
import re
from collections.abc import Iterable
from pathlib import Path

from modelcycle.exceptions import InvalidInput
from modelcycle.store.entities import LATENCY_BOUNDS_MS, ArmStats, Metric

MAX_KEY_LENGTH = 250
MAX_NAME_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 8000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,249}$")
_INTEGER = re.compile(r"-?[0-9]+")


def check_text(what: str, text: str) -> str:
    """Refuse what no database stores as text: the NUL character (PostgreSQL refuses it) and
    lone UTF-16 surrogates (JSON can carry them, "\\ud800", but they are not text)."""
    nul = text.find("\x00")
    if nul >= 0:
        raise InvalidInput(f"{what} contains a NUL character (\\x00) at position {nul}, which text "
                           "cannot hold. Remove it, or log binary data as an artifact.")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(
                f"{what} contains {text[exc.start]!r} at position {exc.start}, a lone UTF-16 "
                "surrogate, which is not valid Unicode text. Send text as valid UTF-8."
            ) from None
    return text


def check_key(kind: str, key: object) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput(f"A {kind} key must be a non-empty string; got {key!r}.")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"The {kind} key {key[:40]!r}... is {len(key)} characters long; "
            f"the limit is {MAX_KEY_LENGTH}."
        )
    return check_text(f"The {kind} key", key)


def check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        article = "An" if kind[0] in "aeiou" else "A"
        raise InvalidInput(f"{article} {kind} name must be a non-empty string; got {name!r}.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"The {kind} name is {len(name)} characters; the limit is {MAX_NAME_LENGTH}.")
    return check_text(f"The {kind} name", name)


def check_run_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
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
    return check_text(f"The value of tag {key!r}", value)


def check_param_value(key: str, value: object) -> str:
    return check_text(f"The value of param {key!r}", str(value))


def check_tags(tags: dict | None) -> dict[str, str]:
    """Tags with checked keys, their values as the text stored (numbers and numpy scalars by str())."""
    return {check_key("tag", k): check_tag_value(k, v) for k, v in (tags or {}).items()}


def check_params(params: dict | None) -> dict[str, str]:
    return {check_key("param", k): check_param_value(k, v) for k, v in (params or {}).items()}


def check_metric_value(key: str, value: object) -> float:
    """The value as a plain float: numpy scalars, ints and numeric strings are converted."""
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"The value of metric {key!r} must be a number; got {value!r}.") from None
    return number


def check_int64(what: str, value: object) -> int:
    """``value`` as a plain int within the 64 bits the databases store. Python and numpy
    integers, integral floats and strings of digits are accepted; booleans are not."""
    number = None
    if not isinstance(value, bool):
        try:
            number = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
                number = int(value)
            elif isinstance(value, str) and _INTEGER.fullmatch(value):
                number = int(value)
    if number is None:
        raise InvalidInput(f"{what} must be an integer; got {value!r}.")
    if not INT64_MIN <= number <= INT64_MAX:
        raise InvalidInput(f"{what} must fit in 64 bits; got {number}.")
    return number


def check_experiment_id(experiment_id: object) -> int:
    number = check_int64("An experiment id", experiment_id)
    if not INT32_MIN <= number <= INT32_MAX:  # the column holds 32 bits
        raise InvalidInput(f"An experiment id must fit in 32 bits; got {number}.")
    return number


def check_step(key: str, step: object) -> int:
    return check_int64(f"The step of metric {key!r}", step)


def check_metrics(metrics: Iterable[Metric]) -> list[Metric]:
    """The metrics with plain Python numbers (numpy scalars converted), each part checked."""
    metrics = list(metrics)
    if not metrics:
        return metrics
    keys, values, steps, stamps = (list(map(operator.itemgetter(i), metrics)) for i in range(4))
    for key in set(keys):
        check_key("metric", key)
    # The common case (float values, int steps and timestamps) passes with column-wise checks that
    # run in C: runs log hundreds of thousands of points.
    if (set(map(type, values)) == {float} and set(map(type, steps)) == {int} == set(map(type, stamps))
            and INT64_MIN <= min(steps) and max(steps) <= INT64_MAX
            and INT64_MIN <= min(stamps) and max(stamps) <= INT64_MAX):
        return metrics
    return [Metric(key, check_metric_value(key, value), check_step(key, step),
                   check_int64(f"The timestamp of metric {key!r}", 0 if timestamp is None else timestamp))
            for key, value, step, timestamp in metrics]


MAX_ARTIFACT_PATH_LENGTH = 1000


def check_artifact_path(path: object, allow_root: bool = False) -> str:
    """A relative POSIX path inside a run, without '..', normalised."""
    if not isinstance(path, str):
        raise InvalidInput(f"An artifact path must be a string; got {path!r}.")
    if len(path) > MAX_ARTIFACT_PATH_LENGTH:
        raise InvalidInput(f"The artifact path {path[:40]!r}... is {len(path)} characters long; the limit is "
                           f"{MAX_ARTIFACT_PATH_LENGTH}.")
    check_text("The artifact path", path)
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
    return _check_path_segment("model", name)  # type: ignore[arg-type]


def check_dataset_name(name: object) -> str:
    check_name("dataset", name)
    if "@" in name or "/" in name:  # type: ignore[operator]
        raise InvalidInput(f"A dataset name cannot contain '@' (it separates the version) or '/'; "
                           f"got {name!r}.")
    return _check_path_segment("dataset", name)  # type: ignore[arg-type]


def _check_path_segment(kind: str, name: str) -> str:
    """A name the server's URLs carry as one path segment."""
    if name in (".", ".."):
        raise InvalidInput(f"A {kind} name cannot be '.' or '..': in a URL they name the folder or its "
                           f"parent, so the {kind} could not be reached over REST; got {name!r}.")
    return name


def check_alias(alias: object) -> str:
    if isinstance(alias, str):
        check_text("The alias", alias)
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        raise InvalidInput(f"An alias starts with a letter or '_' and has up to 250 letters, digits, "
                           f"'_', '-' or '.' (e.g. champion, challenger); got {alias!r}.")
    if alias.lower() in RESERVED_ALIASES:
        raise InvalidInput(f"{alias!r} names a stage or the latest version in model URIs; choose "
                           "another alias (e.g. champion).")
    return alias


def check_version(kind: str, version: object) -> int:
    """A dataset or model version: a positive integer within the 32 bits its column holds, as a
    plain int (numpy integers, as read from a frame of versions, are integers too; bools are not)."""
    number = None
    if not isinstance(version, bool):  # numpy's bool has no __index__
        try:
            number = operator.index(version)  # type: ignore[arg-type]
        except TypeError:
            pass
    if number is None or not 1 <= number <= INT32_MAX:
        raise InvalidInput(f"A {kind} version is a positive integer; got {version!r}.")
    return number


def check_model_version(version: object) -> int:
    return check_version("model", version)


_VERSION_TEXT = re.compile(r"[0-9]+")


def is_version_text(text: str) -> bool:
    """Whether ``text`` is written as a version number (ASCII digits), not as an alias or a stage."""
    return _VERSION_TEXT.fullmatch(text) is not None


def parse_version(kind: str, value: object) -> int:
    """A dataset or model version given as an int or as text ("3"): the one reader of versions.
    Only ASCII digits are digits here; "²" or "٣" (digits to ``str.isdigit``) are InvalidInput."""
    if isinstance(value, str):
        if not is_version_text(value) or len(value) > 10:
            raise InvalidInput(f"A {kind} version is a positive integer; got {value!r}.")
        value = int(value)
    return check_version(kind, value)


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
    return check_text("The user", user), check_text("The reason", reason)


def check_file_to_log(local_file: str | Path) -> Path:
    local_file = Path(local_file)
    if local_file.is_dir():
        raise InvalidInput(f"{str(local_file)!r} is a folder; log it with log_artifacts.")
    return local_file


_DATASET_ROLE = re.compile(r"^[A-Za-z0-9_.\-]{1,50}$")


def check_dataset_role(role: object) -> str:
    if not isinstance(role, str) or not _DATASET_ROLE.fullmatch(role):
        raise InvalidInput(f"A dataset role is 1-50 letters, digits, '_', '-' or '.' (train, eval, "
                           f"reference, ...); got {role!r}.")
    return role


MAX_LEASE_S = 24 * 3600.0


def check_lease_request(name: object, owner: object, ttl_s: object) -> tuple[str, str, int]:
    """(name, owner, ttl in ms) of a lease request, or InvalidInput saying what is wrong."""
    check_name("lease", name)
    if not isinstance(owner, str) or not owner.strip() or len(owner) > MAX_NAME_LENGTH:
        raise InvalidInput(f"A lease owner is a non-empty string of at most {MAX_NAME_LENGTH} characters "
                           f"(e.g. host:pid); got {owner!r}.")
    check_text("The lease owner", owner)
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float)) or not 0 < ttl_s <= MAX_LEASE_S:
        raise InvalidInput(f"A lease lasts more than 0 and at most {MAX_LEASE_S:g} seconds; got {ttl_s!r}.")
    return name, owner, max(1, int(ttl_s * 1000))  # type: ignore[return-value]


DEPLOYMENT_STRATEGIES = ("single", "canary", "ab", "shadow", "bluegreen")
DEPLOYMENT_STATES = ("active", "paused", "promoting", "promoted", "rolled_back")
DEPLOYMENT_FIELDS = ("strategy", "state", "stable_version", "candidate_version", "arms", "shares", "steps",
                     "step_index", "step_started_at", "failures", "config")
MAX_DEPLOYMENT_JSON = 64 * 1024
_ARM = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _is_count(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 0 <= value <= INT64_MAX


def check_deployment_name(name: object) -> str:
    return check_name("deployment", name)


def check_deployment_changes(changes: dict) -> dict:
    """The fields of a deployment a change sets, each checked; InvalidInput saying what is wrong."""
    unknown = sorted(set(changes) - set(DEPLOYMENT_FIELDS))
    if unknown:
        raise InvalidInput(f"A deployment has no field {unknown[0]!r}; its fields are {', '.join(DEPLOYMENT_FIELDS)}.")
    out = dict(changes)
    if "strategy" in out and out["strategy"] not in DEPLOYMENT_STRATEGIES:
        raise InvalidInput(f"A deployment strategy is one of {', '.join(DEPLOYMENT_STRATEGIES)}; "
                           f"got {out['strategy']!r}.")
    if "state" in out and out["state"] not in DEPLOYMENT_STATES:
        raise InvalidInput(f"A deployment state is one of {', '.join(DEPLOYMENT_STATES)}; got {out['state']!r}.")
    for key in ("stable_version", "candidate_version"):
        if key in out and out[key] is not None:
            out[key] = check_model_version(out[key])
    if "arms" in out:
        arms = out["arms"]
        if not isinstance(arms, dict) or not arms or len(arms) > 16:
            raise InvalidInput(f"The arms of a deployment map 1 to 16 arm names to versions; got {arms!r}.")
        for arm, version in arms.items():
            if not isinstance(arm, str) or not _ARM.match(arm):
                raise InvalidInput(f"An arm name is 1-64 letters, digits, '_', '-' or '.'; got {arm!r}.")
            check_model_version(version)
    if "shares" in out:
        shares = out["shares"]
        if not isinstance(shares, dict) or not all(isinstance(a, str) and _is_number(s) and 0 <= s <= 100
                                                   for a, s in shares.items()):
            raise InvalidInput(f"The shares of a deployment map arm names to percentages from 0 to 100; got {shares!r}.")
        if shares and abs(sum(shares.values()) - 100) > 1e-6:
            raise InvalidInput(f"The shares of a deployment add up to 100 percent; got {shares!r} "
                               f"(total {sum(shares.values()):g}).")
        out["shares"] = {a: float(s) for a, s in shares.items()}
    if "steps" in out:
        steps = out["steps"]
        if not isinstance(steps, (list, tuple)) or len(steps) > 100 or not all(
                _is_number(s) and 0 < s <= 100 for s in steps) or list(steps) != sorted(set(steps)):
            raise InvalidInput(f"The steps of a canary are increasing percentages above 0 and at most 100, "
                               f"e.g. [5, 25, 50, 100]; got {steps!r}.")
        out["steps"] = [float(s) for s in steps]
    for key in ("step_index", "failures", "step_started_at"):
        if key in out and not _is_count(out[key]):
            raise InvalidInput(f"The deployment's {key} is a whole number of at least 0; got {out[key]!r}.")
    if "config" in out:
        if not isinstance(out["config"], dict):
            raise InvalidInput(f"The deployment's config is a JSON object; got {out['config']!r}.")
        check_json("The deployment's config", out["config"])
    return out


def check_json(what: str, value: object) -> bytes:
    """``value`` as JSON of at most MAX_DEPLOYMENT_JSON bytes, or InvalidInput."""
    import orjson

    try:
        data = orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise InvalidInput(f"{what} must be plain JSON (numbers, text, lists, objects): {exc}.") from None
    if len(data) > MAX_DEPLOYMENT_JSON:
        raise InvalidInput(f"{what} is {len(data)} bytes of JSON; the limit is {MAX_DEPLOYMENT_JSON}.")
    check_text(what, data.decode())
    return data


def check_deployment_event(user: object, kind: object, reason: object, numbers: object, epoch: object) -> None:
    check_audit(user, reason)
    if not isinstance(kind, str) or not re.fullmatch(r"[a-z_]{1,32}", kind):
        raise InvalidInput(f"A deployment event kind is 1-32 lowercase letters or '_' (e.g. step, rollback); "
                           f"got {kind!r}.")
    if numbers is not None:
        if not isinstance(numbers, dict):
            raise InvalidInput(f"The numbers of a deployment event are a JSON object; got {numbers!r}.")
        check_json("The numbers of a deployment event", numbers)
    if epoch is not None and not (_is_count(epoch) and epoch >= 1):
        raise InvalidInput(f"A lease epoch is a whole number of at least 1; got {epoch!r}.")


def check_arm_stats(stats: object) -> None:
    if not isinstance(stats, (list, tuple)) or not all(isinstance(a, ArmStats) for a in stats):
        raise InvalidInput(f"Deployment stats are a list of ArmStats; got {stats!r}.")
    for a in stats:
        counts = (a.requests, a.errors, *a.latency)
        if not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 2**62 for c in counts) \
                or a.errors > a.requests or len(a.latency) > len(LATENCY_BOUNDS_MS) + 1 \
                or not isinstance(a.arm, str) or not 1 <= len(a.arm) <= 64:
            raise InvalidInput(f"The stats of arm {a.arm!r} must be whole counts (errors at most requests, "
                               f"at most {len(LATENCY_BOUNDS_MS) + 1} latency buckets); got {a!r}.")


def check_stats_window(start_ms: object, end_ms: object) -> None:
    for value in (start_ms, end_ms):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**62:
            raise InvalidInput(f"A time is whole milliseconds since the epoch; got {value!r}.")
    if end_ms < start_ms:  # type: ignore[operator]
        raise InvalidInput(f"A stats interval ends after it starts; got {start_ms!r} to {end_ms!r}.")


MAX_COLUMN_LIMIT = 10_000


def check_experiment_query(q: object) -> str | None:
    """The text searched for in experiment names."""
    if q is None:
        return None
    if not isinstance(q, str) or len(q) > MAX_NAME_LENGTH:
        raise InvalidInput(f"q, the text to find in experiment names, must be a string of at most "
                           f"{MAX_NAME_LENGTH} characters; got {q!r}.")
    return check_text("q", q)


def check_column_query(q: object, limit: object) -> tuple[str | None, int]:
    """The text searched for in the keys of an experiment's runs, and how many keys of each kind."""
    if q is not None and (not isinstance(q, str) or len(q) > MAX_KEY_LENGTH):
        raise InvalidInput(f"q, the text to find in keys, must be a string of at most {MAX_KEY_LENGTH} "
                           f"characters; got {q!r}.")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_COLUMN_LIMIT:
        raise InvalidInput(f"limit must be an integer in [1, {MAX_COLUMN_LIMIT}]; got {limit!r}.")
    return (None if q is None else check_text("q", q)), limit


MAX_VIEW_QUERY_LENGTH = 65_536
VIEW_ID_LENGTH = 10
_VIEW_ID = re.compile(r"[a-z2-7]{10}")


def check_view_query(query: object) -> str:
    if not isinstance(query, str) or not query:
        raise InvalidInput(f"query, the view to save, must be a non-empty string; got {query!r}.")
    if len(query) > MAX_VIEW_QUERY_LENGTH:
        raise InvalidInput(f"query is {len(query)} characters long; a saved view holds at most "
                           f"{MAX_VIEW_QUERY_LENGTH}. Choose fewer runs or columns.")
    return check_text("query", query)


def view_id(query: str) -> str:
    """The id of a saved view: the first 50 bits of the SHA-256 of its query, in lowercase base32."""
    import base64
    import hashlib

    return base64.b32encode(hashlib.sha256(query.encode()).digest()).decode()[:VIEW_ID_LENGTH].lower()


def check_view_id(value: object) -> str:
    if not isinstance(value, str) or not _VIEW_ID.fullmatch(value):
        raise InvalidInput(f"A view id is {VIEW_ID_LENGTH} characters of a-z and 2-7; got {value!r}.")
    return value
