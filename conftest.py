"""Suite-wide setup for `tests/` and `examples/`: the local timezone is pinned to UTC.

Pinned at import, before any test module loads, so ``datetime.now()``, ``time.localtime()`` and
the wall-clock freezes read the same on every machine and CI runner (as time-machine's suite
does); a test that depends on the machine's timezone fails everywhere, not only abroad.

``concurrent.futures.process`` is imported here too, before any pytester run. A pytester run
in this process drops the modules first imported during it from ``sys.modules``, but
``concurrent.futures`` keeps the `ProcessPoolExecutor` it lazily imported then; orch-lint's
process pool (in the same xdist worker, later) then pickles work items of a class its module
no longer holds ("PicklingError: ... it's not the same object as ..._CallItem"), depending on
which tests an xdist worker happened to run first.
"""

from __future__ import annotations

import concurrent.futures.process  # noqa: F401 (see the docstring)
import os
import time

os.environ["TZ"] = "UTC"
time.tzset()
