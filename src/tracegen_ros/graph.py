"""The tracegen node graph: the one description both ways of starting the stack read.

``launch/bringup.launch.py`` (ROS 2 robot PCs) translates it into launch actions with
:func:`launch_description`; ``tracegen bringup`` (pip environments) turns it into child
processes with :func:`resolve` and :func:`node_command`. Neither adds nodes, parameters or
remappings of its own, so both start the same graph.

The graph holds:

- launch **arguments** (``use_sim``, ``robot_ip``, ``camera_serial``, ``recording``,
  ``checkpoint``, ``instruction``, ``rviz``, ``record_demos``). An argument that feeds a node
  parameter takes its default from that node's config file, so leaving it out changes nothing
  and config/*.yaml stays the single place for defaults;
- **nodes**: name, executable (``src/tracegen_ros/nodes/<executable>.py``), namespace, params
  file from config/, parameters set from arguments, remappings, and a condition on a boolean
  argument;
- a **sim section**: nodes that replace hardware when ``use_sim`` is true: the simulated
  RealSense (``sim_camera_node``, publishing the camera topics and hosting franky-sim's server
  at ``robot_ip``, which must then be a loopback address). A graph with an empty sim section
  refuses ``use_sim``.

This module imports neither rclpy nor launch: the CLI and the launch file both import it.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tracegen.errors import InputError
from tracegen.resources import share_dir

PACKAGE = "tracegen"
TRUE_VALUES = ("true", "1", "yes", "on")
FALSE_VALUES = ("false", "0", "no", "off")


@dataclass(frozen=True)
class Arg:
    """A parameter value taken from a launch argument."""

    name: str


@dataclass(frozen=True)
class ConfigDefault:
    """An argument's default read from a node's params file: ``config/<file>`` key ``parameter``."""

    file: str
    parameter: str


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    description: str
    default: str | ConfigDefault = ""
    boolean: bool = False


@dataclass(frozen=True)
class Condition:
    """Start the node only when boolean argument ``arg`` is ``when`` (IfCondition / UnlessCondition)."""

    arg: str
    when: bool = True

    def holds(self, values: Mapping[str, str]) -> bool:
        return parse_bool(self.arg, values[self.arg]) == self.when

    def __str__(self) -> str:
        return f"{self.arg}:={'true' if self.when else 'false'}"


@dataclass(frozen=True)
class NodeSpec:
    """One node (or, with ``package`` other than tracegen, one external executable such as rviz2).

    Attributes:
        name: the ROS node name (``__node``).
        executable: ``ros2 run <package> <executable>``; for tracegen also the module
            ``tracegen_ros.nodes.<executable>`` that ``tracegen bringup`` runs.
        namespace: the node's namespace (``__ns``), without leading slash.
        params_file: a file under config/ (None: no params file).
        parameters: parameter overrides; values may be :class:`Arg` references.
        remappings: (from, to) topic remappings.
        condition: start only when it holds.
        arguments: extra command-line arguments; strings starting with ``config/`` become paths
            in the share directory.
    """

    name: str
    executable: str
    namespace: str = ""
    params_file: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    condition: Condition | None = None
    package: str = PACKAGE
    arguments: tuple[str, ...] = ()

    @property
    def fully_qualified_name(self) -> str:
        return f"/{self.namespace}/{self.name}" if self.namespace else f"/{self.name}"


@dataclass(frozen=True)
class NodeGraph:
    arguments: tuple[LaunchArgument, ...]
    nodes: tuple[NodeSpec, ...]
    sim_nodes: tuple[NodeSpec, ...] = ()

    def argument(self, name: str) -> LaunchArgument:
        for argument in self.arguments:
            if argument.name == name:
                return argument
        raise InputError(
            f"the node graph has no argument {name!r}: known are {[a.name for a in self.arguments]}"
        )

    def all_nodes(self) -> tuple[NodeSpec, ...]:
        return self.nodes + self.sim_nodes

    def select(self, names: Iterable[str]) -> NodeGraph:
        """The graph reduced to the named nodes and the arguments they use (plus ``use_sim``),
        e.g. to start camera and inference on a workstation without the robot's config."""
        wanted = set(names)
        known = {n.name for n in self.all_nodes()}
        if wanted - known:
            raise InputError(
                f"the node graph has no node(s) {sorted(wanted - known)}: known are {sorted(known)}"
            )
        nodes = tuple(n for n in self.nodes if n.name in wanted)
        sim_nodes = tuple(n for n in self.sim_nodes if n.name in wanted)
        used = {"use_sim"}
        for node in nodes + sim_nodes:
            used |= {v.name for v in node.parameters.values() if isinstance(v, Arg)}
            if node.condition is not None:
                used.add(node.condition.arg)
        return NodeGraph(tuple(a for a in self.arguments if a.name in used), nodes, sim_nodes)


