"""``python -m linter._gendocs > docs/rules.md``: regenerate the rules reference."""

import sys

from linter.docs import render_rules_markdown

sys.stdout.write(render_rules_markdown())
