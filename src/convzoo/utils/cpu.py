"""What this CPU can do, read in one place: the instruction-set features that
decide reduced-precision choices (int8's overflow fix, bf16 kernels, AMX),
and how many cores this process may use (available_cores).

    caps = cpu_capabilities()                      # this machine (/proc/cpuinfo)
    caps = cpu_capabilities(flags={"avx2", "fma"})  # a simulated Zen 3, for tests

The flags are the kernel's names in /proc/cpuinfo (no lscpu, no subprocess);
on a system without that file (macOS, Windows) every capability is False,
x86 included: nothing is known, and int8 keeps NNCF's default overflow fix
(the first layer), as before the capabilities were read here.

oneDNN, under OpenVINO's CPU plugin and PyTorch alike, can be capped below
what the CPU has: `ONEDNN_MAX_CPU_ISA=AVX2` (or the older `DNNL_MAX_CPU_ISA`)
makes it run AVX2 kernels on any x86 CPU. The capabilities follow that cap,
since it is the kernels that run, not the CPU, that decide whether int8 dot
products saturate: a machine with VNNI emulates one without by setting it
(benchmarks/int8_without_vnni.py measured that the AVX2-capped kernels give
a Zen 3's int8 answers).
"""
from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

CPUINFO = "/proc/cpuinfo"

VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # int8 dot products accumulated in 32 bits
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # bf16 dot products in hardware (else emulated, slowly)
AMX_FLAGS = ("amx_tile",)
AVX512_CORE_FLAGS = ("avx512f", "avx512bw", "avx512vl", "avx512dq")  # all of them: oneDNN's "avx512_core"

# oneDNN's ISA cap (its names, upper case) -> what the capped kernels still use:
# (AVX-512, VNNI, native bf16, AMX). A name not listed here caps nothing.
_ONEDNN_ISA_CAPS = {
    "SSE41": (False, False, False, False),
    "AVX": (False, False, False, False),
    "AVX2": (False, False, False, False),
    "AVX2_VNNI": (False, True, False, False),
    "AVX2_VNNI_2": (False, True, False, False),
    "AVX512_CORE": (True, False, False, False),
    "AVX512_CORE_VNNI": (True, True, False, False),
    "AVX512_CORE_BF16": (True, True, True, False),
    "AVX512_CORE_FP16": (True, True, True, False),
    "AVX10_1_512": (True, True, True, False),
    "AVX512_CORE_AMX": (True, True, True, True),
    "AVX512_CORE_AMX_FP16": (True, True, True, True),
    "AVX10_1_512_AMX": (True, True, True, True),
    "AVX10_1_512_AMX_FP16": (True, True, True, True),
}


@dataclass(frozen=True)
class CpuCapabilities:
    """vnni: int8 dot products accumulate in 32 bits (AVX-512 VNNI, AVX-VNNI or AMX);
    without it they pass through 16-bit sums that saturate.
    native_bf16: bf16 arithmetic in hardware (AVX-512 bf16 or AMX).
    amx: Intel's matrix tiles (Sapphire Rapids and later).
    avx512_core: AVX-512 F, BW, VL and DQ (Skylake-SP, Zen 4 and later), from which
    oneDNN has bf16 kernels (emulated without native_bf16).
    x86: an x86 CPU whose flags are known (they name sse2), the only kind where the lack of VNNI
    is known to make int8 saturate (ARM's int8 dot products do not).
    flags: the CPU flags these were read from; isa_cap: oneDNN's cap, if one is set."""

    vnni: bool
    native_bf16: bool
    amx: bool
    avx512_core: bool = False
    x86: bool = False
    flags: frozenset[str] = field(default=frozenset(), repr=False)
    isa_cap: str | None = None

    def describe(self) -> str:
        """One line for a log or a benchmark's header."""
        have = [name for name, on in (("VNNI", self.vnni), ("native bf16", self.native_bf16), ("AMX", self.amx))
                if on]
        cap = f" (oneDNN capped at {self.isa_cap})" if self.isa_cap else ""
        return (", ".join(have) or "no VNNI, bf16 or AMX") + cap


def cpu_capabilities(flags: Iterable[str] | None = None, isa_cap: str | None = None) -> CpuCapabilities:
    """This CPU's capabilities, or those of a CPU with `flags` (a simulated one: then
    `isa_cap` is the only oneDNN cap applied, the environment's is not read)."""
    if flags is None:
        return _this_cpu()
    return _capabilities(frozenset(flags), isa_cap)


def _this_cpu() -> CpuCapabilities:
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    return _capabilities(_this_cpus_flags(), cap)


@functools.lru_cache(maxsize=1)
def _this_cpus_flags() -> frozenset[str]:
    return read_cpu_flags()


def _capabilities(flags: frozenset[str], isa_cap: str | None) -> CpuCapabilities:
    have = (all(f in flags for f in AVX512_CORE_FLAGS), any(f in flags for f in VNNI_FLAGS),
            any(f in flags for f in BF16_FLAGS), any(f in flags for f in AMX_FLAGS))
    cap = isa_cap.strip().upper() if isa_cap else None
    if cap in _ONEDNN_ISA_CAPS:
        have = tuple(a and b for a, b in zip(have, _ONEDNN_ISA_CAPS[cap]))
    else:
        cap = None
    avx512_core, vnni, bf16, amx = have
    return CpuCapabilities(vnni=vnni, native_bf16=bf16, amx=amx, avx512_core=avx512_core,
                           x86="sse2" in flags, flags=flags, isa_cap=cap)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the OS says)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def read_cpu_flags(path: str = CPUINFO) -> frozenset[str]:
    """The first processor's flags in /proc/cpuinfo (x86: "flags", ARM: "Features");
    empty where the file cannot be read."""
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


MEMINFO = "/proc/meminfo"


def available_memory_bytes(path: str = MEMINFO) -> int | None:
    """Memory the system could give this process now without swapping (the kernel's
    MemAvailable); None where it cannot be read (not Linux)."""
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key == "MemAvailable":
                    return int(value.split()[0]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None
