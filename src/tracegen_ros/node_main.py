"""The ``main()`` of every node: init, spin, quiet Ctrl-C, shutdown in ``finally`` (ros2/demos);
and the publish of a node's own threads that a Ctrl-C shutdown may overtake."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.node import Node

from tracegen.errors import InputError


def run_node(
    make_node: Callable[[], Node], args: Sequence[str] | None = None, *, num_threads: int = 2
) -> int:
    """Create the node and spin it until Ctrl-C or shutdown; returns the process exit status.

    A bad parameter or configuration (:class:`InputError` while constructing the node) is
    logged as one clear line and exits with status 2 instead of a traceback. A node that ends
    itself (shuts its context down, e.g. a recording that ended) may set ``exit_status`` to
    say whether that was a failure.
    """
    rclpy.init(args=args if args is not None else sys.argv)
    node: Node | None = None
    try:
        node = make_node()
        executor = MultiThreadedExecutor(num_threads=num_threads)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except rclpy_implementation.RCLError:
        # Ctrl-C shuts the context down from rclpy's signal handler; if that lands while the
        # executor builds its next wait set, spin() raises "the given context is not valid"
        # instead of ExternalShutdownException. That is the same clean stop; anything else is not.
        if rclpy.ok():
            raise
    except InputError as exc:
        name = node.get_name() if node is not None else "node"
        print(f"[{name}] configuration error: {exc}", file=sys.stderr)
        return 2
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return int(getattr(node, "exit_status", 0) or 0)


def publish_unless_shut_down(node: Node, publisher, msg) -> None:
    """Publish from a node's own thread (a robot loop) that runs until destroy_node() stops it.

    Ctrl-C shuts the context down first; a publish landing after that raises "publisher's
    context is invalid", which is the same clean stop, not an error to report. Checking
    ``context.ok()`` before publishing would leave that window open; this closes it.
    """
    try:
        publisher.publish(msg)
    except rclpy_implementation.RCLError:
        if node.context.ok():
            raise
