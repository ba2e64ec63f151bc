"""``python -m orchestrate``: the same CLI as the `orchestrate` script."""

from .cli import main

raise SystemExit(main())
