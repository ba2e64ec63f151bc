"""Fuzz targets: buggy orchestrations the `testkit.fuzz` fuzzer must catch, each with a fixed twin.

One module per bug class (``module_*.py``). Each defines its own ``reg``, the orchestrations
``buggy`` and ``fixed``, their activities, ``FUZZ = {"buggy": {...}, "fixed": {...}}`` (keyword
arguments for ``fuzz()``), ``PLAIN`` (an input and the output a plain `TestEnv` run gives, plus
optional ``scripts``), ``CAUGHT_BY_TESTENV`` (whether the plain `TestEnv` replay check already
catches ``buggy`` on that input), ``CALLS_THE_CLOCK`` (set where ``buggy`` reads the clock,
which the call guard stops at the call) and ``reset()`` (forgets the module's process state between
tests). None of the bugs is visible to `orch-lint` (``orch-lint tests/testkit/fuzz_targets``
reports nothing, and a test keeps it so): each module's docstring says how the bug hides (state
inside objects, a clock behind a default argument or a policy object, a set behind an attribute,
the context wrapped in a helper...) and what a static analysis would need to know to see it.
"""

MODULES = [
    "module_memo",
    "module_activity_stash",
    "module_mutable_default",
    "module_seeded_random",
    "module_double_charge",
    "module_saga_parallel",
    "module_set_order",
    "module_rerun_priority",
    "module_retry_budget",
    "module_helper_clock",
    "module_event_latency",
    "module_continue_as_new",
    "module_hash_shard",
    "module_reused_race_loser",
    "module_is_replaying",
]
