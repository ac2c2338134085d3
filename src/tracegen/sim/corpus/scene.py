"""A randomised tabletop scene for one corpus episode, built as MJCF and compiled with MjSpec.

World frame = the frame the FR3 world uses (tracegen.sim.world): the table top is the plane
z = 0, the robot base sits at the origin, the workspace is in front of it (x 0.35..0.65 m).
Everything that moves is kinematic: objects are mocap bodies, the hand is a mocap body with
hinged fingers, the arm is posed by setting qpos; nothing is ever stepped.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

from tracegen.sim.camera import SimCameraSpec
from tracegen.sim.corpus.embodiments import ARMS, HAND_BODY, attach_arm

#: Colour names used in instructions, with their RGB.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.1),
    "green": (0.12, 0.7, 0.2),
    "blue": (0.12, 0.3, 0.85),
    "yellow": (0.92, 0.82, 0.12),
    "orange": (0.95, 0.5, 0.08),
    "purple": (0.55, 0.2, 0.7),
    "pink": (0.95, 0.5, 0.7),
    "cyan": (0.1, 0.75, 0.8),
}
#: Object kinds and the noun instructions use.
NOUNS = {"box": "block", "ball": "ball", "cylinder": "can", "cloth": "cloth", "brush": "brush"}
#: Nominal camera: where tracegen.sim.camera.SimCameraSpec puts the D435 (config/calibration.yaml).
NOMINAL_LOOK_AT_M = np.array([0.45, 0.0, 0.05])
NOMINAL_AZIMUTH_DEG = -49.0
NOMINAL_ELEVATION_DEG = 35.0
NOMINAL_DISTANCE_M = 0.9


@dataclass
class SceneObject:
    """One object: kind, colour, size (half extents / radius, metres), start pose on the table."""

    name: str
    kind: str
    colour: str
    size_m: tuple[float, ...]
    pos_m: np.ndarray
    yaw_rad: float = 0.0

    @property
    def height_m(self) -> float:
        """Height of its centre above the table."""
        if self.kind in ("box", "cylinder"):
            return self.size_m[-1]
        if self.kind == "ball":
            return self.size_m[0]
        return self.size_m[2]  # cloth, brush: half thickness

    @property
    def label(self) -> str:
        return f"{self.colour} {NOUNS[self.kind]}"


@dataclass
class SceneSpec:
    """Everything random about one episode's scene (drawn by :func:`sample_scene`)."""

    embodiment: str
    objects: list[SceneObject]
    target_xy_m: np.ndarray
    target_colour: str
    camera: SimCameraSpec
    table_rgb: tuple[tuple[float, float, float], tuple[float, float, float]]
    table_texture: str
    light_dir: np.ndarray
    light_diffuse: float
    ambient: float
    skin_rgb: tuple[float, float, float]
    base_pos_m: np.ndarray = field(default_factory=lambda: np.zeros(3))
    base_yaw_rad: float = 0.0


def sample_camera(rng: np.random.Generator, width_px: int, height_px: int) -> SimCameraSpec:
    """A camera around the nominal one: azimuth +-30 deg, elevation 22..55 deg, 0.75..1.1 m."""
    look_at = NOMINAL_LOOK_AT_M + rng.uniform([-0.05, -0.06, -0.03], [0.05, 0.06, 0.03])
    azimuth = math.radians(NOMINAL_AZIMUTH_DEG + rng.uniform(-30, 30))
    elevation = math.radians(rng.uniform(22, 55))
    distance = rng.uniform(0.75, 1.1)
    offset = distance * np.array(
        [
            math.cos(elevation) * math.cos(azimuth),
            math.cos(elevation) * math.sin(azimuth),
            math.sin(elevation),
        ]
    )
    return SimCameraSpec(
        width_px=width_px,
        height_px=height_px,
        position_m=tuple(look_at + offset),
        look_at_m=tuple(look_at),
    )


def _object(rng: np.random.Generator, name: str, kind: str, colour: str, xy: np.ndarray) -> SceneObject:
    if kind == "box":
        size = tuple(rng.uniform([0.02, 0.02, 0.02], [0.035, 0.035, 0.035]))
    elif kind == "ball":
        size = (rng.uniform(0.02, 0.035),)
    elif kind == "cylinder":
        size = (rng.uniform(0.02, 0.03), rng.uniform(0.03, 0.05))
    elif kind == "cloth":
        size = (rng.uniform(0.06, 0.09), rng.uniform(0.07, 0.1), 0.004)
    else:  # brush: a stick along x with a head
        size = (rng.uniform(0.08, 0.11), 0.012, 0.012)
    obj = SceneObject(name, kind, colour, size, np.zeros(3), float(rng.uniform(-0.5, 0.5)))
    obj.pos_m = np.array([xy[0], xy[1], obj.height_m])
    return obj


