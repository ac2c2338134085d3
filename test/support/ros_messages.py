"""Bitwise comparison of ROS messages (serialized CDR bytes differ in alignment padding)."""

from __future__ import annotations

import array
import struct
from typing import Any


def _scalar(value: Any) -> Any:
    """numpy scalars (fixed-size array fields) as Python values."""
    return value.item() if hasattr(value, "item") else value


def _same(a: Any, b: Any, path: str) -> None:
    if hasattr(a, "get_fields_and_field_types"):
        assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
        for field in a.get_fields_and_field_types():
            _same(getattr(a, field), getattr(b, field), f"{path}.{field}")
    elif isinstance(a, array.array):
        assert isinstance(b, array.array) and a.typecode == b.typecode, f"{path}: array types differ"
        assert a.tobytes() == b.tobytes(), f"{path}: array contents differ"
    elif isinstance(a, float):
        assert struct.pack("<d", a) == struct.pack("<d", b), f"{path}: {a!r} != {b!r}"
    elif isinstance(a, (list, tuple)) or type(a).__name__ == "ndarray":
        assert len(a) == len(b), f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(_scalar(x), _scalar(y), f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def assert_messages_identical(a: Any, b: Any) -> None:
    """Every field equal, floats and float arrays compared bit for bit (NaN payloads included)."""
    _same(a, b, type(a).__name__)
