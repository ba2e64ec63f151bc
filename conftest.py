"""Suite-wide setup for `tests/` and `examples/`: the local timezone is pinned to UTC.

Pinned at import, before any test module loads, so ``datetime.now()``, ``time.localtime()`` and
the wall-clock freezes read the same on every machine and CI runner (as time-machine's suite
does); a test that depends on the machine's timezone fails everywhere, not only abroad.
"""

from __future__ import annotations

import os
import time

os.environ["TZ"] = "UTC"
time.tzset()
