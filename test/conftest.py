"""Shared fixtures: an isolated ROS 2 domain per test session, the node environment, temp dirs."""

from __future__ import annotations

import os
import random

import pytest

from tracegen.runtime_env import restore_ctrl_c, ros_environment

# Tests stop nodes and commands with SIGINT; a suite started in the background of a script would
# otherwise hand an ignored SIGINT down to every one of them (see restore_ctrl_c).
restore_ctrl_c()

# One DDS domain per pytest session, so parallel sessions on one machine never cross-talk,
# and discovery limited to this host.
# 1..101: the ids whose DDS ports stay below Linux's ephemeral range (ROS 2 docs); drawn from the
# OS so reused pids do not repeat.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


@pytest.fixture(scope="session")
def node_env() -> dict[str, str]:
    """Environment for child processes that use rclpy and the generated messages."""
    return ros_environment()
