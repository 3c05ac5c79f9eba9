"""The UI's vendored scripts are the pinned files: each one is listed with its package, version,
license and SHA-256, and the bytes shipped are those bytes."""

from __future__ import annotations

import hashlib
import json
from importlib import resources

VENDOR = resources.files("modelcycle.server.ui") / "static" / "vendor"


def _listed() -> dict[str, dict]:
    return {entry["file"]: entry for entry in json.loads((VENDOR / "VENDORED.json").read_text())}


def test_every_vendored_file_is_listed_with_its_pin():
    listed = _listed()
    shipped = {f.name for f in VENDOR.iterdir() if f.is_file() and f.name != "VENDORED.json"}
    assert shipped == set(listed)
    for entry in listed.values():
        assert entry["version"] and entry["license"] in {"MIT", "0BSD"}
        assert entry["source"].startswith("https://registry.npmjs.org/")


def test_vendored_bytes_match_their_recorded_digest():
    for name, entry in _listed().items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == entry["sha256"], name


def test_each_vendored_package_ships_its_license():
    listed = _listed()
    packages = {e["package"] for e in listed.values()}
    licensed = {e["package"] for name, e in listed.items() if name.endswith("LICENSE")}
    assert packages == licensed
