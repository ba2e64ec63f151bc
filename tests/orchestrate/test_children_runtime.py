"""Children follow their parent end to end: `Runtime` with worker threads on SQLite."""

from __future__ import annotations

from pathlib import Path

from orchestrate import OrchestrationContext, Registry, Runtime, Status

from ..waiting import wait_until

reg = Registry()


@reg.orchestration
async def child(ctx: OrchestrationContext) -> None:
    await ctx.event("go")


@reg.orchestration
async def parent(ctx: OrchestrationContext) -> str:
    ctx.sub_orchestration(child, instance_id=f"{ctx.instance_id}:kid")
    ctx.sub_orchestration(child, instance_id=f"{ctx.instance_id}:free", on_parent_close="abandon")
    await ctx.event("done")
    return "ok"


def test_parent_end_terminates_children_and_purge_lets_the_id_start_again(tmp_path: Path) -> None:
    with Runtime(reg, store=f"sqlite:///{tmp_path / 'rt.db'}") as rt:
        rt.start(parent, instance_id="p")
        wait_until(
            lambda: (
                rt.store.get_instance("p:free") is not None
                and rt.state("p:kid").status == Status.RUNNING
            ),
            10,
            what="the children to start",
        )
        rt.raise_event("p", "done")
        assert rt.wait("p", timeout=10).output == "ok"
        assert rt.wait("p:kid", timeout=10).status == Status.TERMINATED
        assert rt.state("p:free").status == Status.RUNNING  # abandoned: runs on
        rt.raise_event("p:free", "go")
        assert rt.wait("p:free", timeout=10).status == Status.COMPLETED
        assert rt.purge("p") == 3
        rt.start(parent, instance_id="p")
        wait_until(
            lambda: (
                rt.store.get_instance("p:kid") is not None
                and rt.state("p:kid").status == Status.RUNNING
            ),
            10,
            what="the new run's child to start",
        )
        rt.terminate("p")
        assert rt.wait("p:kid", timeout=10).status == Status.TERMINATED
        assert rt.state("p:free").status == Status.RUNNING
