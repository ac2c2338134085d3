"""The simulated tasks, by name (``--task block``)."""

from __future__ import annotations

from tracegen.errors import InputError
from tracegen.sim.tasks.ball import BallTask
from tracegen.sim.tasks.base import EpisodeSetup, ExpertWaypoint, SimTask
from tracegen.sim.tasks.block import BlockTask
from tracegen.sim.tasks.brush import BrushTask
from tracegen.sim.tasks.clothes import ClothesTask

TASKS: dict[str, type[SimTask]] = {task.name: task for task in (BlockTask, BallTask, BrushTask, ClothesTask)}


def make_task(name: str) -> SimTask:
    """The task called ``name``; the error lists the known ones."""
    try:
        return TASKS[name]()
    except KeyError:
        raise InputError(f"unknown simulated task {name!r}: choose one of {sorted(TASKS)}") from None


__all__ = ["TASKS", "EpisodeSetup", "ExpertWaypoint", "SimTask", "make_task"]
