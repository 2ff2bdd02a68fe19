"""Node parameters as data: one ``ParamSpec`` per parameter, declared with a descriptor and validated.

The specs are plain data so the validation (``ParamSpec.problem``), the yaml config check
and the pip-only bringup all use the same table the nodes declare from.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

ParamValue = bool | int | float | str | list[str] | list[float]


@dataclass(frozen=True)
class ParamSpec:
    """A parameter: name, default (which fixes its type), a description, and what values are valid."""

    name: str
    default: ParamValue
    description: str
    read_only: bool = False
    int_range: tuple[int, int] | None = None
    float_range: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()
    check: Callable[[Any], str | None] | None = None  # extra rule: a reason when invalid, else None

    def descriptor(self) -> ParameterDescriptor:
        descriptor = ParameterDescriptor(description=self.description, read_only=self.read_only)
        if self.choices:
            descriptor.additional_constraints = f"one of {list(self.choices)}"
        if self.int_range is not None:
            descriptor.integer_range = [IntegerRange(from_value=self.int_range[0], to_value=self.int_range[1], step=1)]
        if self.float_range is not None:
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=self.float_range[0], to_value=self.float_range[1], step=0.0)
            ]
        return descriptor

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable, or None when it is (ranges are also enforced by rclpy)."""
        if self.int_range is not None and not self.int_range[0] <= value <= self.int_range[1]:
            return f"{self.name} must be in [{self.int_range[0]}, {self.int_range[1]}], got {value}"
        if self.float_range is not None and not (math.isfinite(value) and self.float_range[0] <= value <= self.float_range[1]):
            return f"{self.name} must be in [{self.float_range[0]}, {self.float_range[1]}], got {value}"
        if self.choices and value not in self.choices:
            return f"{self.name} must be one of {list(self.choices)}, got {value!r}"
        return self.check(value) if self.check is not None else None

    def coerce(self, value: Any) -> Any:
        """Ints where the parameter is a double (yaml writes 1 for 1.0), so a config file cannot trip the type."""
        if isinstance(self.default, float) and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(self.default, list) and self.default and isinstance(self.default[0], float) and isinstance(value, list):
            return [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value


def finite_list(name: str) -> Callable[[Any], str | None]:
    def check(values: Sequence[float]) -> str | None:
        bad = [v for v in values if not math.isfinite(v)]
        return f"{name} must hold finite numbers, got {bad}" if bad else None

    return check


def declare(node: Node, specs: Sequence[ParamSpec]) -> None:
    """Declare every parameter with its descriptor, check the start-up values, and validate run-time changes."""
    for spec in specs:
        node.declare_parameter(spec.name, spec.default, spec.descriptor())
        reason = spec.problem(node.get_parameter(spec.name).value)
        if reason is not None:
            raise ValueError(f"{node.get_name()}: {reason}")
    by_name = {spec.name: spec for spec in specs}

    def validate(params: list[Parameter]) -> SetParametersResult:
        for param in params:
            spec = by_name.get(param.name)
            reason = spec.problem(param.value) if spec is not None else None
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(validate)


def overrides(specs: Sequence[ParamSpec], values: dict[str, Any]) -> list[Parameter]:
    """Parameter overrides for a node from plain values (a yaml section); unknown names are an error."""
    by_name = {spec.name: spec for spec in specs}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        raise ValueError(f"unknown parameters {unknown}; known: {sorted(by_name)}")
    return [Parameter(name, value=by_name[name].coerce(value)) for name, value in values.items()]
