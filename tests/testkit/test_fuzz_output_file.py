"""Checking an output file's path before a run: ok paths come back, bad ones are one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.fuzz.output_file import check_output_file


def test_a_writable_path_comes_back_and_nothing_is_created(tmp_path: Path) -> None:
    assert check_output_file(tmp_path / "new.json", "--x") == tmp_path / "new.json"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing/f.json", "the directory '{tmp}/missing' does not exist; create it first"),
        ("afile/f.json", "'{tmp}/afile' is a file, not a directory"),
        (".", "is a directory; name a file"),
    ],
)
def test_a_path_that_cannot_be_written_is_one_line(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError) as caught:
        check_output_file(tmp_path / name, "--html")
    text = str(caught.value)
    assert text.startswith("--html '") and message.format(tmp=tmp_path) in text
    assert "\n" not in text
