"""Page tokens of a search: a place in its order (the ordering values and the run id of the last
run of a page), not an offset, so that runs created between two pages neither repeat nor push
runs out. A token also names the search it belongs to."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

import orjson

from modelcycle.exceptions import InvalidInput
from modelcycle.store.validation import INT64_MAX, INT64_MIN, check_text


def search_fingerprint(*arguments: object) -> str:
    """Of the search's arguments (text, numbers, lists): repr, as it takes any text, even text
    the search then refuses."""
    return hashlib.sha256(repr(arguments).encode()).hexdigest()[:16]


def encode_page_token(place: Sequence[object], search: str) -> str:
    # Floats as hex: exact, and JSON has no infinities.
    values = [{"f": v.hex()} if isinstance(v, float) else v for v in place]
    return base64.urlsafe_b64encode(orjson.dumps({"after": values, "search": search})).decode()


def decode_page_token(token: str | None, search: str, kinds: Sequence[type]) -> list[object] | None:
    """The place a token marks, each value checked against the type of its column."""
    if not token:
        return None
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        values, owner = payload["after"], payload["search"]
        if not isinstance(values, list) or not isinstance(owner, str):
            raise ValueError
    except (ValueError, TypeError, KeyError, UnicodeError):
        raise _invalid(token) from None
    if owner != search:
        raise InvalidInput("This page_token belongs to another search (another filter, order, experiments "
                           "or view); pass it with the arguments of the search that gave it, or start "
                           "again without it.")
    if len(values) != len(kinds):
        raise _invalid(token)
    return [_value(value, kind, token) for value, kind in zip(values, kinds)]


def _value(value: object, kind: type, token: str) -> object:
    if value is None:
        return None
    if kind is float and isinstance(value, dict) and isinstance(value.get("f"), str):
        try:
            return float.fromhex(value["f"])
        except ValueError:
            raise _invalid(token) from None
    if kind is int and type(value) is int and INT64_MIN <= value <= INT64_MAX:
        return value
    if kind is str and isinstance(value, str):
        try:
            return check_text("A page_token", value)
        except InvalidInput:
            raise _invalid(token) from None
    raise _invalid(token)


def _invalid(token: str) -> InvalidInput:
    shown = token if len(token) <= 60 else token[:60] + "..."
    return InvalidInput(f"Invalid page_token {shown!r}; pass the next_page_token of the previous page "
                        "unchanged.")