def sample_scene(
    rng: np.random.Generator,
    embodiment: str,
    main_kind: str,
    num_distractors: int,
    width_px: int,
    height_px: int,
) -> SceneSpec:
    """A random scene with one main object of ``main_kind`` plus distractors and a target."""
    colours = list(rng.permutation(list(COLOURS)))
    placed: list[np.ndarray] = []

    def free_xy(clearance: float) -> np.ndarray:
        for _ in range(200):
            xy = rng.uniform([0.38, -0.2], [0.62, 0.2])
            if all(np.linalg.norm(xy - other) > clearance for other in placed):
                placed.append(xy)
                return xy
        placed.append(xy)
        return xy

    main = _object(rng, "obj0", main_kind, colours.pop(), free_xy(0.15))
    target_xy = free_xy(0.16)
    target_colour = colours.pop()
    objects = [main]
    for i in range(num_distractors):
        kind = str(rng.choice(["box", "ball", "cylinder"]))
        objects.append(_object(rng, f"obj{i + 1}", kind, colours.pop(), free_xy(0.12)))
    light_dir = np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.6, 0.6), -1.0])
    base = np.array([rng.uniform(-0.04, 0.02), rng.uniform(-0.04, 0.04), 0.0])
    skin = np.array([0.95, 0.76, 0.62]) * rng.uniform(0.45, 1.0) + rng.uniform(-0.04, 0.04, 3)
    return SceneSpec(
        embodiment=embodiment,
        objects=objects,
        target_xy_m=target_xy,
        target_colour=target_colour,
        camera=sample_camera(rng, width_px, height_px),
        table_rgb=(tuple(rng.uniform(0.25, 0.85, 3)), tuple(rng.uniform(0.2, 0.8, 3))),
        table_texture=str(rng.choice(["checker", "gradient", "flat"])),
        light_dir=light_dir / np.linalg.norm(light_dir),
        light_diffuse=float(rng.uniform(0.45, 0.9)),
        ambient=float(rng.uniform(0.15, 0.4)),
        skin_rgb=tuple(np.clip(skin, 0.05, 1.0)),
        base_pos_m=base,
        base_yaw_rad=float(rng.uniform(-0.15, 0.15)),
    )


def _fmt(values) -> str:
    return " ".join(f"{float(v):.6g}" for v in values)


def _rgba(colour: str | tuple) -> str:
    rgb = COLOURS[colour] if isinstance(colour, str) else colour
    return _fmt((*rgb, 1.0))


def _add_object(worldbody: ET.Element, obj: SceneObject) -> None:
    body = ET.SubElement(worldbody, "body", name=obj.name, mocap="true", pos=_fmt(obj.pos_m))
    common = {"contype": "0", "conaffinity": "0", "rgba": _rgba(obj.colour)}
    if obj.kind == "box":
        ET.SubElement(body, "geom", type="box", size=_fmt(obj.size_m), **common)
    elif obj.kind == "ball":
        ET.SubElement(body, "geom", type="sphere", size=_fmt(obj.size_m), **common)
    elif obj.kind == "cylinder":
        ET.SubElement(body, "geom", type="cylinder", size=_fmt(obj.size_m), **common)
    elif obj.kind == "cloth":
        # Two halves: this body is the half that stays; obj.name + "_flap" is folded over.
        hx, hy, hz = obj.size_m
        ET.SubElement(
            body, "geom", type="box", size=_fmt((hx / 2, hy, hz)), pos=_fmt((-hx / 2, 0, 0)), **common
        )
        flap = ET.SubElement(worldbody, "body", name=f"{obj.name}_flap", mocap="true", pos=_fmt(obj.pos_m))
        ET.SubElement(
            flap, "geom", type="box", size=_fmt((hx / 2, hy, hz)), pos=_fmt((hx / 2, 0, 0)), **common
        )
    else:  # brush: handle + bristle head
        hx, hy, hz = obj.size_m
        ET.SubElement(
            body, "geom", type="capsule", fromto=_fmt((-hx, 0, 0, hx * 0.4, 0, 0)), size=f"{hz:.4g}", **common
        )
        ET.SubElement(
            body,
            "geom",
            type="box",
            size=_fmt((hx * 0.3, hy * 2.5, hz * 1.2)),
            pos=_fmt((hx * 0.7, 0, 0)),
            contype="0",
            conaffinity="0",
            rgba="0.2 0.15 0.1 1",
        )


