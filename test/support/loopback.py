"""Distinct loopback addresses, so parallel franky-sim servers never collide."""

from __future__ import annotations

import random
import socket

#: libfranka's robot command port (TCP); franky-sim binds it on the address given.
FRANKA_COMMAND_PORT = 1337


def free_loopback_address(rng: random.Random | None = None, attempts: int = 50) -> str:
    """A random 127.a.b.c whose libfranka port is free right now."""
    rng = rng or random.Random()
    for _ in range(attempts):
        address = f"127.{rng.randint(2, 254)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((address, FRANKA_COMMAND_PORT))
            except OSError:
                continue
        return address
    raise RuntimeError("no free loopback address found for a franky-sim server")
