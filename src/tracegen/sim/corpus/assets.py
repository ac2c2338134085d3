"""Where the cross-embodiment corpus finds its robot models, and how it loads them.

The arm and gripper models (MJCF + meshes) come from the robosuite 1.5.2 wheel, used as a
pinned DATA ASSET: scripts/setup.sh downloads the wheel (``pip download --no-deps``), checks
its sha256 and extracts only the robot and gripper folders into
``.cache/robot-assets/robosuite-1.5.2/``. robosuite itself is not installed (its dependencies
break ``pip check``), and the ``mujoco-menagerie`` package on PyPI is a stub that fetches the
models from GitHub at run time, which CI and these machines cannot reach.

robosuite's files are written for robosuite's own MJCF merger, so :func:`load_mjcf` makes each
one stand alone for MuJoCo's ``MjSpec``: absolute mesh paths, radians, no duplicate asset
names, no ``group`` attribute on ``<default>`` (robosuite strips those itself).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from tracegen.errors import InputError

ROBOSUITE_VERSION = "1.5.2"
ENV_VAR = "TRACEGEN_ROBOSUITE_ASSETS"
#: Relative to the checkout root (scripts/setup.sh writes it).
DEFAULT_RELATIVE_DIR = Path(".cache") / "robot-assets" / f"robosuite-{ROBOSUITE_VERSION}"


def _checkout_root() -> Path:
    return Path(__file__).resolve().parents[4]


def assets_dir() -> Path:
    """The ``models/assets`` directory (holding ``robots/`` and ``grippers/``).

    ``$TRACEGEN_ROBOSUITE_ASSETS`` overrides the default ``<checkout>/.cache/robot-assets/...``.
    Raises :class:`InputError` naming scripts/setup.sh when it is missing.
    """
    override = os.environ.get(ENV_VAR)
    path = Path(override) if override else _checkout_root() / DEFAULT_RELATIVE_DIR
    if not (path / "robots").is_dir() or not (path / "grippers").is_dir():
        source = f"${ENV_VAR}={override}" if override else "the default location"
        raise InputError(
            f"robot models for the corpus are missing: {path} (from {source}) has no robots/ and "
            f"grippers/ folders. Run scripts/setup.sh (it extracts them from the pinned robosuite "
            f"{ROBOSUITE_VERSION} wheel) or point ${ENV_VAR} at robosuite's models/assets directory"
        )
    return path


def load_mjcf(path: Path):
    """A robosuite MJCF file as a standalone ``mujoco.MjSpec`` (see the module docstring)."""
    import mujoco

    if not path.is_file():
        raise InputError(f"robot model {path} is missing: run scripts/setup.sh again")
    root = ET.parse(path).getroot()
    for element in root.iter():
        if "file" in element.attrib:
            element.set("file", str(path.parent / element.get("file")))
    for default in root.iter("default"):
        default.attrib.pop("group", None)
    compiler = root.find("compiler")
    if compiler is None:
        compiler = ET.Element("compiler")
        root.insert(0, compiler)
    compiler.set("angle", "radian")  # robosuite's gripper files rely on the robot's compiler
    for asset in root.iter("asset"):
        seen: set[tuple[str, str]] = set()
        for element in list(asset):
            key = (element.tag, element.get("name", ""))
            if key[1] and key in seen:
                asset.remove(element)
            seen.add(key)
    return mujoco.MjSpec.from_string(ET.tostring(root, encoding="unicode"))
