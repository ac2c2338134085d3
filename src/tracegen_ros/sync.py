"""Approximate-time synchronisation of several topics by header stamp.

On a ROS 2 install ``message_filters.ApproximateTimeSynchronizer`` does this; it is not on
PyPI, so :class:`ApproximateTimeSynchronizer` here is the equivalent used when it cannot be
imported: the same matching rule as message_filters' Python implementation (one message per
input whose stamps all lie within ``slop_s``; older messages are discarded once a set is
emitted; each input keeps at most ``queue_size`` messages). :func:`subscribe_synchronized`
picks message_filters when importable and this class otherwise, behind one call.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile

from tracegen.errors import InputError


def stamp_ns(msg: Any) -> int:
    """``msg.header.stamp`` in integer nanoseconds."""
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class ApproximateTimeSynchronizer:
    """Calls ``callback(*msgs)`` with one message per input whose stamps are within ``slop_s``.

    Thread-safe: inputs may arrive on several executor threads; the callback runs on the thread
    whose message completed the set, outside the lock.
    """

    def __init__(self, num_inputs: int, queue_size: int, slop_s: float) -> None:
        if num_inputs < 2:
            raise InputError(f"synchronising {num_inputs} input(s) makes no sense: 2 or more needed")
        if queue_size < 1:
            raise InputError(f"sync queue_size is {queue_size}: it must be at least 1")
        if not slop_s >= 0:
            raise InputError(f"sync slop is {slop_s} s: it must be >= 0")
        self.queue_size = queue_size
        self.slop_ns = round(slop_s * 1e9)
        # Per input: sorted stamps and the messages at those stamps.
        self._stamps: list[list[int]] = [[] for _ in range(num_inputs)]
        self._msgs: list[dict[int, Any]] = [{} for _ in range(num_inputs)]
        self._callbacks: list[Callable[..., None]] = []
        self._lock = threading.Lock()

    def register_callback(self, callback: Callable[..., None]) -> None:
        self._callbacks.append(callback)

    # message_filters spelling, so both implementations are driven the same way.
    registerCallback = register_callback  # noqa: N815

    def add(self, index: int, msg: Any) -> None:
        """Offer ``msg`` on input ``index``; emits a set when this message completes one."""
        stamp = stamp_ns(msg)
        with self._lock:
            stamps, msgs = self._stamps[index], self._msgs[index]
            if stamp not in msgs:
                bisect.insort(stamps, stamp)
            msgs[stamp] = msg
            while len(stamps) > self.queue_size:
                del msgs[stamps.pop(0)]
            matched = self._match(index, stamp)
        if matched is not None:
            for callback in self._callbacks:
                callback(*matched)

    def _match(self, index: int, stamp: int) -> list[Any] | None:
        """The set around ``stamp`` if every input has a message within slop; consumes it."""
        chosen: list[int] = []
        for i, stamps in enumerate(self._stamps):
            if i == index:
                chosen.append(stamp)
                continue
            if not stamps:
                return None
            pos = bisect.bisect_left(stamps, stamp)
            candidates = stamps[max(pos - 1, 0) : pos + 1]
            chosen.append(min(candidates, key=lambda s: abs(s - stamp)))
        if max(chosen) - min(chosen) > self.slop_ns:
            return None
        matched = [self._msgs[i][s] for i, s in enumerate(chosen)]
        for i, s in enumerate(chosen):
            stamps = self._stamps[i]
            cut = bisect.bisect_right(stamps, s)
            for old in stamps[:cut]:
                del self._msgs[i][old]
            del stamps[:cut]
        return matched


@dataclass(frozen=True)
class SynchronizedSubscription:
    """What :func:`subscribe_synchronized` set up; keep it as long as the subscription lives."""

    implementation: str
    topics: tuple[str, ...]
    handles: tuple[Any, ...]


def subscribe_synchronized(
    node: Node,
    inputs: Sequence[tuple[type, str]],
    qos: QoSProfile,
    *,
    queue_size: int,
    slop_s: float,
    callback: Callable[..., None],
) -> SynchronizedSubscription:
    """Subscribe to ``inputs`` ([(msg_type, topic), ...]) and call ``callback(*msgs)`` per set.

    The result names the implementation used ("message_filters" or "tracegen") for the log.
    """
    topics = tuple(topic for _, topic in inputs)
    try:
        import message_filters
    except ImportError:
        message_filters = None
    if message_filters is not None:
        subscribers = [message_filters.Subscriber(node, t, topic, qos_profile=qos) for t, topic in inputs]
        sync = message_filters.ApproximateTimeSynchronizer(subscribers, queue_size, slop_s)
        sync.registerCallback(callback)
        return SynchronizedSubscription("message_filters", topics, (*subscribers, sync))
    sync = ApproximateTimeSynchronizer(len(inputs), queue_size, slop_s)
    sync.register_callback(callback)
    subscriptions = tuple(
        node.create_subscription(msg_type, topic, lambda msg, i=index: sync.add(i, msg), qos)
        for index, (msg_type, topic) in enumerate(inputs)
    )
    return SynchronizedSubscription("tracegen", topics, (*subscriptions, sync))
