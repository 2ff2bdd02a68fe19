"""Node parameters as data: one ``ParamSpec`` per parameter, declared with a descriptor and validated.

The specs are plain data so the validation (``ParamSpec.accept``), the yaml config check and
the launch-free bringup all use the same table the nodes declare from. Every refusal names the
parameter and what it accepts, in one line ("steps must be an integer in [1, 2000], got 'abc'").

Start-up values reach a node from ``parameter_overrides``, ``--ros-args -p`` and params files
(``ros2 launch``), which all land in rclpy's per-node override table before ``declare``. A yaml
``1`` for a double would make rclpy refuse the declaration with a type error, so ``declare``
checks and converts each override first: integers are accepted for doubles, everything else
must have the parameter's type.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidTopicNameException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.validate_topic_name import validate_topic_name

ParamValue = bool | int | float | str | list[str] | list[float]
Apply = Callable[[list[Parameter]], None]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _is_int(value) or isinstance(value, float)


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

    @property
    def type(self) -> Parameter.Type:
        if isinstance(self.default, list):
            return Parameter.Type.DOUBLE_ARRAY if self.default and isinstance(self.default[0], float) \
                else Parameter.Type.STRING_ARRAY
        return Parameter.Type.from_parameter_value(self.default)

    def accepted(self) -> str:
        """What the parameter accepts, as said in every refusal."""
        kind = self.type
        if self.choices:
            return f"one of {list(self.choices)}"
        if kind == Parameter.Type.INTEGER:
            return f"an integer in [{self.int_range[0]}, {self.int_range[1]}]" if self.int_range else "an integer"
        if kind == Parameter.Type.DOUBLE:
            return f"a number in [{self.float_range[0]}, {self.float_range[1]}]" if self.float_range else "a number"
        return {Parameter.Type.BOOL: "true or false", Parameter.Type.STRING: "a string",
                Parameter.Type.DOUBLE_ARRAY: "a list of numbers", Parameter.Type.STRING_ARRAY: "a list of strings"}[kind]

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

    def accept(self, value: Any) -> ParamValue:
        """``value`` converted to the parameter's type (ints for doubles), or ValueError naming the parameter."""
        converted = self._typed(value)
        reason = self.problem(converted)
        if reason is not None:
            raise ValueError(reason)
        return converted

    def _typed(self, value: Any) -> ParamValue:
        kind = self.type
        refused = ValueError(f"{self.name} must be {self.accepted()}, got {value!r}")
        if kind == Parameter.Type.BOOL and isinstance(value, bool):
            return value
        if kind == Parameter.Type.INTEGER and _is_int(value):
            return value
        if kind == Parameter.Type.DOUBLE and _is_number(value):
            return float(value)
        if kind == Parameter.Type.STRING and isinstance(value, str):
            return value
        if kind == Parameter.Type.DOUBLE_ARRAY and isinstance(value, (list, tuple)) and all(map(_is_number, value)):
            return [float(v) for v in value]
        if kind == Parameter.Type.STRING_ARRAY and isinstance(value, (list, tuple)) and \
                all(isinstance(v, str) for v in value):
            return list(value)
        raise refused

    def problem(self, value: Any) -> str | None:
        """Why a value of the right type is not acceptable, or None when it is."""
        outside_int = self.int_range is not None and not self.int_range[0] <= value <= self.int_range[1]
        outside_float = self.float_range is not None and not (
            math.isfinite(value) and self.float_range[0] <= value <= self.float_range[1])
        if outside_int or outside_float or (self.choices and value not in self.choices):
            return f"{self.name} must be {self.accepted()}, got {value!r}"
        return self.check(value) if self.check is not None else None


def finite_list(name: str) -> Callable[[Any], str | None]:
    def check(values: Sequence[float]) -> str | None:
        bad = [v for v in values if not math.isfinite(v)]
        return f"{name} must hold finite numbers, got {bad}" if bad else None

    return check


def topic_name(name: str) -> Callable[[str], str | None]:
    """A check that the value is a valid ROS topic name (relative, absolute or ~/private)."""
    def check(topic: str) -> str | None:
        try:
            validate_topic_name(topic)
        except InvalidTopicNameException as exc:
            reason = str(exc).splitlines()[0].removeprefix("Invalid topic name: ").rstrip(":")
            return f"{name} must be a valid topic name, got {topic!r}: {reason}"
        return None

    return check


def optional_topic_name(name: str) -> Callable[[str], str | None]:
    """A check that the value is '' (the topic is not used) or a valid ROS topic name."""
    check = topic_name(name)
    return lambda topic: check(topic) if topic else None


def topic_names(name: str) -> Callable[[list[str]], str | None]:
    """A check that the list names at least one topic and only valid topic names."""
    single = topic_name(name)

    def check(topics: list[str]) -> str | None:
        if not topics:
            return f"{name} must name at least one topic, got []"
        return next((reason for reason in map(single, topics) if reason), None)

    return check


def declare(node: Node, specs: Sequence[ParamSpec]) -> None:
    """Check and convert the start-up values, declare every parameter, and validate run-time changes.

    Raises ValueError (``"<node>: <reason>"``) for a bad start-up value.
    """
    given = node._parameter_overrides  # rclpy's table of start-up values (Humble through Kilted)
    for spec in specs:
        if spec.name in given:
            try:
                value = spec.accept(given[spec.name].value)
            except ValueError as exc:
                raise ValueError(f"{node.get_name()}: {exc}") from None
            given[spec.name] = Parameter(spec.name, spec.type, value)
        node.declare_parameter(spec.name, spec.default, spec.descriptor())
    node.add_on_set_parameters_callback(_validator(specs))


def _validator(specs: Sequence[ParamSpec]) -> Callable[[list[Parameter]], SetParametersResult]:
    by_name = {spec.name: spec for spec in specs}

    def validate(params: list[Parameter]) -> SetParametersResult:
        for param in params:
            spec = by_name.get(param.name)
            if spec is None:
                continue
            try:
                spec.accept(param.value)
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    return validate


def on_parameters_set(node: Node, specs: Sequence[ParamSpec], apply: Apply) -> None:
    """Call ``apply(params)`` once a run-time change was accepted.

    rclpy from Iron on has post-set callbacks; Humble's rclpy does not, so there an on-set
    callback validates the change itself (Humble runs the newest on-set callback first, before
    ``declare``'s validator) and applies it only when every value is valid.
    """
    post_set = getattr(node, "add_post_set_parameters_callback", None)
    if post_set is not None:
        post_set(apply)
        return
    validate = _validator(specs)

    def validate_then_apply(params: list[Parameter]) -> SetParametersResult:
        result = validate(params)
        if result.successful:
            apply(params)
        return result

    node.add_on_set_parameters_callback(validate_then_apply)


def overrides(specs: Sequence[ParamSpec], values: dict[str, Any]) -> list[Parameter]:
    """Typed parameter overrides from plain values (a yaml section); unknown names and bad values are errors.

    ``use_sim_time`` is accepted like on any ROS 2 node (rclpy declares it).
    """
    by_name = {spec.name: spec for spec in (*specs, USE_SIM_TIME)}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        raise ValueError(f"unknown parameters {unknown}; known: {sorted(by_name)}")
    return [Parameter(name, by_name[name].type, by_name[name].accept(value)) for name, value in values.items()]


USE_SIM_TIME = ParamSpec("use_sim_time", False, "Use /clock (rclpy declares it on every node).")
