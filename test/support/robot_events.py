"""Collecting the IK controller's plan events in tests, with waits."""

from __future__ import annotations

import threading
from collections.abc import Callable

from tracegen.robot.controller import PlanEvent, PlanState

FINAL_STATES = (PlanState.DONE, PlanState.REFUSED, PlanState.STOPPED, PlanState.FAILED)


class EventLog:
    """Every PlanEvent the controller emitted, in order; thread-safe."""

    def __init__(self) -> None:
        self.events: list[PlanEvent] = []
        self._condition = threading.Condition()

    def __call__(self, event: PlanEvent) -> None:
        with self._condition:
            self.events.append(event)
            self._condition.notify_all()

    def wait_for(self, predicate: Callable[[PlanEvent], bool], timeout_s: float) -> PlanEvent | None:
        with self._condition:
            self._condition.wait_for(lambda: any(predicate(e) for e in self.events), timeout_s)
            return next((e for e in self.events if predicate(e)), None)

    def final(self, plan_id: int, timeout_s: float = 20.0) -> PlanEvent | None:
        """The plan's final event (done, refused, stopped, failed), waiting for it."""
        return self.wait_for(lambda e: e.plan_id == plan_id and e.state in FINAL_STATES, timeout_s)

    def states(self, plan_id: int) -> list[PlanState]:
        with self._condition:
            return [e.state for e in self.events if e.plan_id == plan_id]