#: The camera topics as realsense2_camera names them (namespace camera, name camera).
CAMERA_TOPICS = {
    "color/image_raw": "/camera/camera/color/image_raw",
    "color/camera_info": "/camera/camera/color/camera_info",
    "aligned_depth_to_color/image_raw": "/camera/camera/aligned_depth_to_color/image_raw",
    "aligned_depth_to_color/camera_info": "/camera/camera/aligned_depth_to_color/camera_info",
}


def tracegen_graph() -> NodeGraph:
    """The stack of DESIGN.md: camera -> inference -> retarget -> IK controller (+ rviz, recorder)."""
    arguments = (
        LaunchArgument(
            "use_sim",
            "true: the simulated RealSense and franky-sim replace the camera and the arm",
            "false",
            boolean=True,
        ),
        LaunchArgument(
            "robot_ip",
            "IP address of the FR3 controller (franky / libfranka)",
            ConfigDefault("ik_controller.yaml", "robot_ip"),
        ),
        LaunchArgument(
            "camera_serial",
            "serial number of the RealSense to open (empty: the first one found)",
            ConfigDefault("capture.yaml", "serial_no"),
        ),
        LaunchArgument(
            "recording",
            "play this RealSense recording (.bag/.db3) instead of a live camera",
            ConfigDefault("capture.yaml", "rosbag_filename"),
        ),
        LaunchArgument(
            "checkpoint",
            "TraceGen checkpoint directory (empty: the inference node waits without a model)",
            ConfigDefault("inference.yaml", "model.checkpoint"),
        ),
        LaunchArgument(
            "instruction",
            "what the robot should do (also settable on /tracegen/instruction)",
            ConfigDefault("inference.yaml", "instruction"),
        ),
        LaunchArgument("rviz", "start rviz2 with config/tracegen.rviz", "false", boolean=True),
        LaunchArgument(
            "record_demos",
            "start the demo recorder (services /tracegen/demo_recorder/start, stop, abort)",
            "false",
            boolean=True,
        ),
    )
    nodes = (
        NodeSpec(
            name="camera",
            executable="capture_node",
            namespace="camera",
            params_file="capture.yaml",
            parameters={"serial_no": Arg("camera_serial"), "rosbag_filename": Arg("recording")},
            condition=Condition("use_sim", when=False),
        ),
        NodeSpec(
            name="inference_node",
            executable="inference_node",
            namespace="tracegen",
            params_file="inference.yaml",
            parameters={"model.checkpoint": Arg("checkpoint"), "instruction": Arg("instruction")},
            remappings=tuple(
                (name, topic)
                for name, topic in CAMERA_TOPICS.items()
                if name != "aligned_depth_to_color/camera_info"
            ),
        ),
        NodeSpec(
            name="retarget_node",
            executable="retarget_node",
            namespace="tracegen",
            params_file="retarget.yaml",
            remappings=(("joint_states", "/joint_states"),),
        ),
        NodeSpec(
            name="ik_controller_node",
            executable="ik_controller_node",
            namespace="tracegen",
            params_file="ik_controller.yaml",
            parameters={"robot_ip": Arg("robot_ip")},
            remappings=(("joint_states", "/joint_states"),),
        ),
        NodeSpec(
            name="demo_recorder",
            executable="demo_recorder_node",
            namespace="tracegen",
            params_file="demo_recorder.yaml",
            condition=Condition("record_demos"),
        ),
        NodeSpec(
            name="rviz2",
            executable="rviz2",
            package="rviz2",
            arguments=("-d", "config/tracegen.rviz"),
            condition=Condition("rviz"),
        ),
    )
    # The sim section: one process hosts the simulated world. It publishes CAMERA_TOPICS under
    # the real camera node's name and runs franky-sim's libfranka server at robot_ip (a loopback
    # address), which ik_controller_node connects to as to the real arm.
    sim_nodes = (
        NodeSpec(
            name="camera",
            executable="sim_camera_node",
            namespace="camera",
            params_file="sim_camera.yaml",
            parameters={"robot_ip": Arg("robot_ip")},
            condition=Condition("use_sim"),
        ),
    )
    return NodeGraph(arguments=arguments, nodes=nodes, sim_nodes=sim_nodes)


