"""demo_recorder_node: teleoperated demonstrations -> one rosbag2 MCAP bag per episode.

Records the topics of the ``topics`` parameter (camera images and camera_info, /joint_states,
the TCP pose, the gripper state, the instruction) exactly as serialized on the wire, through
:class:`tracegen.demo_bags.EpisodeRecorder` (rosbags library; layout and metadata keys there).

Services (std_srvs/Trigger, relative to the node): ``~/start`` opens an episode (refused
without an instruction), ``~/stop`` closes it as complete (or as aborted when a required topic
got no message), ``~/abort`` closes it as aborted. The response message names the bag and its
message counts. A shutdown while recording aborts the episode; an episode a crash left behind
is moved to ``aborted/`` at the next start. /diagnostics carry the open episode's message count
per topic (key = topic), so an operator sees the recording progress.
A message belongs to an episode when the middleware received it after ``~/start`` (its
``received_timestamp``), whenever the executor hands it over.

The instruction comes from the ``instruction`` parameter and the ``instruction`` topic
(std_msgs/String, latched QoS); with ``instruction_variants`` they make up to three variants in
the bag metadata.
"""

from __future__ import annotations

from rclpy.node import Node
from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy
from std_msgs.msg import String
from std_srvs.srv import Trigger

from tracegen.demo_bags import EpisodeInfo, EpisodeRecorder, TopicSpec, episode_name, instruction_variants
from tracegen.errors import InputError
from tracegen.instruction import clean_instruction
from tracegen_ros.diagnostics import DiagnosticsReporter, Level
from tracegen_ros.node_main import run_node
from tracegen_ros.params import ParamSpec, declare_parameters
from tracegen_ros.qos import LATCHED_QOS

NODE_NAME = "demo_recorder"

DEFAULT_TOPICS = [
    "/camera/camera/color/image_raw sensor_msgs/msg/Image sensor",
    "/camera/camera/color/camera_info sensor_msgs/msg/CameraInfo sensor",
    "/camera/camera/aligned_depth_to_color/image_raw sensor_msgs/msg/Image sensor",
    "/camera/camera/aligned_depth_to_color/camera_info sensor_msgs/msg/CameraInfo sensor",
    "/joint_states sensor_msgs/msg/JointState sensor",
    "/tracegen/tcp_pose geometry_msgs/msg/PoseStamped sensor",
    "/franka_gripper/joint_states sensor_msgs/msg/JointState sensor",
    "/tracegen/instruction std_msgs/msg/String latched",
]

PARAMS = (
    ParamSpec("output_dir", "~/tracegen_demos", "Directory of the episode bags (created if missing)."),
    ParamSpec(
        "topics",
        DEFAULT_TOPICS,
        "Topics to record, each 'TOPIC TYPE [sensor|reliable|latched]' (absolute names).",
    ),
    ParamSpec(
        "required_topics",
        ["/camera/camera/color/image_raw"],
        "Topics that must have messages for an episode to count as complete.",
    ),
    ParamSpec("storage_id", "mcap", "rosbag2 storage: mcap or sqlite3.", choices=("mcap", "sqlite3")),
    ParamSpec("task", "", "Task name stored in the bag metadata (tracegen.task) and used in episode names."),
    ParamSpec(
        "instruction", "", "Instruction of the demonstrations until one arrives on the instruction topic."
    ),
    ParamSpec(
        "instruction_variants",
        [""],
        "Further phrasings of the instruction stored with it (up to 3 variants in all); [''] for none.",
    ),
    ParamSpec("embodiment", "fr3", "Robot that performed the demonstrations (tracegen.embodiment)."),
    ParamSpec("camera_fixed", True, "The camera did not move during the episodes (tracegen.camera_fixed)."),
    ParamSpec(
        "diagnostics_period_s",
        1.0,
        "Seconds between status messages on /diagnostics.",
        min_value=0.1,
        max_value=60.0,
    ),
)

_QOS = {
    "sensor": QoSProfile(
        history=QoSHistoryPolicy.KEEP_LAST,
        depth=100,
        reliability=QoSReliabilityPolicy.BEST_EFFORT,
        durability=QoSDurabilityPolicy.VOLATILE,
    ),
    # A best-effort subscription matches reliable publishers too; reliable matches only reliable.
    "reliable": QoSProfile(
        history=QoSHistoryPolicy.KEEP_LAST,
        depth=100,
        reliability=QoSReliabilityPolicy.RELIABLE,
        durability=QoSDurabilityPolicy.VOLATILE,
    ),
    "latched": LATCHED_QOS,
}


def _message_class(msgtype: str) -> type:
    import importlib

    package, _, name = msgtype.partition("/msg/")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError):
        raise InputError(f"message type {msgtype} is not importable: install its ROS 2 package") from None


