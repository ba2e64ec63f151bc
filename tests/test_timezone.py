"""The suite runs with the local timezone pinned to UTC (see the root ``conftest.py``)."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta


def test_the_suite_runs_in_utc() -> None:
    assert os.environ["TZ"] == "UTC"
    assert time.localtime(0).tm_hour == 0 and time.timezone == 0
    assert datetime.now().astimezone().utcoffset() == timedelta(0)
