"""``python -m linter``: the same as the ``orch-lint`` script."""

from linter.cli import main

raise SystemExit(main())
