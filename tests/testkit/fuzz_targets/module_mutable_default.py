"""Bug class: a helper with a mutable default argument keeps state across executions.

`add_line(item, lines=[])` appends to the one list Python created when the function was defined,
so every call that relies on the default shares it: the first execution builds the right invoice,
but any later execution in the process (the replay of the same instance, or the next instance)
starts from the lines left by the previous ones. The replay then schedules `issue_invoice` with
a longer line list than the history recorded (the fuzzer compares inputs), and a second order
is invoiced for the first order's lines too.

Fix (`fixed` with `add_line_fixed`): default to ``None`` and start a new list per call site.
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry, Status

from ._helpers import scheduled_inputs

reg = Registry()


def add_line(
    item: dict[str, Any],
    lines: list[dict[str, Any]] = [],  # noqa: B006 (the bug)
) -> list[dict[str, Any]]:
    """Append the invoice line for `item` to `lines` and return the list."""
    lines.append({"sku": item["sku"], "amount": item["qty"] * item["price"]})
    return lines


def add_line_fixed(
    item: dict[str, Any], lines: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Append the invoice line for `item` to `lines` (a new list if None) and return the list."""
    lines = [] if lines is None else lines
    lines.append({"sku": item["sku"], "amount": item["qty"] * item["price"]})
    return lines


def reset() -> None:
    """Forget the process state (between tests): empty the shared default list."""
    add_line.__defaults__[0].clear()  # type: ignore[index]


@reg.activity
def issue_invoice(invoice: dict[str, Any]) -> str:
    return f"inv-{invoice['order']}-{sum(line['amount'] for line in invoice['lines'])}"


@reg.orchestration
async def buggy(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    lines: list[dict[str, Any]] = []
    for item in order["items"]:
        lines = add_line(item)
    invoice = await ctx.activity(issue_invoice, {"order": order["id"], "lines": lines})
    return {"invoice": invoice, "lines": len(lines)}


@reg.orchestration
async def fixed(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    lines: list[dict[str, Any]] = []
    for item in order["items"]:
        lines = add_line_fixed(item, lines)
    invoice = await ctx.activity(issue_invoice, {"order": order["id"], "lines": lines})
    return {"invoice": invoice, "lines": len(lines)}


def invoiced_exactly_the_order(run: Any) -> None:
    """Every invoice issued holds exactly the order's lines."""
    for invoice in scheduled_inputs(run, "issue_invoice"):
        assert [line["sku"] for line in invoice["lines"]] == [i["sku"] for i in ORDER["items"]]
    if run.status == Status.COMPLETED:
        assert run.output["lines"] == len(ORDER["items"])


ORDER: dict[str, Any] = {
    "id": "o-3",
    "items": [
        {"sku": "pen", "qty": 2, "price": 3},
        {"sku": "ink", "qty": 1, "price": 7},
    ],
}

FUZZ: dict[str, dict[str, Any]] = {
    "buggy": {"input": ORDER, "invariant": invoiced_exactly_the_order},
    "fixed": {"input": ORDER, "invariant": invoiced_exactly_the_order},
}

PLAIN: dict[str, Any] = {"input": ORDER, "output": {"invoice": "inv-o-3-13", "lines": 2}}
CAUGHT_BY_TESTENV = True
