"""``[tool.orch-lint]``: every key works, and mistakes are errors that name the key."""

from __future__ import annotations

import pytest

from linter import ConfigError, main
from linter.config import find_config, load_config

SAGA = """\
import os
import time
from orchestrate import OrchestrationContext
from flags import client

async def saga(ctx: OrchestrationContext, x):
    time.sleep(1)
    client.get_flag("beta")
    return os.getenv("A")
"""


def _write(project, table: str):
    return project({"pyproject.toml": f"[tool.orch-lint]\n{table}\n", "app/flow.py": SAGA})


def _codes(capsys, *argv):
    code = main(["--format", "json", *argv])
    import json

    out = capsys.readouterr().out
    return code, [(f["line"], f["code"]) for f in json.loads(out)] if out.strip() else []


def test_defaults_without_config(project, capsys):
    project({"app/flow.py": SAGA})
    assert _codes(capsys, "app") == (1, [(7, "ORC103"), (9, "ORC105")])


def test_select_ignore_and_per_file_ignores(project, capsys):
    _write(project, 'select = ["ORC1"]\nignore = ["ORC103"]')
    assert _codes(capsys, "app") == (1, [(9, "ORC105")])
    _write(project, '[tool.orch-lint.per-file-ignores]\n"app/*.py" = ["ORC105", "ORC103"]')
    assert _codes(capsys, "app") == (0, [])


def test_command_line_overrides(project, capsys):
    _write(project, 'ignore = ["ORC105"]')
    assert _codes(capsys, "app") == (1, [(7, "ORC103")])
    assert _codes(capsys, "app", "--ignore", "ORC103") == (0, [])
    assert _codes(capsys, "app", "--select", "ORC105") == (1, [(9, "ORC105")])


def test_extra_banned_and_allowed(project, capsys):
    _write(
        project,
        'allowed = ["time.sleep"]\n[tool.orch-lint.extra-banned]\n'
        '"flags.client.get_flag" = "read flags in an activity"',
    )
    code, findings = _codes(capsys, "app")
    assert (code, findings) == (1, [(8, "ORC199"), (9, "ORC105")])
    main(["app"])
    out = capsys.readouterr().out
    assert "8:5: ORC199 `client.get_flag()` is banned in orchestrations" in out
    assert "read flags in an activity" in out


def test_profiles_key(project, capsys):
    project(
        {
            "pyproject.toml": '[tool.orch-lint]\nprofiles = ["dbos"]\n',
            "w.py": "import time\nfrom dbos import DBOS\n\n@DBOS.workflow()\ndef w():\n"
            "    time.sleep(1)\n",
        }
    )
    assert _codes(capsys, "w.py") == (1, [(6, "ORC103")])


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ('selct = ["ORC1"]', "unknown key 'selct'; valid keys are allowed, cache, cache-dir, durable"),
        ('select = ["ORC999"]', "select: unknown rule code 'ORC999'; valid codes are ORC001"),
        ('ignore = ["E501"]', "ignore: unknown rule code 'E501'"),
        ('profiles = ["airflow"]', "unknown profile 'airflow'; valid profiles are orchestrate,"),
        ('select = "ORC1', "not valid TOML"),
        ("select = [1]", "select must be a list of strings"),
        ('[tool.orch-lint.per-file-ignores]\n"x.py" = ["ORC7"]', "per-file-ignores 'x.py'"),
        ("extra-banned = 3", "extra-banned must be a table"),
        ('outside-findings = "drop"', "outside-findings must be one of 'mark', 'hide', not 'drop'"),
    ],
)
def test_config_errors_name_the_file_and_key(project, capsys, table, needle):
    root = _write(project, table)
    with pytest.raises(ConfigError) as info:
        load_config(str(root / "pyproject.toml"))
    assert str(root / "pyproject.toml") in str(info.value)
    assert needle in str(info.value)
    assert main(["app"]) == 2
    assert needle in capsys.readouterr().err


def test_unknown_code_on_the_command_line_exits_2(project, capsys):
    project({"app/flow.py": SAGA})
    assert main(["--select", "ORC9", "app"]) == 2
    assert "--select: unknown rule code 'ORC9'" in capsys.readouterr().err
    assert main(["--profile", "nope", "app"]) == 2
    assert "--profile: unknown profile 'nope'" in capsys.readouterr().err


def test_nearest_pyproject_with_a_table_is_used(project):
    root = project(
        {
            "pyproject.toml": "[tool.orch-lint]\nignore = ['ORC101']\n",
            "sub/pyproject.toml": "[project]\nname = 'x'\n",
            "sub/deep/flow.py": "",
        }
    )
    assert find_config(str(root / "sub" / "deep" / "flow.py")) == str(root / "pyproject.toml")


def test_exclude_skips_directories(project, capsys):
    project(
        {
            "pyproject.toml": '[tool.orch-lint]\nexclude = ["generated"]\n',
            "generated/flow.py": SAGA,
            "app/flow.py": SAGA,
        }
    )
    code, findings = _codes(capsys, ".")
    assert code == 1 and len(findings) == 2
