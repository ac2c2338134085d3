"""Predicted traces as visualization_msgs/MarkerArray for rviz: one LINE_STRIP per trace.

Points are camera-frame XYZ in metres (REP-103 optical frame of the reference image, so the
markers carry the image's frame_id and rviz places them through TF); each vertex is coloured
by its step with the same early-to-late ramp as :mod:`tracegen.viz` (dark blue -> yellow).
Every array starts with a DELETEALL so traces of the previous prediction never linger.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from tracegen.trace import Trace
from tracegen.viz import time_colors_rgb

MARKER_NAMESPACE = "traces"


def trace_markers(
    trace: Trace,
    *,
    stamp: Time,
    frame_id: str,
    line_width_m: float = 0.004,
    stride: int = 1,
    min_motion_m: float = 0.0,
    lifetime_s: float = 0.0,
) -> MarkerArray:
    """A MarkerArray for a 3D trace grid; 2D-only traces have no metric position: empty array.

    ``stride`` keeps every n-th query point; traces that move less than ``min_motion_m`` in
    total are left out (keeps the static background readable).
    """
    clear = Marker(action=Marker.DELETEALL, ns=MARKER_NAMESPACE)
    clear.header.stamp, clear.header.frame_id = stamp, frame_id
    markers = [clear]
    if not trace.is_3d:
        return MarkerArray(markers=markers)
    xyz_m = trace.to_xyz_m()  # [N, S, 3]
    colors = time_colors_rgb(trace.num_steps).astype(np.float32) / 255.0
    lifetime = Duration(sec=int(lifetime_s), nanosec=int((lifetime_s % 1.0) * 1e9))
    for point in range(0, trace.num_points, max(stride, 1)):
        steps = np.flatnonzero(trace.point_valid[point])
        if steps.size < 2:
            continue
        path = xyz_m[point, steps]
        if np.linalg.norm(np.diff(path, axis=0), axis=1).sum() < min_motion_m:
            continue
        marker = Marker(type=Marker.LINE_STRIP, action=Marker.ADD, ns=MARKER_NAMESPACE, id=int(point))
        marker.header.stamp, marker.header.frame_id = stamp, frame_id
        marker.pose.orientation.w = 1.0
        marker.scale.x = float(line_width_m)
        marker.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        marker.lifetime = lifetime
        marker.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in path]
        marker.colors = [ColorRGBA(r=float(r), g=float(g), b=float(b), a=1.0) for r, g, b in colors[steps]]
        markers.append(marker)
    return MarkerArray(markers=markers)
