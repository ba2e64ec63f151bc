"""Rules about the file itself rather than its code: it does not parse, or does not decode."""

from __future__ import annotations

from linter.rules._base import Invalid, Rule

__all__ = ["SyntaxErrorRule", "UndecodableFile"]


class SyntaxErrorRule(Rule):
    CODE = "ORC001"
    NAME = "syntax-error"
    MESSAGE = "the file does not parse, so orch-lint cannot check it"
    HINT = "Fix the syntax error; Python would refuse to import this module too."
    RATIONALE = (
        "orch-lint reads source code without running it. A file that does not parse is "
        "reported (rather than silently skipped) so a typo cannot hide an orchestration from "
        "the linter; the rest of the run goes on."
    )
    FILE_LEVEL = True
    VALID = ("async def saga(ctx, order):\n    return order\n",)
    INVALID = (Invalid("def saga(ctx:  # expect: ORC001\n"),)


class UndecodableFile(Rule):
    CODE = "ORC002"
    NAME = "undecodable-file"
    MESSAGE = "the file's bytes are not text in its declared encoding"
    HINT = "Save the file as UTF-8, or declare its encoding on line 1 or 2 (PEP 263)."
    RATIONALE = (
        "Files are decoded the way Python does: a BOM or a `# -*- coding: ... -*-` cookie, "
        "else UTF-8. A Latin-1 file with a cookie is linted normally; a file Python could not "
        "decode is reported here and the run goes on."
    )
    FILE_LEVEL = True
    VALID = ("# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\n",)
    INVALID = ()
