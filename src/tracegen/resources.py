"""Where the shipped files (config/, models/, launch/) are, whichever way tracegen was installed.

Search order, first match wins:

1. ``$TRACEGEN_SHARE_DIR`` (an explicit override);
2. the source checkout this module is imported from (``src/tracegen/..`` holds package.xml),
   so a developer's edits are used without reinstalling;
3. ``<prefix>/share/tracegen`` for every prefix on ``$AMENT_PREFIX_PATH`` (a colcon install);
4. ``<sys.prefix>/share/tracegen`` (``pip install``: setup.py's data_files).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tracegen.errors import TracegenError

PACKAGE_NAME = "tracegen"


def _is_share_dir(path: Path) -> bool:
    return (path / "package.xml").is_file() and (path / "config").is_dir()


def source_checkout_root() -> Path | None:
    """The repository root when tracegen is imported from a source checkout, else None."""
    root = Path(__file__).resolve().parents[2]
    return root if _is_share_dir(root) and (root / "src" / "tracegen").is_dir() else None


def share_dir_candidates() -> list[Path]:
    candidates: list[Path] = []
    override = os.environ.get("TRACEGEN_SHARE_DIR")
    if override:
        candidates.append(Path(override))
    checkout = source_checkout_root()
    if checkout is not None:
        candidates.append(checkout)
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        candidates.append(Path(prefix) / "share" / PACKAGE_NAME)
    candidates.append(Path(sys.prefix) / "share" / PACKAGE_NAME)
    return candidates


def share_dir() -> Path:
    """The directory holding config/, models/ and launch/ (see the module docstring)."""
    candidates = share_dir_candidates()
    for candidate in candidates:
        if _is_share_dir(candidate):
            return candidate
    raise TracegenError(
        "cannot find tracegen's shared files (config/, models/, launch/); looked in "
        + ", ".join(str(c) for c in candidates)
        + ". Install tracegen with pip or colcon, or set TRACEGEN_SHARE_DIR."
    )


def config_path(name: str) -> Path:
    """A file under config/, e.g. ``config_path("camera.yaml")``."""
    path = share_dir() / "config" / name
    if not path.is_file():
        raise TracegenError(f"no shipped config file {name!r} in {path.parent}")
    return path


def models_dir() -> Path:
    return share_dir() / "models"


def launch_dir() -> Path:
    return share_dir() / "launch"
