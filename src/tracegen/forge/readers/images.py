"""Image folders: a directory of frames (png, jpg, bmp, tif, webp) in natural file-name order.

Optional aligned depth in a ``depth/`` subfolder with the same file stems: 16-bit PNG in
millimetres, or ``.npy`` float metres. Intrinsics, instructions and whether the camera is fixed
come from the folder's ``tracegen.json`` sidecar (:mod:`.base`); without intrinsics the
documented default is used. An unreadable image raises :class:`InputError` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from tracegen.errors import InputError
from tracegen.forge.config import ForgeConfig
from tracegen.forge.episode import Episode, Frame, downscale
from tracegen.forge.readers.base import (
    InputSpec,
    check_readable_path,
    episode_intrinsics,
    read_sidecar,
    sidecar_intrinsics,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: A directory with at least this many images (and nothing that marks another format) is a folder input.
MIN_FOLDER_IMAGES = 2


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def image_files(folder: Path) -> list[Path]:
    """The folder's images in natural order (frame_2 before frame_10)."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted((p for p in files if not p.name.startswith(".")), key=_natural_key)


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"image {path} cannot be read (corrupt or not an image)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _read_depth_m(folder: Path, stem: str) -> np.ndarray | None:
    npy = folder / f"{stem}.npy"
    if npy.is_file():
        try:
            return np.load(npy).astype(np.float32)
        except (OSError, ValueError) as exc:
            raise InputError(f"depth {npy} cannot be read: {exc}") from None
    png = folder / f"{stem}.png"
    if png.is_file():
        depth = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        if depth is None or depth.ndim != 2 or depth.dtype != np.uint16:
            raise InputError(f"depth {png} must be a single-channel 16-bit PNG in millimetres")
        return depth.astype(np.float32) / 1000.0
    return None


def read_image_folder(spec: InputSpec, config: ForgeConfig) -> Iterator[Episode]:
    """The single episode of an image folder."""
    folder = check_readable_path(spec.path, "image folder")
    files = image_files(folder)
    if len(files) < MIN_FOLDER_IMAGES:
        raise InputError(
            f"image folder {folder} holds {len(files)} images; a clip needs at least {MIN_FOLDER_IMAGES}"
        )
    sidecar = read_sidecar(folder)
    first = _read_rgb(files[0])
    height, width = first.shape[:2]
    intrinsics, intrinsics_source = episode_intrinsics(
        sidecar_intrinsics(sidecar, width, height), width, height, config
    )
    depth_folder = folder / "depth"
    has_depth = depth_folder.is_dir() and _read_depth_m(depth_folder, files[0].stem) is not None

    def frames() -> Iterator[Frame]:
        for index, file in enumerate(files):
            if index % config.frame_stride:
                continue
            rgb = _read_rgb(file)
            depth_m = None
            if has_depth:
                depth_m = _read_depth_m(depth_folder, file.stem)
                if depth_m is None:
                    raise InputError(f"image folder {folder}: depth for {file.name} is missing in depth/")
                if depth_m.shape != rgb.shape[:2]:
                    raise InputError(
                        f"image folder {folder}: depth for {file.name} is "
                        f"{depth_m.shape[1]}x{depth_m.shape[0]} "
                        f"but the image is {rgb.shape[1]}x{rgb.shape[0]}: depth must be aligned to colour"
                    )
            rgb, depth_m = downscale(rgb, depth_m, config.max_image_side_px)
            yield Frame(
                index=index, rgb=rgb, depth_m=depth_m, time_s=index / sidecar.fps if sidecar.fps else None
            )

    yield Episode(
        source=str(folder),
        episode_id="0",
        intrinsics=intrinsics,
        intrinsics_source=intrinsics_source,
        frames=frames,
        fps=sidecar.fps,
        instructions=sidecar.instructions,
        instruction_origin=sidecar.origin,
        task=sidecar.task,
        embodiment=sidecar.embodiment or "unknown",
        camera_fixed=sidecar.camera_fixed,
        has_depth=has_depth,
        notes={"reader": "image folder", "num_images": len(files)},
    )
