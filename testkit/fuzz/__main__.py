"""``python -m testkit.fuzz``: the same as ``orch-fuzz``."""

from testkit.fuzz.cli import main

raise SystemExit(main())
