"""Bug class: a mutable default created once and shared by every user: a class-level list.

`InvoiceDraft` declares its lines as ``lines: list[...] = []`` in the class body, the way a
dataclass or pydantic model declares a field; but it is a plain class, so there is one list, made
when the class was defined, and every draft's ``self.lines.append`` appends to it. The first
execution builds the right invoice, but any later execution in the process (the replay of the
same instance, or the next instance) starts from the lines left by the previous ones. The replay
then schedules `issue_invoice` with a longer line list than the history recorded, and a second
order is invoiced for the first order's lines too. The fuzzer replay-checks the very first turn
and compares the inputs of the commands, so the start alone shows it.

Why orch-lint cannot see it: it reports mutable default *arguments* (``def f(lines=[])``) and
mutations of module-level containers. Here the list is a class attribute, the orchestration only
constructs a draft and calls its methods (which the linter does not follow from a local
variable), and the append is on ``self.lines``. Static analysis would need to resolve
``self.lines`` to the class attribute (no method binds an instance attribute that shadows it)
and know that the class, unlike each draft, lives as long as the process: attribute resolution
over the class, not a pattern in the orchestration.

Fix (`fixed` with `InvoiceDraftFixed`): create the list per instance, in ``__init__``.
"""

from __future__ import annotations

from typing import Any

from orchestrate import OrchestrationContext, Registry, Status

from ._helpers import scheduled_inputs

reg = Registry()


class InvoiceDraft:
    """An invoice being put together, line by line."""

    lines: list[dict[str, Any]] = []  # the bug: one list for every draft

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id

    def add(self, item: dict[str, Any]) -> None:
        self.lines.append({"sku": item["sku"], "amount": item["qty"] * item["price"]})

    def request(self) -> dict[str, Any]:
        return {"order": self.order_id, "lines": list(self.lines)}


class InvoiceDraftFixed(InvoiceDraft):
    """An invoice being put together, line by line, with its own list of lines."""

    def __init__(self, order_id: str) -> None:
        super().__init__(order_id)
        self.lines = []


def reset() -> None:
    """Forget the process state (between tests): empty the shared class-level list."""
    InvoiceDraft.lines.clear()


@reg.activity
def issue_invoice(invoice: dict[str, Any]) -> str:
    return f"inv-{invoice['order']}-{sum(line['amount'] for line in invoice['lines'])}"


@reg.orchestration
async def buggy(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    draft = InvoiceDraft(order["id"])
    for item in order["items"]:
        draft.add(item)
    invoice = await ctx.activity(issue_invoice, draft.request())
    return {"invoice": invoice, "lines": len(draft.lines)}


@reg.orchestration
async def fixed(ctx: OrchestrationContext, order: dict[str, Any]) -> dict[str, Any]:
    draft = InvoiceDraftFixed(order["id"])
    for item in order["items"]:
        draft.add(item)
    invoice = await ctx.activity(issue_invoice, draft.request())
    return {"invoice": invoice, "lines": len(draft.lines)}


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
