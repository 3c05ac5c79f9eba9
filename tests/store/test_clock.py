"""Times are taken from one clock, in one unit."""

from __future__ import annotations

import re
import time
from pathlib import Path

import modelcycle
from modelcycle.store.clock import now_ms

# A time in milliseconds made from the system clock: time.time() * 1000, time.time_ns() // 10**6, ...
_OWN_CLOCK = re.compile(r"time(?:_ns)?\(\)\s*(?:\*\s*1(?:_?000|e3)|//\s*(?:1_?000_?000|10\s*\*\*\s*6))")


def test_now_ms_is_the_epoch_in_milliseconds():
    before = time.time()
    now = now_ms()
    after = time.time()
    assert isinstance(now, int)
    assert int(before * 1000) - 1 <= now <= int(after * 1000) + 1


def test_no_module_keeps_a_millisecond_clock_of_its_own():
    root = Path(modelcycle.__file__).parent
    clock = root / "store" / "clock.py"
    found = [f"{path.relative_to(root)}:{number}: {line.strip()}"
             for path in sorted(root.rglob("*.py")) if path != clock
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if _OWN_CLOCK.search(line)]
    assert found == [], "use modelcycle.store.clock.now_ms:\n" + "\n".join(found)
