"""SARIF 2.1.0 output, the format code-scanning services (GitHub, Azure DevOps) ingest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from linter.findings import Finding
from linter.rules import ALL_RULES

__all__ = ["SARIF_SCHEMA", "to_sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_INFO_URI = "https://github.com/orchestrate/orchestrate/blob/main/docs/rules.md"


def _rules() -> list[dict[str, Any]]:
    return [
        {
            "id": rule.CODE,
            "name": rule.NAME,
            "shortDescription": {"text": rule.MESSAGE},
            "fullDescription": {"text": rule.RATIONALE},
            "help": {"text": rule.HINT},
            "helpUri": f"{_INFO_URI}#{rule.CODE.lower()}",
            "defaultConfiguration": {"level": "error"},
        }
        for rule in ALL_RULES
    ]


def to_sarif(findings: Sequence[Finding]) -> dict[str, Any]:
    """A SARIF log with one run: the rule catalogue and one result per finding."""
    index = {rule.CODE: i for i, rule in enumerate(ALL_RULES)}
    results = []
    for f in findings:
        results.append(
            {
                "ruleId": f.code,
                "ruleIndex": index.get(f.code, 0),
                "level": "error",
                "message": {"text": f"{f.message}. {f.hint}" if f.hint else f.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": f.path.replace("\\", "/")},
                            "region": {"startLine": f.line, "startColumn": f.col},
                        }
                    }
                ],
            }
        )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {"name": "orch-lint", "informationUri": _INFO_URI, "rules": _rules()}
                },
                "results": results,
            }
        ],
    }
