"""pip installation of the Python side of tracegen (the ROS-free core and the node modules).

Training and data machines without ROS use ``pip install .[model,forge]``; the robot PC uses
the colcon package (CMakeLists.txt), which installs the same modules plus the generated
messages. launch/, config/ and models/ go to ``<prefix>/share/tracegen`` in both cases, where
:mod:`tracegen.resources` finds them. The exact versions the project is tested with are in
requirements/lock.txt.
"""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent


def share_files(*folders: str) -> list[tuple[str, list[str]]]:
    """``data_files`` entries that mirror the colcon layout: share/tracegen/<folder>/..."""
    entries: dict[str, list[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                rel = path.relative_to(ROOT)
                entries.setdefault(f"share/tracegen/{rel.parent.as_posix()}", []).append(rel.as_posix())
    entries["share/tracegen"] = ["package.xml"]
    return sorted(entries.items())


EXTRAS = {
    "model": [
        "torch>=2.4",
        "transformers>=5.0",
        "diffusers>=0.42",
        "flow-matching>=1.0.10",
        "safetensors>=0.4",
        "sentencepiece>=0.2",
        "einops>=0.8",
        "tensorboard>=2.16",
    ],
    "forge": [
        "opencv-python-headless>=4.9",
        "av>=12",
        "pillow>=10",
        "pyarrow>=15",
        "ray[data]>=2.40",
        "rosbags>=0.10",
        "mcap>=1.1",
        "mcap-ros2-support>=0.5",
        "matplotlib>=3.8",
    ],
    "robot": ["pin>=3.0", "pin-pink>=3.0", "qpsolvers>=4.0", "daqp>=0.5", "franky-control>=2.0"],
    "sim": ["mujoco>=3.2", "franky-sim>=1.0"],
    "camera": ["pyrealsense2>=2.55"],
    "teleop": ["pyspacemouse>=1.1"],
    "test": ["pytest>=8", "pytest-timeout>=2.3", "pytest-xdist>=3.5", "hypothesis>=6.100"],
}
EXTRAS["all"] = sorted({req for reqs in EXTRAS.values() for req in reqs})

setup(
    name="tracegen",
    version="0.1.0",
    description="TraceGen world model on a Franka FR3 + RealSense: ROS 2 nodes, data engine, training",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    package_dir={"": "src"},
    packages=find_packages("src", include=["tracegen", "tracegen.*", "tracegen_ros", "tracegen_ros.*"]),
    include_package_data=True,
    data_files=share_files("launch", "config", "models"),
    install_requires=["numpy>=1.26", "pyyaml>=6", "typer>=0.12", "rich>=13", "tqdm>=4.66"],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["tracegen = tracegen.cli.main:main"]},
)
