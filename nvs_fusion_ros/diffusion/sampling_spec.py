"""``SamplingSpec``: how one reverse process is sampled, in one frozen value.

The sampler's registry name, its step count, DDIM's η, the base seed and the sampler's own options
(``SAMPLER_OPTIONS``) travel together from a command line, a ROS parameter set or a config file to
``ModelRunner.sampler``, checked once here, free of torch, so a bad value is refused where the user
gave it and never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from . import DEFAULT_STEPS, ETA_SAMPLERS, SAMPLER_NAMES, SAMPLER_OPTIONS


def _option_value(sampler: str, key: str, value: object) -> str | int:
    """``value`` as the typed choice of ``SAMPLER_OPTIONS[sampler][key]`` it names (strings match by text)."""
    allowed = SAMPLER_OPTIONS[sampler]
    if key not in allowed:
        known = ", ".join(sorted(allowed)) or "none"
        raise ValueError(f"sampler {sampler!r} has no option {key!r} (its options: {known})")
    for choice in allowed[key]:
        if str(choice) == str(value).strip():
            return choice
    raise ValueError(f"{sampler} option {key} must be one of {[str(c) for c in allowed[key]]}, got {value!r}")


def parse_options(pairs: Iterable[str]) -> dict[str, str]:
    """``["key=value", ...]`` (the CLI's ``--sampler-option`` and the ROS ``sampler_options`` parameter) as a dict."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = str(pair).partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"a sampler option is key=value, got {pair!r}")
        if key.strip() in parsed:
            raise ValueError(f"sampler option {key.strip()!r} given twice")
        parsed[key.strip()] = value.strip()
    return parsed


def describe_options() -> str:
    """Every sampler's options and their values, the default first: the CLI's and the ROS parameter's help."""
    return "; ".join(f"{name}: " + (", ".join(f"{key}=" + "|".join(map(str, values)) for key, values in table.items())
                                    or "none") for name, table in SAMPLER_OPTIONS.items())


def split_options(text: str) -> list[str]:
    """A comma-separated ``"key=value,key=value"`` (a ROS string parameter; '' = none) as pairs."""
    return [part.strip() for part in text.split(",") if part.strip()]


def options_problem(text: str) -> str | None:
    """Why ``text`` cannot be any sampler's options (syntax, or a key no sampler has), else None."""
    known = {key for table in SAMPLER_OPTIONS.values() for key in table}
    try:
        keys = parse_options(split_options(text))
    except ValueError as exc:
        return str(exc)
    unknown = sorted(set(keys) - known)
    return f"no sampler has the option(s) {unknown}; the options: {sorted(known)}" if unknown else None


@dataclass(frozen=True)
class SamplingSpec:
    """One reverse process's settings. ``seed`` None draws a fresh base seed per call (reported in results);
    ``options`` holds only what differs from the sampler's defaults, as sorted (key, value) pairs."""

    sampler: str = "ddim"
    steps: int = DEFAULT_STEPS
    eta: float = 0.0
    seed: int | None = None
    options: tuple[tuple[str, str | int], ...] = ()

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLER_NAMES:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose one of {sorted(SAMPLER_NAMES)}")
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        eta = float(self.eta)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {self.eta!r}")
        if eta != 0.0 and self.sampler not in ETA_SAMPLERS:
            raise ValueError(f"eta applies to {list(ETA_SAMPLERS)} only; sampler {self.sampler!r} got eta={eta:g}")
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise ValueError(f"seed must be an integer or None, got {self.seed!r}")
        options = self.options.items() if isinstance(self.options, Mapping) else self.options
        typed = {}
        for key, value in options:
            if key in typed:
                raise ValueError(f"sampler option {key!r} given twice")
            typed[key] = _option_value(self.sampler, key, value)
        object.__setattr__(self, "eta", eta)
        object.__setattr__(self, "options", tuple(sorted(typed.items())))

    @classmethod
    def build(cls, sampler: str = "ddim", steps: int = DEFAULT_STEPS, eta: float = 0.0, seed: int | None = None,
              options: Mapping[str, object] | Iterable[str] | str = ()) -> SamplingSpec:
        """From loose values; ``options`` a mapping, ``key=value`` strings or one comma-separated string of them."""
        if isinstance(options, str):
            options = split_options(options)
        pairs = options.items() if isinstance(options, Mapping) else parse_options(options).items()
        return cls(sampler, int(steps), float(eta), seed, tuple(pairs))

    def sampler_options(self) -> dict[str, str | int]:
        """Every option of the sampler: the defaults (the first choice) overridden by ``options``."""
        return {**{key: choices[0] for key, choices in SAMPLER_OPTIONS[self.sampler].items()}, **dict(self.options)}

    def with_seed(self, seed: int | None) -> SamplingSpec:
        return replace(self, seed=seed)
