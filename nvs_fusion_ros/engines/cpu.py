"""What the CPU is and which instruction sets it offers, from /proc/cpuinfo (Linux).

The engine ranking on a CPU depends on exactly this (bf16 matrix units above all), so the
calibration cache is keyed by it and the benchmarks print it beside their figures.
"""

from __future__ import annotations

import functools

#: instruction-set flags that change which engine and precision is fastest, in /proc/cpuinfo's spelling
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


@functools.cache
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo; empty where there is none."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    """The CPU's marketing name ("unknown CPU" where /proc/cpuinfo does not say)."""
    return _cpuinfo().get("model name", "unknown CPU")


def cpu_isa() -> tuple[str, ...]:
    """The engine-relevant instruction sets this CPU has, from ``ISA_FLAGS``."""
    flags = set(_cpuinfo().get("flags", "").split())
    return tuple(flag for flag in ISA_FLAGS if flag in flags)


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 matrix units (AMX-BF16 or AVX512-BF16).

    Without them bf16 autocast is emulated and slower than fp32.
    """
    isa = cpu_isa()
    return "amx_bf16" in isa or "avx512_bf16" in isa
