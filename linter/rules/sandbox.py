"""Calls Temporal's workflow sandbox forbids: they fail the workflow task at run time."""

from __future__ import annotations

from typing import ClassVar

from linter.rules._base import CallRule, Invalid

__all__ = ["TemporalSandbox"]


class TemporalSandbox(CallRule):
    CODE = "ORC116"
    NAME = "temporal-sandbox"
    MESSAGE = "is forbidden by Temporal's workflow sandbox, so the workflow task fails at run time"
    HINT = "Do it in an activity, or pass the value in as the workflow's input."
    RATIONALE = (
        "Temporal runs workflow code in a sandbox that proxies the standard library and "
        "raises `RestrictedWorkflowAccessError` on uses that could make a workflow "
        "non-deterministic (its list: `temporalio/worker/workflow_sandbox/_restrictions.py`, "
        "`invalid_module_members_default`). The other rules already cover the clock, random "
        "values, sleeping, files and the network; this one reports the rest of that list "
        "that a workflow plausibly calls: anything in `threading` (`current_thread()`, "
        "`local()`), process-level `os` calls and `os.name`, `os.path.abspath()` (it reads "
        "the working directory), signals, selectors, `socket`, `concurrent.futures`, "
        "`multiprocessing`, `locale`, compressed-file `open`s and the like. Only checked "
        "under the temporal profile."
    )
    ONLY_PROFILES: ClassVar[frozenset[str]] = frozenset({"temporal"})
    EXAMPLE_PROFILE: ClassVar[str] = "temporal"
    CALLS = frozenset(
        {
            "threading.*",
            "_thread.*",
            "os.path.abspath",
            "os.getcwdb",
            "os.getloadavg",
            "os.times",
            "os.get_terminal_size",
            "os.sched_getaffinity",
            "os.umask",
            "os.kill",
            "os.fork",
            "os.get_exec_path",
            "os.getenvb",
            "concurrent.futures.*",
            "multiprocessing.*",
            "socket.*",
            "locale.*",
            "signal.*",
            "select.*",
            "selectors.*",
            "mmap.*",
            "curses.*",
            "dbm.*",
            "filecmp.*",
            "fileinput.*",
            "getopt.*",
            "gettext.*",
            "imaplib.*",
            "poplib.*",
            "readline.*",
            "sched.*",
            "shelve.*",
            "socketserver.*",
            "webbrowser.*",
            "xmlrpc.*",
            "http.server.*",
            "marshal.dump",
            "marshal.load",
            "bz2.open",
            "gzip.open",
            "lzma.open",
            "tarfile.open",
            "time.get_clock_info",
            "time.tzset",
            "time.pthread_getcpuclockid",
            "zoneinfo.ZoneInfo.clear_cache",
            "zoneinfo.ZoneInfo.from_file",
            "zoneinfo.ZoneInfo.reset_tzpath",
        }
    )
    ACCESS = frozenset({"os.name"})
    VALID = (
        """\
import os.path
from temporalio import workflow

@workflow.defn
class Paths:
    @workflow.run
    async def run(self, name: str) -> str:
        return os.path.join("data", name)
""",
    )
    INVALID = (
        Invalid("""\
import os
import threading
from temporalio import workflow

@workflow.defn
class Host:
    @workflow.run
    async def run(self, name: str) -> str:
        worker = threading.current_thread().name  # expect: ORC116
        where = os.path.abspath(name)  # expect: ORC116
        return f"{worker} {where} {os.name}"  # expect: ORC116
"""),
    )
