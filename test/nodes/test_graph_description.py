"""The node graph: the one description read by launch/bringup.launch.py and `tracegen bringup`."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

import tracegen_ros.graph as graph_module
from tracegen.errors import InputError
from tracegen.resources import share_dir
from tracegen_ros.graph import (
    CAMERA_TOPICS,
    Arg,
    LaunchApi,
    argument_values,
    launch_description,
    node_command,
    overrides_yaml,
    read_params_file,
    resolve,
    tracegen_graph,
)

SHARE = share_dir()
NODES_DIR = Path(graph_module.__file__).parent / "nodes"
DEFAULTS = {"use_sim": "false", "rviz": "false", "record_demos": "false"}


def own_nodes():
    return [n for n in tracegen_graph().all_nodes() if n.package == "tracegen"]


def resolved(**given):
    graph = tracegen_graph()
    return {n.spec.name: n for n in resolve(graph, argument_values(graph, given))}


@pytest.mark.parametrize("spec", own_nodes(), ids=lambda s: s.name)
def test_every_node_is_a_module_under_tracegen_ros_nodes_with_a_params_file(spec):
    assert (NODES_DIR / f"{spec.executable}.py").is_file(), f"{spec.executable} has no node module"
    assert (SHARE / "config" / spec.params_file).is_file(), f"config/{spec.params_file} is missing"


@pytest.mark.parametrize("use_sim", ["false", "true"])
def test_node_names_are_unique_and_the_camera_is_named_like_realsense_ros(use_sim):
    nodes = resolved(use_sim=use_sim, robot_ip="127.0.0.2", rviz="true", record_demos="true").values()
    names = [n.spec.fully_qualified_name for n in nodes]
    assert len(names) == len(set(names))
    assert "/camera/camera" in names, "realsense2_camera's namespace/name, so its topics match"


def test_argument_defaults_come_from_the_node_config_files():
    values = argument_values(tracegen_graph())
    capture = read_params_file(SHARE / "config" / "capture.yaml")
    inference = read_params_file(SHARE / "config" / "inference.yaml")
    assert values["recording"] == capture["rosbag_filename"]
    assert values["camera_serial"] == capture["serial_no"]
    assert values["checkpoint"] == inference["model.checkpoint"]
    assert values["instruction"] == inference["instruction"]
    assert {k: values[k] for k in DEFAULTS} == DEFAULTS


def test_arguments_become_typed_parameters_of_the_nodes_that_use_them():
    nodes = resolved(
        camera_serial="012345678901", recording="/data/demo.db3", checkpoint="/ckpt", instruction="yes"
    )
    assert nodes["camera"].parameters == {"serial_no": "012345678901", "rosbag_filename": "/data/demo.db3"}
    assert nodes["inference_node"].parameters == {"model.checkpoint": "/ckpt", "instruction": "yes"}
    text = overrides_yaml(nodes["camera"])
    assert yaml.safe_load(text)["/**"]["ros__parameters"]["serial_no"] == "012345678901", "stays text"
    assert (
        yaml.safe_load(overrides_yaml(nodes["inference_node"]))["/**"]["ros__parameters"]["instruction"]
        == "yes"
    )


def test_conditions_select_optional_nodes():
    assert {"rviz2", "demo_recorder"}.isdisjoint(resolved())
    assert {"rviz2", "demo_recorder"} <= set(resolved(rviz="true", record_demos="true"))


def test_use_sim_replaces_the_realsense_by_the_simulated_world_at_a_loopback_robot_ip():
    nodes = resolved(use_sim="true", robot_ip="127.0.0.5")
    assert nodes["camera"].spec.executable == "sim_camera_node"
    assert nodes["camera"].spec.namespace == "camera", "the real camera's topics"
    assert nodes["camera"].parameters == {"robot_ip": "127.0.0.5"}
    assert nodes["ik_controller_node"].parameters == {"robot_ip": "127.0.0.5"}, "drives the simulated arm"
    assert resolved()["camera"].spec.executable == "capture_node"


def test_use_sim_with_a_real_robot_address_is_refused():
    with pytest.raises(InputError, match="loopback"):
        resolved(use_sim="true", robot_ip="172.16.0.2")


def test_use_sim_is_refused_by_a_graph_without_a_sim_section():
    graph = tracegen_graph()
    bare = type(graph)(arguments=graph.arguments, nodes=graph.nodes)
    with pytest.raises(InputError, match="sim section is empty"):
        resolve(bare, argument_values(bare, {"use_sim": "true", "robot_ip": "127.0.0.2"}))


@pytest.mark.parametrize(
    ("given", "message"),
    [({"rviz": "maybe"}, "expected true or false"), ({"robto_ip": "1.2.3.4"}, "unknown bringup argument")],
)
def test_bad_arguments_are_refused(given, message):
    with pytest.raises(InputError, match=message):
        argument_values(tracegen_graph(), given)


def test_the_inference_node_reads_the_realsense_topics_through_remappings():
    remaps = dict(resolved()["inference_node"].spec.remappings)
    assert remaps["color/image_raw"] == "/camera/camera/color/image_raw"
    assert remaps["aligned_depth_to_color/image_raw"] == "/camera/camera/aligned_depth_to_color/image_raw"
    assert remaps["color/camera_info"] == "/camera/camera/color/camera_info"


def test_node_commands_run_the_module_with_params_files_overrides_and_remaps(tmp_path):
    node = resolved(instruction="stack the cups")["inference_node"]
    overrides = tmp_path / "o.yaml"
    command = node_command(node, overrides, python="python3")
    assert command[:3] == ["python3", "-m", "tracegen_ros.nodes.inference_node"]
    ros_args = command[command.index("--ros-args") + 1 :]
    assert ros_args[:4] == ["-r", "__node:=inference_node", "-r", "__ns:=/tracegen"]
    files = [ros_args[i + 1] for i, a in enumerate(ros_args) if a == "--params-file"]
    assert files == [str(SHARE / "config" / "inference.yaml"), str(overrides)], "overrides come last and win"
    assert "color/image_raw:=/camera/camera/color/image_raw" in ros_args


def test_rviz_runs_as_an_external_executable_with_the_shipped_config():
    node = resolved(rviz="true")["rviz2"]
    assert node_command(node) == ["rviz2", "-d", str(SHARE / "config" / "tracegen.rviz")]


def test_a_subset_keeps_only_the_arguments_its_nodes_use():
    sub = tracegen_graph().select(["camera", "inference_node"])
    assert [n.name for n in sub.nodes] == ["camera", "inference_node"]
    assert [n.executable for n in sub.sim_nodes] == ["sim_camera_node"], "the simulated camera too"
    assert {a.name for a in sub.arguments} == {
        "use_sim",
        "robot_ip",
        "camera_serial",
        "recording",
        "checkpoint",
        "instruction",
    }
    with pytest.raises(InputError, match="no node"):
        tracegen_graph().select(["kamera"])


# --- the launch adapter ---------------------------------------------------------------------


@dataclass
class Recorded:
    """Stands in for a launch/launch_ros class: keeps what it was constructed with."""

    kind: str
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def recording_api() -> LaunchApi:
    def make(kind):
        return lambda *args, **kwargs: Recorded(kind, args, kwargs)

    return LaunchApi(**{name: make(name) for name in LaunchApi.__dataclass_fields__})


def test_the_launch_description_declares_every_argument_with_its_default():
    description = launch_description(recording_api())
    declared = {
        e.args[0]: e.kwargs["default_value"] for e in description.args[0] if e.kind == "DeclareLaunchArgument"
    }
    assert declared == argument_values(tracegen_graph())


def test_each_node_becomes_a_launch_node_with_the_same_files_remaps_and_conditions():
    description = launch_description(recording_api())
    launch_nodes = {
        (e.kwargs["name"], e.kwargs["executable"]): e.kwargs for e in description.args[0] if e.kind == "Node"
    }
    for spec in tracegen_graph().all_nodes():
        kwargs = launch_nodes[(spec.name, spec.executable)]
        assert (kwargs["package"], kwargs["executable"]) == (spec.package, spec.executable)
        assert kwargs.get("namespace", "") == spec.namespace
        assert kwargs.get("remappings", []) == list(spec.remappings)
        if spec.params_file:
            assert kwargs["parameters"][0] == str(SHARE / "config" / spec.params_file)
        for name, value in spec.parameters.items():
            wrapped = kwargs["parameters"][1][name]
            assert isinstance(value, Arg) and wrapped.kind == "ParameterValue"
            assert wrapped.args[0].kind == "LaunchConfiguration" and wrapped.args[0].args == (value.name,)
            assert wrapped.kwargs["value_type"] is str
        if spec.condition is None:
            assert "condition" not in kwargs
        else:
            condition = kwargs["condition"]
            assert condition.kind == ("IfCondition" if spec.condition.when else "UnlessCondition")
            assert condition.args[0].args == (spec.condition.arg,)


def test_the_launch_file_is_a_thin_adapter_over_the_graph(monkeypatch):
    monkeypatch.setattr(LaunchApi, "from_ros", classmethod(lambda cls: recording_api()))
    path = SHARE / "launch" / "bringup.launch.py"
    spec = importlib.util.spec_from_file_location("bringup_launch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert description == launch_description(recording_api())


# --- config files and rviz --------------------------------------------------------------------


def node_params(module_name: str):
    import importlib

    return importlib.import_module(f"tracegen_ros.nodes.{module_name}").PARAMS


@pytest.mark.ros
@pytest.mark.parametrize(
    ("module_name", "config"),
    [
        ("capture_node", "capture.yaml"),
        ("inference_node", "inference.yaml"),
        ("demo_recorder_node", "demo_recorder.yaml"),
        ("sim_camera_node", "sim_camera.yaml"),
    ],
)
def test_config_files_list_every_parameter_with_a_comment_and_a_valid_value(module_name, config):
    specs = {s.name: s for s in node_params(module_name)}
    path = SHARE / "config" / config
    values = read_params_file(path)
    assert set(values) == set(specs), "config and node declare the same parameters"
    lines = path.read_text().splitlines()
    for name, spec in specs.items():
        (index,) = [i for i, line in enumerate(lines) if line.strip().startswith(f"{name}:")]
        assert lines[index - 1].strip().startswith("#"), f"{name} has no comment above it in {config}"
        assert type(values[name]) is type(spec.default), (
            f"{name}: {values[name]!r} is not a {type(spec.default)}"
        )
        spec.validate(values[name])
        assert spec.description


def test_the_rviz_config_shows_the_image_the_traces_and_the_path_in_the_robot_base_frame():
    config = yaml.safe_load((SHARE / "config" / "tracegen.rviz").read_text())
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "fr3_link0"
    displays = {d["Class"]: d for d in manager["Displays"]}
    assert displays["rviz_default_plugins/Image"]["Topic"]["Value"] == CAMERA_TOPICS["color/image_raw"]
    assert displays["rviz_default_plugins/Image"]["Topic"]["Reliability Policy"] == "Best Effort"
    assert displays["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == "/tracegen/trace_markers"
    assert displays["rviz_default_plugins/MarkerArray"]["Namespaces"] == {"traces": True}
    assert displays["rviz_default_plugins/Path"]["Topic"]["Value"] == "/tracegen/ee_path"
    assert all(d["Enabled"] for d in displays.values())
    assert {p["Class"] for p in config["Panels"]} >= {"rviz_common/Displays", "rviz_common/Views"}
