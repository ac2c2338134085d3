"""Declare, read and validate node parameters in one place (ros2/demos + realsense-ros habits).

Each node lists its parameters as :class:`ParamSpec` (name, default, description, range or
choices); :func:`declare_parameters` declares them with a ``ParameterDescriptor`` (so
``ros2 param describe`` shows the description and range), reads them once and validates them,
raising :class:`ParameterError` naming the parameter, the value seen and what is allowed.
The same specs are checked against config/<node>.yaml by the tests, so every parameter is
documented there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

from tracegen.errors import InputError


class ParameterError(InputError):
    """A node parameter outside its documented range or choices."""


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: its default (which fixes its type), what it means, what values are allowed."""

    name: str
    default: Any
    description: str
    min_value: float | None = None
    max_value: float | None = None
    choices: tuple[Any, ...] | None = None
    read_only: bool = True

    def descriptor(self) -> ParameterDescriptor:
        descriptor = ParameterDescriptor(description=self.description, read_only=self.read_only)
        if self.choices is not None:
            descriptor.additional_constraints = f"one of {list(self.choices)}"
        bounded = self.min_value is not None and self.max_value is not None
        if bounded and isinstance(self.default, bool):
            bounded = False
        if bounded and isinstance(self.default, int):
            descriptor.integer_range = [
                IntegerRange(from_value=int(self.min_value), to_value=int(self.max_value), step=0)
            ]
        elif bounded and isinstance(self.default, float):
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(self.min_value), to_value=float(self.max_value), step=0.0)
            ]
        return descriptor

    def validate(self, value: Any) -> Any:
        """Return the value if allowed, else raise :class:`ParameterError`."""
        if isinstance(value, float) and not math.isfinite(value):
            raise ParameterError(f"parameter '{self.name}' is {value}: a finite number is required")
        if self.choices is not None and value not in self.choices:
            raise ParameterError(
                f"parameter '{self.name}' is {value!r}: expected one of {list(self.choices)}"
            )
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.min_value is not None and value < self.min_value:
                raise ParameterError(
                    f"parameter '{self.name}' is {value}: it must be >= {self.min_value} ({self.description})"
                )
            if self.max_value is not None and value > self.max_value:
                raise ParameterError(
                    f"parameter '{self.name}' is {value}: it must be <= {self.max_value} ({self.description})"
                )
        return value


def declare_parameters(node: Node, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """Declare every spec on ``node``, read the values once and validate them."""
    values: dict[str, Any] = {}
    for spec in specs:
        node.declare_parameter(spec.name, spec.default, spec.descriptor())
        values[spec.name] = spec.validate(node.get_parameter(spec.name).value)
    return values
