"""Reading the `orchestrate` command line's values: JSON payloads (inline, ``-`` for stdin, or a
file), dates, statuses, byte limits, and the worker's ``MODULE:REGISTRY`` target.

Each reader turns bad input into one line naming the value, the cause and the fix: a
`UsageError` (exit 2) for input that cannot mean anything, a `Failure` (exit 1) for a target
that cannot be loaded. `orchestrate.cli` catches both.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .cli_text import abridge
from .registry import Registry
from .state import Status

__all__ = [
    "Failure",
    "UsageError",
    "byte_limit",
    "date_arg",
    "input_arg",
    "json_arg",
    "load_registry",
    "seconds_arg",
    "status_arg",
    "whole_number",
]


class UsageError(Exception):
    """Bad command-line input found after parsing (exit 2)."""


class Failure(Exception):
    """The command could not do its job (exit 1)."""


def json_arg(text: str | None, what: str) -> Any:
    """Parse JSON from the command line: one clear line (exit 2) for anything it cannot take."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{what} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): "
            f"{abridge(text)!r}; quote it for the shell, e.g. '{{\"id\": 1}}' or '\"text\"'"
        ) from None
    except RecursionError:
        raise UsageError(
            f"{what} is nested too deeply to parse ({len(text)} characters); "
            "flatten the data (payloads are limited in depth anyway)"
        ) from None
    except ValueError:  # an int of more digits than Python converts (4,300 by default)
        raise UsageError(
            f"{what} holds a number of more than {sys.get_int_max_str_digits():,} digits, which "
            "no payload can carry; pass a very large number as a string (\"123...\")"
        ) from None


def input_arg(text: str | None, path: str | None, what: str, file_option: str) -> Any:
    """The JSON value given inline, as ``-`` (read stdin) or with ``--input-file PATH``."""
    if text is not None and path is not None:
        raise UsageError(f"give {what} inline or with {file_option}, not both")
    if path is not None:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise UsageError(
                f"cannot read {file_option} {path!r}: {exc.strerror or exc}; check the path"
            ) from None
        except UnicodeDecodeError as exc:
            raise UsageError(
                f"{file_option} {path!r} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                "save it as UTF-8 JSON"
            ) from None
        return json_arg(text, f"the JSON in {path!r}")
    if text == "-":
        try:
            text = sys.stdin.read()
        except UnicodeDecodeError as exc:
            raise UsageError(f"stdin is not UTF-8 text ({exc.reason}); send UTF-8 JSON") from None
        return json_arg(text, f"{what} read from stdin")
    return json_arg(text, what)


def date_arg(text: str, option: str = "--completed-before") -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is not a date; use ISO 8601, e.g. 2024-06-01 or "
            "2024-06-01T12:00:00Z (times without a zone are UTC)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def status_arg(text: str) -> Status:
    try:
        return Status(text)
    except ValueError:
        valid = ", ".join(s.value for s in Status)
        raise UsageError(f"--status {text!r} is not a status; use one of {valid}") from None


def byte_limit(text: str) -> int:
    """``--max-payload-bytes``: a whole number of bytes, 0 for no limit."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of bytes (0: no limit)")
    return value


def whole_number(low: int, high: int | None = None, note: str = "") -> Callable[[str], int]:
    """An argparse ``type=`` for a whole number from `low` to `high` (None: no upper bound).

    argparse prefixes the option (``argument --port: ...``) and exits 2, so a number the command
    cannot use is a usage error before anything runs; `note` says what the bounds mean.
    """
    valid = f"from {low} to {high}" if high is not None else f"of {low} or more"

    def read(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a whole number; give one {valid}{note}"
            ) from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range; give a whole number "
                                             f"{valid}{note}")  # fmt: skip
        return value

    return read


def seconds_arg(*, positive: bool, note: str = "") -> Callable[[str], float]:
    """An argparse ``type=`` for a finite number of seconds: above 0 if `positive`, else 0 or more."""
    valid = "above 0" if positive else "of 0 or more"

    def read(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a usable number of seconds; give a number {valid}{note}"
            )
        return value

    return read


def load_registry(spec: str) -> Registry:
    """Import ``module:attribute`` (or ``path/to/file.py:attribute``) with cwd on sys.path."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(
            f"worker target {spec!r} must be MODULE:REGISTRY, e.g. `orchestrate worker app.flows:reg`"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        if module_name.endswith(".py"):
            name = os.path.splitext(os.path.basename(module_name))[0]
            loader = importlib.util.spec_from_file_location(name, module_name)
            if loader is None or loader.loader is None or not os.path.exists(module_name):
                raise Failure(f"cannot load {module_name!r}: no such file")
            module = importlib.util.module_from_spec(loader)
            sys.modules[name] = module
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise Failure(
            f"cannot import {module_name!r}: {exc}; run from the project directory or fix PYTHONPATH"
        ) from None
    except Failure:
        raise
    except Exception as exc:
        raise Failure(
            f"importing {module_name!r} raised {type(exc).__name__}: {exc}; fix the module "
            "(run `python -c 'import MODULE'` to see the traceback)"
        ) from None
    if not hasattr(module, attr):
        raise Failure(
            f"module {module_name!r} has no attribute {attr!r}; name the `Registry()` object your "
            "orchestrations are registered on"
        )
    registry = getattr(module, attr)
    if not isinstance(registry, Registry):
        raise Failure(
            f"{module_name}:{attr} is a {type(registry).__name__}, not an orchestrate Registry; "
            "name the `Registry()` object your orchestrations are registered on"
        )
    return registry
