"""Teleoperated demonstration episodes as rosbag2 bags (MCAP), written with the rosbags library.

One episode = one bag directory (``metadata.yaml`` + ``<name>_0.mcap``), readable by
``ros2 bag info/play`` on a robot PC and by the data engine. Messages are stored exactly as
they arrived on the wire (serialized CDR), so nothing is converted on the way.

Layout under the output directory, so a half-written bag is never taken for a good one:

- ``.recording/<episode>/``: the episode being recorded (no metadata.yaml until closed);
- ``<episode>/``: finished episodes, moved here by an atomic rename after the bag is closed;
- ``aborted/<episode>/``: episodes aborted on request, stopped by a shutdown, missing a
  required topic, or left in ``.recording/`` by a crash (recovered at the next start).

Episode metadata (bag ``custom_data``, keys agreed with the data engine): :data:`KEY_INSTRUCTION`
(up to 3 instruction variants joined by newlines), :data:`KEY_TASK`, :data:`KEY_EMBODIMENT`,
:data:`KEY_CAMERA_FIXED` ("true"/"false"), and :data:`KEY_STATUS` ("complete" or
"aborted: <reason>").
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tracegen.errors import InputError

KEY_INSTRUCTION = "tracegen.instruction"
KEY_TASK = "tracegen.task"
KEY_EMBODIMENT = "tracegen.embodiment"
KEY_CAMERA_FIXED = "tracegen.camera_fixed"
KEY_STATUS = "tracegen.episode_status"
MAX_INSTRUCTION_VARIANTS = 3

RECORDING_DIR = ".recording"
ABORTED_DIR = "aborted"
STORAGE_IDS = ("mcap", "sqlite3")
QOS_KINDS = ("sensor", "reliable", "latched")

_TOPIC = re.compile(r"^/[A-Za-z0-9_/~{}]+$")
_MSGTYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/msg/[A-Z][A-Za-z0-9]*$")


@dataclass(frozen=True)
class TopicSpec:
    """A topic to record: absolute name, ``pkg/msg/Type``, and the QoS kind it is published with."""

    topic: str
    msgtype: str
    qos: str = "sensor"

    @classmethod
    def parse(cls, entry: str) -> TopicSpec:
        """``"/topic pkg/msg/Type [sensor|reliable|latched]"`` (the recorder's ``topics`` parameter)."""
        parts = str(entry).split()
        if len(parts) not in (2, 3):
            raise InputError(
                f"topic entry {entry!r} must be 'TOPIC TYPE [sensor|reliable|latched]', e.g. "
                "'/joint_states sensor_msgs/msg/JointState reliable'"
            )
        spec = cls(*parts)
        if not _TOPIC.match(spec.topic):
            raise InputError(f"topic entry {entry!r}: {spec.topic!r} is not an absolute topic name")
        if not _MSGTYPE.match(spec.msgtype):
            raise InputError(
                f"topic entry {entry!r}: {spec.msgtype!r} is not a message type like pkg/msg/Type"
            )
        if spec.qos not in QOS_KINDS:
            raise InputError(f"topic entry {entry!r}: QoS {spec.qos!r} is not one of {list(QOS_KINDS)}")
        return spec


@dataclass(frozen=True)
class EpisodeInfo:
    """What describes an episode in its metadata."""

    instructions: tuple[str, ...]
    task: str = ""
    embodiment: str = "fr3"
    camera_fixed: bool = True

    def __post_init__(self) -> None:
        if not self.instructions:
            raise InputError("an episode needs an instruction: say what the demonstration does")
        if any("\n" in i for i in self.instructions):
            raise InputError("instruction variants must be single lines (they are joined by newlines)")

    def custom_data(self, status: str) -> dict[str, str]:
        return {
            KEY_INSTRUCTION: "\n".join(self.instructions[:MAX_INSTRUCTION_VARIANTS]),
            KEY_TASK: self.task,
            KEY_EMBODIMENT: self.embodiment,
            KEY_CAMERA_FIXED: "true" if self.camera_fixed else "false",
            KEY_STATUS: status,
        }


def instruction_variants(candidates: Iterable[str]) -> tuple[str, ...]:
    """Distinct non-empty instructions in first-seen order, at most :data:`MAX_INSTRUCTION_VARIANTS`."""
    seen: list[str] = []
    for text in candidates:
        text = " ".join(str(text).split())
        if text and text not in seen:
            seen.append(text)
    return tuple(seen[:MAX_INSTRUCTION_VARIANTS])


def episode_name(task: str, when_s: float | None = None) -> str:
    """``<task>_<YYYYmmdd-HHMMSS>`` with the task reduced to [a-z0-9_-] (``episode`` when empty)."""
    slug = re.sub(r"[^a-z0-9_-]+", "_", task.strip().lower()).strip("_")[:40] or "episode"
    return f"{slug}_{time.strftime('%Y%m%d-%H%M%S', time.localtime(when_s))}"


def _qos_profiles(kind: str):
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    infinite = QosTime(sec=2147483647, nsec=4294967295)  # rosbag2's spelling of "not set"
    reliability = QosReliability.BEST_EFFORT if kind == "sensor" else QosReliability.RELIABLE
    durability = QosDurability.TRANSIENT_LOCAL if kind == "latched" else QosDurability.VOLATILE
    depth = 1 if kind == "latched" else 10
    return [
        Qos(
            history=QosHistory.KEEP_LAST,
            depth=depth,
            reliability=reliability,
            durability=durability,
            deadline=infinite,
            lifespan=infinite,
            liveliness=QosLiveliness.AUTOMATIC,
            liveliness_lease_duration=infinite,
            avoid_ros_namespace_conventions=False,
        )
    ]


def typestore_for(msgtypes: Iterable[str]):
    """A rosbags Jazzy typestore that knows every type in ``msgtypes``.

    Types missing from rosbags' built-in store (custom messages) are registered from their
    ``.msg`` files on ``$AMENT_PREFIX_PATH`` (``share/<pkg>/msg/<Type>.msg``).
    """
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    for msgtype in msgtypes:
        if msgtype in store.fielddefs:
            continue
        package, _, name = msgtype.partition("/msg/")
        prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
        for prefix in prefixes:
            path = Path(prefix) / "share" / package / "msg" / f"{name}.msg"
            if path.is_file():
                store.register(get_types_from_msg(path.read_text(encoding="utf-8"), msgtype))
                break
        else:
            raise InputError(
                f"message type {msgtype} is unknown to rosbags and no {package}/msg/{name}.msg was found on "
                "AMENT_PREFIX_PATH: install (or source) its package"
            )
    return store


@dataclass
class _Open:
    name: str
    path: Path
    writer: object
    connections: dict[str, object]
    info: EpisodeInfo
    counts: dict[str, int] = field(default_factory=dict)
    started_s: float = field(default_factory=time.monotonic)
    #: System clock (ns) when the episode opened: messages received before it are not part of it.
    started_wall_ns: int = field(default_factory=time.time_ns)


@dataclass(frozen=True)
class EpisodeResult:
    """A closed episode: where it is, whether it is complete, and what it holds."""

    name: str
    path: Path
    complete: bool
    status: str
    counts: dict[str, int]
    duration_s: float


class EpisodeRecorder:
    """Writes one episode at a time; thread-safe (messages may arrive on several threads)."""

    def __init__(
        self,
        output_dir: str | Path,
        topics: Sequence[TopicSpec],
        *,
        storage_id: str = "mcap",
        required_topics: Sequence[str] = (),
    ) -> None:
        if storage_id not in STORAGE_IDS:
            raise InputError(f"storage_id {storage_id!r} is not one of {list(STORAGE_IDS)}")
        if not topics:
            raise InputError("no topics to record: list at least the camera topics")
        names = [t.topic for t in topics]
        if len(set(names)) != len(names):
            raise InputError(
                f"topics to record are listed twice: {sorted({n for n in names if names.count(n) > 1})}"
            )
        missing = sorted(set(required_topics) - set(names))
        if missing:
            raise InputError(f"required topics {missing} are not among the recorded topics")
        self.output_dir = Path(output_dir).expanduser()
        self.topics = tuple(topics)
        self.storage_id = storage_id
        self.required_topics = tuple(required_topics)
        self._typestore = typestore_for({t.msgtype for t in topics})
        self._lock = threading.Lock()
        self._open: _Open | None = None
        self._latched_topics = {t.topic for t in topics if t.qos == "latched"}
        self._latched: dict[str, bytes] = {}

    @property
    def recording(self) -> str | None:
        """The name of the episode being recorded, or None."""
        return self._open.name if self._open is not None else None

    def recover_interrupted(self) -> list[Path]:
        """Move episodes a crash left in ``.recording/`` to ``aborted/``; returns their new paths."""
        moved = []
        staging = self.output_dir / RECORDING_DIR
        if staging.is_dir():
            for path in sorted(staging.iterdir()):
                moved.append(_move_unique(path, self.output_dir / ABORTED_DIR))
        return moved

    def start(self, info: EpisodeInfo, name: str) -> Path:
        """Open a new episode bag under ``.recording/``; raises if one is open already."""
        from rosbags.rosbag2 import StoragePlugin, Writer

        with self._lock:
            if self._open is not None:
                raise InputError(f"episode {self._open.name} is being recorded: stop or abort it first")
            final = self._unique(self.output_dir / name)
            path = self.output_dir / RECORDING_DIR / final.name
            path.parent.mkdir(parents=True, exist_ok=True)
            plugin = StoragePlugin.MCAP if self.storage_id == "mcap" else StoragePlugin.SQLITE3
            writer = Writer(path, version=9, storage_plugin=plugin)
            writer.open()
            connections = {
                t.topic: writer.add_connection(
                    t.topic, t.msgtype, typestore=self._typestore, offered_qos_profiles=_qos_profiles(t.qos)
                )
                for t in self.topics
            }
            episode = _Open(final.name, path, writer, connections, info, {t.topic: 0 for t in self.topics})
            for topic, data in self._latched.items():
                writer.write(connections[topic], episode.started_wall_ns, data)
                episode.counts[topic] += 1
            self._open = episode
            return path

    def _unique(self, path: Path) -> Path:
        candidate, n = path, 1
        while candidate.exists() or (self.output_dir / RECORDING_DIR / candidate.name).exists():
            n += 1
            candidate = path.with_name(f"{path.name}_{n}")
        return candidate

    def write(self, topic: str, timestamp_ns: int, data: bytes, *, received_ns: int | None = None) -> bool:
        """Append one serialized message; False when it is not part of an episode (nothing written).

        ``received_ns`` is when the middleware received the message (system clock, ns; the
        rmw's ``received_timestamp``): a message received before :meth:`start` belongs to no
        episode even when a busy executor hands it over after the start call.
        The newest message of each latched topic is kept between episodes and written first
        into the next one (as ``ros2 bag record`` receives latched samples on subscribing).
        """
        with self._lock:
            episode = self._open
            if topic in self._latched_topics:
                # A latched sample is state (the instruction): the newest one belongs to the
                # open episode whenever it was received.
                self._latched[topic] = bytes(data)
            elif episode is not None and received_ns is not None and received_ns < episode.started_wall_ns:
                return False
            if episode is None:
                return False
            episode.writer.write(episode.connections[topic], timestamp_ns, data)
            episode.counts[topic] += 1
            return True

    def recorded_counts(self) -> dict[str, int]:
        """Messages per topic in the open episode so far ({} between episodes)."""
        with self._lock:
            return dict(self._open.counts) if self._open is not None else {}

    def update_instructions(self, instructions: Iterable[str]) -> None:
        """Add instruction variants seen during the episode (kept in first-seen order, up to 3)."""
        with self._lock:
            if self._open is not None:
                merged = instruction_variants([*self._open.info.instructions, *instructions])
                self._open.info = EpisodeInfo(
                    merged, self._open.info.task, self._open.info.embodiment, self._open.info.camera_fixed
                )

    def stop(self) -> EpisodeResult:
        """Close the episode; complete when every required topic has messages, else aborted."""
        with self._lock:
            episode = self._require_open()
            empty = [t for t in self.required_topics if episode.counts[t] == 0]
            if empty:
                return self._close(episode, f"aborted: no messages on required topics {empty}")
            return self._close(episode, "complete")

    def abort(self, reason: str) -> EpisodeResult:
        with self._lock:
            return self._close(self._require_open(), f"aborted: {reason}")

    def _require_open(self) -> _Open:
        if self._open is None:
            raise InputError("no episode is being recorded: start one first")
        return self._open

    def _close(self, episode: _Open, status: str) -> EpisodeResult:
        """Finish the bag (metadata.yaml last), then move the whole directory in one rename."""
        self._open = None
        complete = status == "complete"
        for key, value in episode.info.custom_data(status).items():
            episode.writer.set_custom_data(key, value)
        episode.writer.close()
        target_dir = self.output_dir if complete else self.output_dir / ABORTED_DIR
        final = _move_unique(episode.path, target_dir)
        return EpisodeResult(
            name=final.name,
            path=final,
            complete=complete,
            status=status,
            counts=dict(episode.counts),
            duration_s=time.monotonic() - episode.started_s,
        )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _move_unique(path: Path, target_dir: Path) -> Path:
    """Flush ``path`` to disk, then rename it into ``target_dir`` (atomic), never overwriting."""
    target_dir.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        for item in path.iterdir():
            if item.is_file():
                _fsync(item)
    target, n = target_dir / path.name, 1
    while target.exists():
        n += 1
        target = target_dir / f"{path.name}_{n}"
    os.rename(path, target)
    _fsync(target_dir)
    return target


def finished_episode_bags(path: str | Path) -> list[Path]:
    """The finished episode bags a demo folder holds, oldest first (names are timestamps).

    ``path`` is one episode bag (returned as is) or a recorder output directory, searched
    recursively; bags in ``aborted/`` and ``.recording/`` are left out, because a warm-up must
    learn only from demonstrations that ended as the operator meant them to.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise InputError(f"{root} does not exist: pass an episode bag or a folder of recorded demos")
    if (root / "metadata.yaml").is_file():
        return [root]
    if not root.is_dir():
        raise InputError(
            f"{root} is neither an episode bag (a folder with metadata.yaml) nor a folder of them"
        )
    bags = [
        meta.parent
        for meta in root.rglob("metadata.yaml")
        if not {ABORTED_DIR, RECORDING_DIR} & set(meta.relative_to(root).parts[:-1])
    ]
    return sorted(bags, key=lambda bag: (bag.name, str(bag)))
