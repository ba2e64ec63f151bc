"""Broken twins of the pattern examples: the bugs users actually write, each caught by a tool.

Not examples to copy. `test_broken.py` proves `orch-lint` flags the statically visible ones and
the fuzzer (or a replay of old histories) finds the others. See README.md.
"""
