"""Inference-node latency: an RGB-D frame set in -> TraceGrid out, across processes.

The inference node runs as in the graph (its own process, ``model.preset`` with random weights,
sampler defaults of the preset); this script publishes one synchronised colour + aligned depth
(16UC1) + camera_info set like a RealSense driver, waits for the TraceGrid with that stamp and
records the time between publishing and receiving (DDS both ways, conversion, validation, the
model, markers). One frame set at a time, after warm-up, so no frame waits behind another.

Presets: ``tiny`` (the test preset) and ``sim`` (the CPU-trainable preset of the simulated
world); ``--presets paper`` adds the paper-size model (slow on CPU). Run:
``scripts/in-env python benchmarks/bench_nodes_inference_latency.py [--presets tiny sim] [--device cpu]
[--resolution 640x480] [--threads 2]``. Frames are sent once the node has loaded its model (a frame
sent while it loads would be dropped as stale). On the development machine 640x480 sets sent over
best-effort DDS rarely arrived whole (see the README), so its figures were taken at 320x240.
Writes benchmarks/results/nodes_inference_latency.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "nodes_inference_latency.json"
FRAME = "camera_color_optical_frame"
#: Longest wait for one TraceGrid before the frame set counts as lost (paper preset on CPU: ~1 min).
ATTEMPT_TIMEOUT_S = 180.0


def start_inference_node(preset: str, device: str, threads: int, work: Path, env: dict) -> subprocess.Popen:
    from tracegen.resources import share_dir
    from tracegen_ros.graph import ResolvedNode, node_command, overrides_yaml, tracegen_graph

    (spec,) = [n for n in tracegen_graph().nodes if n.name == "inference_node"]
    parameters = {
        "model.preset": preset,
        "model.device": device,
        "model.threads": threads,
        "instruction": "put the red block in the bowl",
        "seed": 0,
    }
    node = ResolvedNode(spec, share_dir() / "config" / spec.params_file, parameters, ())
    overrides = work / "overrides.yaml"
    overrides.write_text(overrides_yaml(node))
    log = open(work / f"inference_{preset}.log", "wb")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(node_command(node, overrides), env=env, stdout=log, stderr=subprocess.STDOUT)


def frame_messages(stamp, width: int, height: int):
    from sensor_msgs.msg import CameraInfo  # noqa: F401 - type of the info message

    from tracegen.trace import CameraIntrinsics
    from tracegen_ros.camera_info import intrinsics_to_camera_info
    from tracegen_ros.images import numpy_to_image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    depth_mm = np.full((height, width), 750, np.uint16)
    color = numpy_to_image(rgb, "rgb8", frame_id=FRAME, stamp=stamp)
    depth = numpy_to_image(depth_mm, "16UC1", frame_id=FRAME, stamp=stamp)
    focal_px = 615.0 * width / 640
    info = intrinsics_to_camera_info(
        CameraIntrinsics(width, height, focal_px, focal_px, (width - 1) / 2, (height - 1) / 2), FRAME
    )
    info.header.stamp = stamp
    return color, depth, info


def measure(
    preset: str,
    device: str,
    threads: int,
    samples: int,
    warmup: int,
    env: dict,
    size: tuple[int, int],
    attempt_timeout_s: float = ATTEMPT_TIMEOUT_S,
) -> dict:
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import CameraInfo, Image

    from tracegen.msg import TraceGrid
    from tracegen_ros.graph import CAMERA_TOPICS
    from tracegen_ros.qos import COMMAND_QOS, SENSOR_QOS

    with tempfile.TemporaryDirectory() as tmp:
        process = start_inference_node(preset, device, threads, Path(tmp), env)
        context = Context()
        rclpy.init(context=context)
        node = rclpy.create_node("bench_probe", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        received: dict[tuple[int, int], tuple[float, float]] = {}
        arrived = threading.Condition()

        def on_trace(msg: TraceGrid) -> None:
            with arrived:
                received[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = (
                    time.perf_counter(),
                    float(msg.inference_latency_s),
                )
                arrived.notify_all()

        node.create_subscription(TraceGrid, "/tracegen/trace", on_trace, COMMAND_QOS)
        pubs = [
            node.create_publisher(Image, CAMERA_TOPICS["color/image_raw"], SENSOR_QOS),
            node.create_publisher(Image, CAMERA_TOPICS["aligned_depth_to_color/image_raw"], SENSOR_QOS),
            node.create_publisher(CameraInfo, CAMERA_TOPICS["color/camera_info"], SENSOR_QOS),
        ]
        try:
            # Subscribed, and the model loaded: a frame sent while it loads is dropped as stale.
            log_path = Path(tmp) / f"inference_{preset}.log"
            while any(
                pub.get_subscription_count() == 0 for pub in pubs
            ) or " ready in " not in log_path.read_text(errors="replace"):
                if process.poll() is not None:
                    raise RuntimeError(
                        f"the inference node exited: {(Path(tmp) / f'inference_{preset}.log').read_text()}"
                    )
                time.sleep(0.1)
            end_to_end, reported = [], []
            for i in range(warmup + samples):
                for _attempt in range(3):  # sensor QoS is best effort: resend if a set is lost
                    stamp = node.get_clock().now().to_msg()
                    key = (stamp.sec, stamp.nanosec)
                    messages = frame_messages(stamp, *size)
                    sent = time.perf_counter()
                    for pub, msg in zip(pubs, messages, strict=True):
                        pub.publish(msg)
                    with arrived:
                        if arrived.wait_for(lambda key=key: key in received, timeout=attempt_timeout_s):
                            break
                else:
                    log = (Path(tmp) / f"inference_{preset}.log").read_text(errors="replace")
                    raise RuntimeError(
                        f"no TraceGrid for three {size[0]}x{size[1]} frame sets in a row; the node's log:\n"
                        + log[-3000:]
                    )
                if i >= warmup:
                    done, node_latency = received[key]
                    end_to_end.append(done - sent)
                    reported.append(node_latency)
        finally:
            process.send_signal(2)
            process.wait(30)
            executor.shutdown()
            node.destroy_node()
            rclpy.try_shutdown(context=context)
    return {
        "preset": preset,
        "device": device,
        "resolution": f"{size[0]}x{size[1]}",
        "torch_threads": threads,
        "samples": samples,
        "image_in_to_tracegrid_out_s": {
            "median": statistics.median(end_to_end),
            "min": min(end_to_end),
            "max": max(end_to_end),
        },
        "node_reported_latency_s": {"median": statistics.median(reported)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "sim"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads in the node")
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--resolution", default="640x480", help="frame size WxH")
    parser.add_argument(
        "--attempt-timeout", type=float, default=ATTEMPT_TIMEOUT_S, help="seconds to wait for one TraceGrid"
    )
    args = parser.parse_args()
    width, height = (int(v) for v in args.resolution.lower().split("x"))

    from tracegen.runtime_env import ros_environment

    env = ros_environment()
    env.setdefault("ROS_DOMAIN_ID", str(random.randint(101, 200)))
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    rows = [
        measure(
            p,
            args.device,
            args.threads,
            args.samples,
            args.warmup,
            env,
            (width, height),
            args.attempt_timeout,
        )
        for p in args.presets
    ]
    report = {
        "benchmark": "inference node latency, RGB-D frame set in -> TraceGrid out (across processes)",
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_at_end": os.getloadavg(),
        },
        "results": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(
        "| preset | device | resolution | torch threads | samples | "
        "image in -> TraceGrid out, median (min-max) | node-reported |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        e2e = row["image_in_to_tracegrid_out_s"]
        print(
            f"| {row['preset']} | {row['device']} | {row['resolution']} | {row['torch_threads']} | "
            f"{row['samples']} | "
            f"{e2e['median']:.3f} s ({e2e['min']:.3f}-{e2e['max']:.3f}) | "
            f"{row['node_reported_latency_s']['median']:.3f} s |"
        )
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
