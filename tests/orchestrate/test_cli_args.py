"""The CLI's argument readers on their own: values in, values or one-line errors out."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from orchestrate import Registry, Status
from orchestrate.cli_args import (
    Failure,
    UsageError,
    byte_limit,
    date_arg,
    input_arg,
    json_arg,
    load_registry,
    seconds_arg,
    status_arg,
    whole_number,
)


@pytest.mark.parametrize(
    ("text", "value"), [(None, None), ('{"id": 1}', {"id": 1}), ('"x"', "x"), ("[1, 2]", [1, 2])]
)
def test_json_arg_parses_json(text: str | None, value: object) -> None:
    assert json_arg(text, "the input") == value


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{id: 1}", "the input is not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("9" * 5000, "digits"),
    ],
)
def test_json_arg_says_what_is_wrong_in_one_line(text: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment) as caught:
        json_arg(text, "the input")
    assert "\n" not in str(caught.value)


def test_input_arg_reads_a_file_or_refuses_both(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text('{"n": 2}', encoding="utf-8")
    assert input_arg(None, str(path), "the input", "--input-file") == {"n": 2}
    with pytest.raises(UsageError, match="inline or with --input-file, not both"):
        input_arg("1", str(path), "the input", "--input-file")
    with pytest.raises(UsageError, match="cannot read --input-file"):
        input_arg(None, str(tmp_path / "missing.json"), "the input", "--input-file")


PLUS_TWO = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2024-06-01", datetime(2024, 6, 1, tzinfo=UTC)),
        ("2024-06-01T12:00:00Z", datetime(2024, 6, 1, 12, tzinfo=UTC)),
        ("2024-06-01T12:00:00+02:00", datetime(2024, 6, 1, 12, tzinfo=PLUS_TWO)),
    ],
)
def test_date_arg_reads_iso_dates_as_utc_unless_zoned(text: str, moment: datetime) -> None:
    assert date_arg(text) == moment


def test_bad_date_status_and_byte_limit_name_the_fix() -> None:
    with pytest.raises(UsageError, match="--completed-before 'soon' is not a date; use ISO 8601"):
        date_arg("soon")
    assert status_arg("completed") is Status.COMPLETED
    with pytest.raises(UsageError, match="is not a status; use one of"):
        status_arg("done")
    assert byte_limit("0") == 0
    with pytest.raises(argparse.ArgumentTypeError, match="whole number of bytes"):
        byte_limit("-1")


reg = Registry()
not_a_registry = 42


@pytest.mark.parametrize(
    ("spec", "error", "fragment"),
    [
        ("no_colon", UsageError, "must be MODULE:REGISTRY"),
        ("no_such_module_xyz:reg", Failure, "cannot import 'no_such_module_xyz'"),
        (f"{__name__}:missing", Failure, "has no attribute 'missing'"),
        (f"{__name__}:not_a_registry", Failure, "is a int, not an orchestrate Registry"),
    ],
)
def test_load_registry_refuses_a_bad_target_in_one_line(
    spec: str, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        load_registry(spec)


def test_load_registry_returns_the_named_registry() -> None:
    assert load_registry(f"{__name__}:reg") is reg


@pytest.mark.parametrize(
    ("reader", "text", "value"),
    [
        (whole_number(0, 65535), "0", 0),
        (whole_number(0, 65535), "65535", 65535),
        (whole_number(1), "7", 7),
        (seconds_arg(positive=True), "0.5", 0.5),
        (seconds_arg(positive=False), "0", 0.0),
    ],
)
def test_number_readers_take_values_in_range(reader, text: str, value: float) -> None:
    assert reader(text) == value


@pytest.mark.parametrize(
    ("reader", "text", "message"),
    [
        (whole_number(0, 65535), "99999", "99999 is out of range; give a whole number from 0 to 65535"),
        (whole_number(0, 65535), "-1", "-1 is out of range"),
        (whole_number(1), "0", "0 is out of range; give a whole number of 1 or more"),
        (whole_number(1), "two", "'two' is not a whole number; give one of 1 or more"),
        (seconds_arg(positive=True), "0", "'0' is not a usable number of seconds; give a number above 0"),
        (seconds_arg(positive=False), "-1", "give a number of 0 or more"),
        (seconds_arg(positive=False), "nan", "not a usable number of seconds"),
        (seconds_arg(positive=False), "inf", "not a usable number of seconds"),
    ],
)
def test_number_readers_refuse_values_out_of_range(reader, text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
        reader(text)