class DemoRecorderNode(Node):
    """Subscribes to the recorded topics raw and writes them while an episode is open."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        params = declare_parameters(self, PARAMS)
        self._topics = [TopicSpec.parse(entry) for entry in params["topics"]]
        self._recorder = EpisodeRecorder(
            params["output_dir"],
            self._topics,
            storage_id=params["storage_id"],
            required_topics=[t for t in params["required_topics"] if t],
        )
        self._task = params["task"].strip()
        self._embodiment = params["embodiment"].strip()
        self._camera_fixed = bool(params["camera_fixed"])
        self._variants = [clean_instruction(v) for v in params["instruction_variants"] if v.strip()]
        self._instruction = clean_instruction(params["instruction"]) if params["instruction"].strip() else ""

        for spec in self._topics:
            self.create_subscription(
                _message_class(spec.msgtype),
                spec.topic,
                lambda data, info, topic=spec.topic: self._on_message(topic, data, info),
                _QOS[spec.qos],
                raw=True,
            )
        self.create_subscription(String, "instruction", self._on_instruction, LATCHED_QOS)
        self.create_service(Trigger, "~/start", self._on_start)
        self.create_service(Trigger, "~/stop", self._on_stop)
        self.create_service(Trigger, "~/abort", self._on_abort)
        period_s = float(params["diagnostics_period_s"])
        self._diagnostics = DiagnosticsReporter(self, "demo recorder", period_s=period_s)
        self.create_timer(period_s, self._report_counts)
        for path in self._recorder.recover_interrupted():
            self.get_logger().warning(f"an episode interrupted by a crash was moved to {path}")
        self._set_idle()
        self.get_logger().info(
            f"ready: {len(self._topics)} topics into {self._recorder.output_dir}; call "
            f"{self.resolve_service_name('~/start')} to record an episode"
        )

    def _report_counts(self) -> None:
        """Messages recorded so far per topic in the diagnostics values (0 between episodes)."""
        counts = self._recorder.recorded_counts()
        self._diagnostics.update_values(**{spec.topic: counts.get(spec.topic, 0) for spec in self._topics})

    def _set_idle(self) -> None:
        self._diagnostics.set(Level.OK, f"idle: waiting for {self.resolve_service_name('~/start')}")

    # --- callbacks ---------------------------------------------------------------------------

    def _on_message(self, topic: str, data: bytes, info: dict) -> None:
        # Between episodes this only keeps the newest sample of latched topics. The receive
        # time keeps out what arrived before ~/start but waited in the queue behind it.
        received_ns = info.get("received_timestamp") or None
        try:
            self._recorder.write(topic, self.get_clock().now().nanoseconds, data, received_ns=received_ns)
        except Exception as exc:
            # A full disk or a closed bag: abort rather than keep writing a broken episode.
            reason = f"write failed on {topic}: {exc}"
            self.get_logger().error(f"{reason}; aborting the episode")
            self._finish(lambda: self._recorder.abort(reason))

    def _on_instruction(self, msg: String) -> None:
        try:
            instruction = clean_instruction(msg.data)
        except InputError as exc:
            self.get_logger().error(
                f"ignored the instruction on {self.resolve_topic_name('instruction')}: {exc}"
            )
            return
        self._instruction = instruction
        self._recorder.update_instructions([instruction])

    def _on_start(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        del request
        if not self._instruction:
            response.success = False
            response.message = (
                f"no instruction: publish one on {self.resolve_topic_name('instruction')} or set the "
                "instruction parameter first"
            )
            self.get_logger().error(f"refused to start: {response.message}")
            return response
        info = EpisodeInfo(
            instructions=instruction_variants([self._instruction, *self._variants]),
            task=self._task,
            embodiment=self._embodiment,
            camera_fixed=self._camera_fixed,
        )
        try:
            path = self._recorder.start(info, episode_name(self._task))
        except Exception as exc:
            response.success, response.message = False, f"cannot start an episode: {exc}"
            self.get_logger().error(response.message)
            return response
        response.success, response.message = True, f"recording {self._recorder.recording} into {path}"
        self.get_logger().info(response.message)
        self._diagnostics.set(Level.OK, f"recording {self._recorder.recording}")
        return response

    def _on_stop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        del request
        return self._finish(self._recorder.stop, response)

    def _on_abort(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        del request
        return self._finish(lambda: self._recorder.abort("aborted on request"), response)

    def _finish(self, close, response: Trigger.Response | None = None) -> Trigger.Response:
        response = response or Trigger.Response()
        try:
            result = close()
        except InputError as exc:
            response.success, response.message = False, str(exc)
            return response
        counts = ", ".join(f"{topic}: {n}" for topic, n in result.counts.items())
        response.success = result.complete
        response.message = f"{result.status}: {result.path} ({result.duration_s:.1f} s; {counts})"
        # (rclpy refuses two severities from one line of code, hence two calls.)
        if result.complete:
            self.get_logger().info(f"episode {result.name} {response.message}")
        else:
            self.get_logger().warning(f"episode {result.name} {response.message}")
        self._set_idle()
        return response

    def destroy_node(self) -> None:
        if self._recorder.recording is not None:
            result = self._recorder.abort("the recorder was stopped while recording")
            self.get_logger().warning(f"stopped while recording: episode kept as aborted in {result.path}")
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(DemoRecorderNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
