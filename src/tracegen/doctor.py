"""``tracegen doctor``: is every part of the stack present and working on this machine?

Each check imports or exercises one part for real (the generated message is instantiated,
MuJoCo renders a frame, the FR3 URDF loads into Pinocchio) and reports a one-line detail.
Required parts make the command exit non-zero when missing; optional ones (a GPU, a
connected RealSense) are reported only.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    required: bool
    detail: str


class PartMissingError(Exception):
    """Raised inside a check with the one-line reason it failed."""


def _version(module_name: str, distribution: str | None = None) -> str:
    """Import ``module_name`` (so a broken install fails here) and return its version."""
    module = importlib.import_module(module_name)
    if distribution is not None:
        return importlib.metadata.version(distribution)
    return str(getattr(module, "__version__", "present"))


def check_python() -> str:
    return f"{platform.python_version()} ({sys.executable})"


def check_rclpy() -> str:
    import rclpy
    from rclpy.utilities import get_rmw_implementation_identifier

    return f"rclpy at {os.path.dirname(rclpy.__file__)}; RMW {get_rmw_implementation_identifier()}"


def check_messages() -> str:
    try:
        from tracegen.msg import TraceGrid
    except ImportError as exc:
        raise PartMissingError(
            f"tracegen.msg not importable ({exc}): run scripts/setup.sh (colcon build) and use "
            "scripts/env.sh, or source the colcon install's setup.bash"
        ) from exc
    msg = TraceGrid()
    msg.rows = 20
    return f"tracegen/msg/TraceGrid from {os.path.dirname(sys.modules[TraceGrid.__module__].__file__)}"


def check_ros_message_packages() -> str:
    names = ["sensor_msgs", "geometry_msgs", "nav_msgs", "visualization_msgs", "std_srvs", "diagnostic_msgs"]
    for name in names:
        importlib.import_module(f"{name}.msg" if name != "std_srvs" else "std_srvs.srv")
    return ", ".join(names)


def check_pinocchio() -> str:
    import pinocchio

    from tracegen.robot_assets import fr3_urdf_path

    model = pinocchio.buildModelFromUrdf(str(fr3_urdf_path()))
    return f"pinocchio {pinocchio.__version__}; FR3 URDF loads ({model.nq} joints)"


def check_franky() -> str:
    return f"franky-control {_version('franky', 'franky-control')} (libfranka client)"


def check_franky_sim() -> str:
    from tracegen.robot_assets import fr3_mjcf_path

    return f"franky-sim {_version('franky_sim', 'franky-sim')}; FR3 MJCF {fr3_mjcf_path()}"


def check_pyrealsense2() -> str:
    try:
        import pyrealsense2 as rs
    except ImportError as exc:
        raise PartMissingError(f"{exc}: on Debian install libusb-1.0-0") from exc
    devices = rs.context().query_devices()
    return f"pyrealsense2 {rs.__version__}; {len(devices)} camera(s) connected"


def check_mujoco_rendering() -> str:
    backend = os.environ.get("MUJOCO_GL", "(unset: glfw, needs a display)")
    import mujoco

    model = mujoco.MjModel.from_xml_string(
        "<mujoco><worldbody><light pos='0 0 2'/><geom type='box' size='.1 .1 .1'/>"
        "<camera name='c' pos='0 -1 0.3' xyaxes='1 0 0 0 0.3 1'/></worldbody></mujoco>"
    )
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    renderer = mujoco.Renderer(model, 32, 32)
    try:
        renderer.update_scene(data, camera="c")
        rgb = renderer.render()
    except Exception as exc:
        raise PartMissingError(
            f"MuJoCo {mujoco.__version__} cannot render with MUJOCO_GL={backend}: {exc}. "
            "Without a display use MUJOCO_GL=osmesa and install libosmesa6"
        ) from exc
    finally:
        renderer.close()
    return f"mujoco {mujoco.__version__}; rendered {rgb.shape[1]}x{rgb.shape[0]} with MUJOCO_GL={backend}"


def check_torch() -> str:
    import torch

    return f"torch {torch.__version__}; {torch.get_num_threads()} CPU threads"


def check_gpu() -> str:
    import torch

    if not torch.cuda.is_available():
        raise PartMissingError("no CUDA GPU (fine: every part runs on the CPU)")
    return ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))


def check_model_libraries() -> str:
    return (
        f"transformers {_version('transformers')}, diffusers {_version('diffusers')}, "
        f"flow_matching {_version('flow_matching')}, safetensors {_version('safetensors')}"
    )


def check_data_libraries() -> str:
    return (
        f"opencv {_version('cv2')}, av {_version('av')}, pyarrow {_version('pyarrow')}, "
        f"ray {_version('ray')}, rosbags {_version('rosbags', 'rosbags')}"
    )


#: (name, required, check). Each check returns a detail string or raises.
CHECKS: list[tuple[str, bool, Callable[[], str]]] = [
    ("python", True, check_python),
    ("rclpy", True, check_rclpy),
    ("ros message packages", True, check_ros_message_packages),
    ("tracegen messages", True, check_messages),
    ("pinocchio", True, check_pinocchio),
    ("franky", True, check_franky),
    ("franky-sim", True, check_franky_sim),
    ("pyrealsense2", True, check_pyrealsense2),
    ("mujoco rendering", True, check_mujoco_rendering),
    ("torch", True, check_torch),
    ("model libraries", True, check_model_libraries),
    ("data libraries", True, check_data_libraries),
    ("gpu", False, check_gpu),
]


def run_checks() -> list[CheckResult]:
    results = []
    for name, required, check in CHECKS:
        try:
            results.append(CheckResult(name, True, required, check()))
        except PartMissingError as exc:
            results.append(CheckResult(name, False, required, str(exc)))
        except Exception as exc:  # a broken install raises anything; report it, go on
            results.append(CheckResult(name, False, required, f"{type(exc).__name__}: {exc}"))
    return results


def results_to_json(results: list[CheckResult]) -> dict:
    return {
        "ok": all(r.ok for r in results if r.required),
        "checks": [asdict(r) for r in results],
    }
