"""`cell-bootstrap` inside `cellctl bootstrap`: the orchestrator's `after_up` hook, journaled per component.

Each component whose target finished is recorded in the cell's journal entry (`lifecycle`,
component -> commit) as it finishes, so a resumed bootstrap calls only the ones that did not.
"""

from __future__ import annotations

from cellctl.lifecycle.runner import ComponentResult, LifecycleRunner, Status
from cellctl.rollout.journal import Journal
from cellctl.rollout.orchestrator import AfterUp
from cellctl.rollout.plan import Target


def bootstrap_hook(runner: LifecycleRunner) -> AfterUp:
    """The hook that runs every component's `cell-bootstrap` for a cell whose stack is up."""

    def after_up(target: Target, journal: Journal) -> str | None:
        assert target.cell is not None
        done = dict(journal.cell(target.stack).lifecycle)

        def record(result: ComponentResult) -> None:
            if result.status == Status.done and result.commit is not None:
                done[result.component] = result.commit
                journal.update_cell(target.stack, lifecycle=dict(done))

        result = runner.cell_bootstrap(target.cell, skip=set(done), on_result=record)
        if result.ok:
            return None
        return f"cell-bootstrap: {result.message}"

    return after_up