def _add_hand(worldbody: ET.Element, skin_rgb: tuple[float, float, float]) -> None:
    """A right hand, palm down, fingers along +x, forearm going back and up out of view."""
    rgba = _fmt((*skin_rgb, 1.0))
    common = {"contype": "0", "conaffinity": "0", "rgba": rgba}
    hand = ET.SubElement(worldbody, "body", name=HAND_BODY, mocap="true", pos="0.3 0 0.3")
    ET.SubElement(hand, "geom", type="box", size="0.045 0.042 0.013", pos="-0.02 0 0.03", **common)
    ET.SubElement(hand, "geom", type="capsule", fromto="-0.06 0 0.035 -0.55 0 0.35", size="0.032", **common)
    lengths = (0.075, 0.082, 0.075, 0.06)
    for i, (name, length) in enumerate(zip(("index", "middle", "ring", "little"), lengths, strict=True)):
        y = 0.03 - i * 0.02
        finger = ET.SubElement(hand, "body", name=f"hand_{name}_link", pos=_fmt((0.025, y, 0.03)))
        ET.SubElement(finger, "joint", name=f"hand_{name}", type="hinge", axis="0 1 0", range="0 1.6")
        ET.SubElement(
            finger, "geom", type="capsule", fromto=_fmt((0, 0, 0, length, 0, 0)), size="0.0085", **common
        )
    thumb = ET.SubElement(hand, "body", name="hand_thumb_link", pos="-0.01 0.045 0.025", euler="0 0 0.7")
    ET.SubElement(thumb, "joint", name="hand_thumb", type="hinge", axis="1 0 0", range="-1.2 0")
    ET.SubElement(thumb, "geom", type="capsule", fromto="0 0 0 0.06 0.01 -0.01", size="0.01", **common)


def build_model(scene: SceneSpec):
    """Compile the scene (with its arm attached or its hand added) into a ``mujoco.MjModel``."""
    import mujoco

    width, height = scene.camera.width_px, scene.camera.height_px
    root = ET.Element("mujoco", model=f"corpus_{scene.embodiment}")
    ET.SubElement(root, "compiler", angle="radian")
    visual = ET.SubElement(root, "visual")
    ET.SubElement(visual, "global", offwidth=str(max(640, width)), offheight=str(max(480, height)))
    ET.SubElement(
        visual,
        "headlight",
        ambient=_fmt([scene.ambient] * 3),
        diffuse=_fmt([0.25] * 3),
        specular="0.05 0.05 0.05",
    )
    asset = ET.SubElement(root, "asset")
    rgb1, rgb2 = scene.table_rgb
    if scene.table_texture == "flat":
        ET.SubElement(asset, "material", name="table", rgba=_fmt((*rgb1, 1)))
    else:
        ET.SubElement(
            asset,
            "texture",
            name="table",
            type="2d",
            builtin=scene.table_texture,
            rgb1=_fmt(rgb1),
            rgb2=_fmt(rgb2),
            width="256",
            height="256",
        )
        ET.SubElement(asset, "material", name="table", texture="table", texrepeat="4 4")
    ET.SubElement(
        asset,
        "texture",
        name="floor",
        type="2d",
        builtin="checker",
        rgb1=".3 .3 .32",
        rgb2=".22 .22 .24",
        width="64",
        height="64",
    )
    ET.SubElement(asset, "material", name="floor", texture="floor", texrepeat="8 8")
    worldbody = ET.SubElement(root, "worldbody")
    ET.SubElement(
        worldbody,
        "light",
        directional="true",
        dir=_fmt(scene.light_dir),
        pos="0.4 0 2",
        diffuse=_fmt([scene.light_diffuse] * 3),
        castshadow="false",  # osmesa's shadow maps speckle the textured table
    )
    ET.SubElement(
        worldbody, "geom", name="floor", type="plane", size="3 3 0.1", pos="0 0 -0.75", material="floor"
    )
    ET.SubElement(
        worldbody,
        "geom",
        name="table_top",
        type="box",
        size="0.55 0.7 0.02",
        pos="0.4 0 -0.02",
        material="table",
    )
    tx, ty = scene.target_xy_m
    ET.SubElement(
        worldbody,
        "geom",
        name="target",
        type="box",
        size="0.05 0.05 0.0008",
        pos=_fmt((tx, ty, 0.0008)),
        rgba=_rgba(scene.target_colour),
        contype="0",
        conaffinity="0",
    )
    for obj in scene.objects:
        _add_object(worldbody, obj)
    if scene.embodiment == "hand":
        _add_hand(worldbody, scene.skin_rgb)
    scene.camera.add_to_worldbody(worldbody)
    spec = mujoco.MjSpec.from_string(ET.tostring(root, encoding="unicode"))
    if scene.embodiment in ARMS:
        attach_arm(spec, scene.embodiment, scene.base_pos_m, scene.base_yaw_rad)
    model = spec.compile()
    model.site_rgba[:, 3] = 0.0  # robosuite's debug sites (grip point, axes) must not show
    return model
