"""Which arm a request goes to: pure Python, no store access, the same answer for the same key
in every process and host (blake2b of the deployment's salt and the key, never ``hash()``,
which differs per process)."""

from __future__ import annotations

import bisect
import hashlib
import random

BUCKETS = 10_000  # shares are resolved to 0.01 percent
KEY_HEADER = "x-modelcycle-key"


def bucket(salt: str, key: str) -> int:
    """The key's place in [0, BUCKETS), fixed by the salt and the key alone."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8, key=salt.encode()[:64]).digest()
    return int.from_bytes(digest, "big") % BUCKETS


class Router:
    """Arms in a fixed order with their shares (percent); ``pick(key)`` gives the arm of a key,
    or of a random draw without one. Arms with a share of 0 are never picked."""

    def __init__(self, shares: dict[str, float], salt: str):
        self.salt = salt
        self.arms: list[str] = []
        self.bounds: list[int] = []
        total = 0.0
        for arm in sorted(shares):  # a fixed order: the same key lands on the same arm everywhere
            if shares[arm] <= 0:
                continue
            total += shares[arm]
            self.arms.append(arm)
            self.bounds.append(round(total * BUCKETS / 100))
        if self.bounds:
            self.bounds[-1] = BUCKETS
        self._only = self.arms[0] if len(self.arms) == 1 else None
        self._random = random.Random()

    def pick(self, key: str | None = None) -> str | None:
        if self._only is not None or not self.arms:
            return self._only
        place = bucket(self.salt, key) if key is not None else self._random.randrange(BUCKETS)
        return self.arms[bisect.bisect_right(self.bounds, place)]
