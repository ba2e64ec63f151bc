"""Runnable orchestration patterns, one module per pattern, each with its own `reg` and tests.

See README.md in this folder for the table of patterns, the seed each comes from, and what each
module's tests prove.
"""