# --- arguments -------------------------------------------------------------------------------


def parse_bool(name: str, value: str) -> bool:
    text = str(value).strip().lower()
    if text in TRUE_VALUES:
        return True
    if text in FALSE_VALUES:
        return False
    raise InputError(f"argument {name} is {value!r}: expected true or false")


def read_params_file(path: Path) -> dict[str, Any]:
    """The flat ``ros__parameters`` of a params file (nested keys joined with '.')."""
    if not path.is_file():
        raise InputError(f"params file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"params file {path} is not valid YAML: {exc}") from None
    merged: dict[str, Any] = {}
    for section in data.values() if isinstance(data, dict) else ():
        if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
            merged.update(_flatten(section["ros__parameters"]))
    if not merged and data:
        raise InputError(f"params file {path} has no '<node>: ros__parameters:' section")
    return merged


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def argument_default(argument: LaunchArgument, config_dir: Path) -> str:
    """The default as a launch-argument string (config values are read from the params file)."""
    if isinstance(argument.default, str):
        return argument.default
    source = argument.default
    values = read_params_file(config_dir / source.file)
    if source.parameter not in values:
        raise InputError(
            f"argument {argument.name} takes its default from {source.parameter} in config/{source.file}, "
            "which does not set it"
        )
    value = values[source.parameter]
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def argument_values(
    graph: NodeGraph, given: Mapping[str, str] | None = None, config_dir: Path | None = None
) -> dict[str, str]:
    """Every argument's value: ``given`` over the defaults; unknown names and bad booleans raise."""
    config_dir = config_dir or share_dir() / "config"
    given = dict(given or {})
    known = {a.name for a in graph.arguments}
    unknown = sorted(set(given) - known)
    if unknown:
        raise InputError(f"unknown bringup argument(s) {unknown}: known are {sorted(known)}")
    values = {}
    for argument in graph.arguments:
        values[argument.name] = (
            str(given[argument.name]) if argument.name in given else argument_default(argument, config_dir)
        )
        if argument.boolean:
            values[argument.name] = "true" if parse_bool(argument.name, values[argument.name]) else "false"
    return values


# --- resolution for tracegen bringup ----------------------------------------------------------


@dataclass(frozen=True)
class ResolvedNode:
    """A node to start, with concrete values."""

    spec: NodeSpec
    params_file: Path | None
    parameters: dict[str, Any]
    arguments: tuple[str, ...]


def resolve(graph: NodeGraph, values: Mapping[str, str], share: Path | None = None) -> list[ResolvedNode]:
    """The nodes whose conditions hold, with arguments substituted and typed like their config.

    An argument substituted into a parameter gets the type of that parameter's value in the
    node's params file (so a numeric-looking serial number stays a string). Raises when
    ``use_sim`` is asked for while the sim section is empty, or with a non-loopback ``robot_ip``.
    """
    share = share or share_dir()
    if parse_bool("use_sim", values["use_sim"]) and not graph.sim_nodes:
        raise InputError(
            "use_sim is true but the node graph's sim section is empty: the simulated RealSense and "
            "franky-sim server nodes are not part of the graph yet (issue 5). Start the stack on "
            "hardware, or play a recording with recording:=<file.db3>"
        )
    if parse_bool("use_sim", values["use_sim"]) and "robot_ip" in values:
        _check_sim_robot_ip(values["robot_ip"])
    resolved = []
    for spec in graph.all_nodes():
        if spec.condition is not None and not spec.condition.holds(values):
            continue
        params_file = share / "config" / spec.params_file if spec.params_file else None
        config_values = read_params_file(params_file) if params_file is not None else {}
        parameters = {}
        for name, value in spec.parameters.items():
            if isinstance(value, Arg):
                value = _typed_like(config_values.get(name), values[value.name], f"{spec.name}.{name}")
            parameters[name] = value
        arguments = tuple(str(share / a) if a.startswith("config/") else a for a in spec.arguments)
        resolved.append(ResolvedNode(spec, params_file, parameters, arguments))
    return resolved


def _check_sim_robot_ip(robot_ip: str) -> None:
    """With use_sim the arm is franky-sim on a loopback address; a real robot's address is refused."""
    if not str(robot_ip).strip().startswith("127."):
        raise InputError(
            f"use_sim is true but robot_ip is {robot_ip!r}: the simulated arm listens on a loopback "
            "address; pass robot_ip:=127.0.0.2 (or another 127.x.y.z)"
        )


def _typed_like(reference: Any, text: str, where: str) -> Any:
    """``text`` converted to the type of ``reference`` (str when the reference is absent)."""
    if isinstance(reference, bool):
        return parse_bool(where, text)
    try:
        if isinstance(reference, int):
            return int(text)
        if isinstance(reference, float):
            return float(text)
    except ValueError:
        raise InputError(f"{where} needs a {type(reference).__name__}, got {text!r}") from None
    return text


def overrides_yaml(node: ResolvedNode) -> str:
    """A params file with the node's argument-derived parameters (typed, quoted safely)."""
    return yaml.safe_dump(
        {"/**": {"ros__parameters": dict(node.parameters)}}, sort_keys=True, allow_unicode=True
    )


def node_command(
    node: ResolvedNode, overrides_file: Path | None = None, *, python: str = sys.executable
) -> list[str]:
    """The command line of one node: ``python -m tracegen_ros.nodes.<executable> --ros-args ...``.

    ``overrides_file`` holds :func:`overrides_yaml` (needed when the node has parameters); it
    follows the config params file, so it wins. External executables (rviz2) run as they are.
    """
    spec = node.spec
    if spec.package != PACKAGE:
        return [spec.executable, *node.arguments]
    command = [python, "-m", f"tracegen_ros.nodes.{spec.executable}", *node.arguments, "--ros-args"]
    command += ["-r", f"__node:={spec.name}"]
    if spec.namespace:
        command += ["-r", f"__ns:=/{spec.namespace}"]
    if node.params_file is not None:
        command += ["--params-file", str(node.params_file)]
    if node.parameters:
        if overrides_file is None:
            raise InputError(f"node {spec.name} has argument parameters: pass the file of overrides_yaml()")
        command += ["--params-file", str(overrides_file)]
    for source, target in spec.remappings:
        command += ["-r", f"{source}:={target}"]
    return command


def format_command(command: Iterable[str]) -> str:
    return " ".join(shlex.quote(part) for part in command)


# --- translation for ros2 launch ---------------------------------------------------------------


@dataclass(frozen=True)
class LaunchApi:
    """The launch / launch_ros constructors the translation uses (real ones on a robot PC)."""

    LaunchDescription: Callable[..., Any]
    DeclareLaunchArgument: Callable[..., Any]
    LaunchConfiguration: Callable[..., Any]
    IfCondition: Callable[..., Any]
    UnlessCondition: Callable[..., Any]
    LogInfo: Callable[..., Any]
    Node: Callable[..., Any]
    ParameterValue: Callable[..., Any]

    @classmethod
    def from_ros(cls) -> LaunchApi:
        """Import the real classes (only on a machine with ROS 2's launch and launch_ros)."""
        from launch.actions import DeclareLaunchArgument, LogInfo
        from launch.conditions import IfCondition, UnlessCondition
        from launch.substitutions import LaunchConfiguration
        from launch_ros.actions import Node
        from launch_ros.parameter_descriptions import ParameterValue

        from launch import LaunchDescription

        return cls(
            LaunchDescription=LaunchDescription,
            DeclareLaunchArgument=DeclareLaunchArgument,
            LaunchConfiguration=LaunchConfiguration,
            IfCondition=IfCondition,
            UnlessCondition=UnlessCondition,
            LogInfo=LogInfo,
            Node=Node,
            ParameterValue=ParameterValue,
        )


def launch_description(api: LaunchApi, graph: NodeGraph | None = None, share: Path | None = None) -> Any:
    """The graph as a LaunchDescription: arguments, then one Node action per node.

    Parameters: the node's params file, then a dict of argument-derived values wrapped in
    ``ParameterValue(value_type=<type in the params file>)`` so launch does not re-type them.
    """
    graph = graph or tracegen_graph()
    share = share or share_dir()
    config_dir = share / "config"
    entities: list[Any] = [
        api.DeclareLaunchArgument(
            a.name, default_value=argument_default(a, config_dir), description=a.description
        )
        for a in graph.arguments
    ]
    if not graph.sim_nodes:
        entities.append(
            api.LogInfo(
                msg="use_sim:=true is not available yet: the node graph's sim section is empty (issue 5)",
                condition=api.IfCondition(api.LaunchConfiguration("use_sim")),
            )
        )
    for spec in graph.all_nodes():
        entities.append(_launch_node(api, spec, share))
    return api.LaunchDescription(entities)


def _launch_condition(api: LaunchApi, condition: Condition | None) -> Any:
    if condition is None:
        return None
    make = api.IfCondition if condition.when else api.UnlessCondition
    return make(api.LaunchConfiguration(condition.arg))


def _launch_node(api: LaunchApi, spec: NodeSpec, share: Path) -> Any:
    kwargs: dict[str, Any] = {
        "package": spec.package,
        "executable": spec.executable,
        "name": spec.name,
        "output": "screen",
    }
    if spec.namespace:
        kwargs["namespace"] = spec.namespace
    parameters: list[Any] = []
    if spec.params_file:
        params_path = share / "config" / spec.params_file
        parameters.append(str(params_path))
        config_values = read_params_file(params_path)
        overrides = {}
        for name, value in spec.parameters.items():
            if isinstance(value, Arg):
                value_type = type(config_values.get(name, ""))
                value = api.ParameterValue(api.LaunchConfiguration(value.name), value_type=value_type)
            overrides[name] = value
        if overrides:
            parameters.append(overrides)
    if parameters:
        kwargs["parameters"] = parameters
    if spec.remappings:
        kwargs["remappings"] = list(spec.remappings)
    if spec.arguments:
        kwargs["arguments"] = [str(share / a) if a.startswith("config/") else a for a in spec.arguments]
    condition = _launch_condition(api, spec.condition)
    if condition is not None:
        kwargs["condition"] = condition
    return api.Node(**kwargs)
