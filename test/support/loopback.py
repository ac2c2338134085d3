"""Distinct loopback addresses, so parallel franky-sim servers never collide (the core's helper)."""

from tracegen.sim.loopback import FRANKA_COMMAND_PORT, free_loopback_address

__all__ = ["FRANKA_COMMAND_PORT", "free_loopback_address"]
