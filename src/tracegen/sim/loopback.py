"""Distinct loopback addresses for franky-sim servers, so parallel simulated arms never collide.

franky-sim binds libfranka's ports on the address it is given; any 127.a.b.c works on Linux, so
every simulator (a test, the demo, recorded expert demos) takes its own.
"""

from __future__ import annotations

import random
import socket

from tracegen.errors import TracegenError

#: libfranka's robot command port (TCP); franky-sim binds it on the address given.
FRANKA_COMMAND_PORT = 1337


def free_loopback_address(rng: random.Random | None = None, attempts: int = 50) -> str:
    """A random 127.a.b.c whose libfranka command port is free right now."""
    rng = rng or random.Random()
    for _ in range(attempts):
        address = f"127.{rng.randint(2, 254)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((address, FRANKA_COMMAND_PORT))
            except OSError:
                continue
        return address
    raise TracegenError(
        f"no loopback address with a free libfranka port ({FRANKA_COMMAND_PORT}) in {attempts} tries: "
        "are many simulators running? Stop them or pass a robot_ip"
    )
