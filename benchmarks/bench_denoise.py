"""Per-denoising-step latency, throughput and peak memory of each CPU engine, at N views x K hypotheses.

One denoising step = one engine call on the N·K streams plus the composition over views
(everything the sampler's step costs apart from a few element-wise ops). Models are the
``cpu-32`` and ``cpu-64`` presets with random weights: speed depends on the architecture only.

Engines: torch eager fp32, torch with bf16 autocast, ``torch.compile`` (inductor) with bf16
autocast, ONNX Runtime's CPU provider (fp32, the exported graph), OpenVINO on the CPU in fp32 and
in bf16 (the same graph), all on ``--threads`` threads. The CPU's model and the instruction sets
that decide the ranking (AVX-512, AVX512-BF16, AMX) are printed above the tables: the ranking
differs between CPUs, which is why ``engine=auto`` measures it (``engines/calibration.py``).
Memory is resident set size from /proc/self/status, in a fresh subprocess per (model, engine):
"engine MB" is the RSS growth from building the model and engine (weights, session, compiled
code), and "peak step MB" the peak RSS during a configuration's steps over the RSS before them
(activations and scratch). The peak is VmHWM, reset before each configuration by writing 5 to
/proc/self/clear_refs, so one configuration's peak does not hide the next one's (a plain
``getrusage`` ru_maxrss never decreases, and torch's import alone sets a high-water mark
above a small model's whole inference). "first call" is the first step's time: for
torch.compile that includes compiling (it recompiles once more, with dynamic shapes, on the
second stream count).
Ratios are against torch eager fp32 measured in the same run; absolute numbers on a shared
machine are inflated, ratios are what to compare.

    nice -n 10 .venv/bin/python benchmarks/bench_denoise.py --repeats 3
    .venv/bin/python benchmarks/bench_denoise.py --threads 1 --engines eager,bf16,ort,ov,ov-bf16 --presets cpu-32
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VIEWS = (1, 3, 6, 12)
HYPOTHESES = (1, 4)
PRESETS = ("cpu-32", "cpu-64")
ENGINES = {
    "eager": "torch eager fp32",
    "bf16": "torch bf16 autocast",
    "compile": "torch.compile + bf16 autocast",
    "ort": "ONNX Runtime CPU (fp32)",
    "ov": "OpenVINO CPU (fp32)",
    "ov-bf16": "OpenVINO CPU (bf16)",
}
GPU_ENGINES = ("TensorRT fp16", "ONNX Runtime CUDA", "torch CUDA")


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0  # kB
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak_rss() -> float:
    """Reset the peak-RSS mark (VmHWM) to the current RSS and return the current RSS in MB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    return _status_mb("VmHWM")


def run_child(preset_name: str, engine: str, workdir: Path, repeats: int, threads: int) -> None:
    """Measure one engine on one model; print one JSON line per (N, K)."""
    import torch

    from nvs_fusion_ros.diffusion.composition import compose_noise
    from nvs_fusion_ros.engines.onnx_export import example_inputs
    from nvs_fusion_ros.engines.onnxruntime_engine import OnnxRuntimeDenoiser
    from nvs_fusion_ros.engines.openvino_engine import OpenVinoDenoiser, openvino_has_bf16
    from nvs_fusion_ros.engines.torch_engine import TorchDenoiser, cpu_supports_bf16
    from nvs_fusion_ros.model.config import preset
    from nvs_fusion_ros.model.unet import ViewFusionUNet

    torch.set_num_threads(threads)
    config = preset(preset_name)
    before_engine = reset_peak_rss()
    if engine == "ort":
        denoiser = OnnxRuntimeDenoiser(workdir / f"{preset_name}.onnx", config, ["cpu"], threads=threads)
    elif engine.startswith("ov"):
        if engine == "ov-bf16" and not openvino_has_bf16():
            print(json.dumps({"error": "OpenVINO reports no native bf16 on this CPU"}))
            return
        denoiser = OpenVinoDenoiser(workdir / f"{preset_name}.onnx", config, bf16=engine == "ov-bf16", threads=threads)
    else:
        if engine != "eager" and not cpu_supports_bf16():
            print(json.dumps({"error": "the CPU has no bf16 units"}))
            return
        model = ViewFusionUNet(config)
        model.load_state_dict(torch.load(workdir / f"{preset_name}.pt", weights_only=True))
        denoiser = TorchDenoiser(model.eval(), "cpu", bf16=engine != "eager")
        if engine == "compile":
            denoiser.model = torch.compile(denoiser.model)
    engine_mb = reset_peak_rss() - before_engine
    for n, k in sorted(((n, k) for n in VIEWS for k in HYPOTHESES), key=lambda nk: nk[0] * nk[1]):
        inputs = example_inputs(config, n * k)
        view_counts = torch.full((k,), n)

        def step(inputs=inputs, view_counts=view_counts) -> float:
            started = time.perf_counter()
            compose_noise(*denoiser(*inputs), view_counts)
            return time.perf_counter() - started

        before_step = reset_peak_rss()
        first = step()
        step()  # warm-up
        times = [step() for _ in range(repeats)]
        print(json.dumps({"n": n, "k": k, "first_s": first, "step_s": statistics.median(times),
                          "peak_mb": peak_rss_mb() - before_step, "engine_mb": engine_mb}), flush=True)


def prepare_models(workdir: Path, presets: list[str]) -> None:
    """Randomly initialised models of each preset as state dicts and exported ONNX files."""
    import torch

    from nvs_fusion_ros.engines.onnx_export import export_onnx
    from nvs_fusion_ros.model.config import preset
    from nvs_fusion_ros.model.unet import ViewFusionUNet

    for name in presets:
        torch.manual_seed(0)
        model = ViewFusionUNet(preset(name))
        torch.save(model.state_dict(), workdir / f"{name}.pt")
        export_onnx(model, workdir / f"{name}.onnx")


def measure(preset_name: str, engine: str, workdir: Path, repeats: int, threads: int) -> dict[tuple[int, int], dict] | str:
    """Results by (N, K) from a fresh subprocess, or the reason there are none."""
    command = [sys.executable, __file__, "--child", preset_name, engine, str(workdir),
               "--repeats", str(repeats), "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not rows or "error" in rows[0]:
        reason = rows[0]["error"] if rows and "error" in rows[0] else (done.stderr.strip().splitlines() or ["failed"])[-1]
        return f"not measured ({reason})"
    return {(r["n"], r["k"]): r for r in rows}


def print_table(preset_name: str, results: dict[str, dict | str]) -> None:
    eager = results["eager"]
    print(f"\n### {preset_name} (random weights), one denoising step\n")
    print("| engine | N views | K hyp. | streams | ms/step | views/s | vs eager fp32 | engine MB | peak step MB | first call s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for engine, label in ENGINES.items():
        rows = results[engine]
        if isinstance(rows, str):
            print(f"| {label} | | | | {rows} | | | | | |")
            continue
        for (n, k), r in rows.items():
            ratio = eager[(n, k)]["step_s"] / r["step_s"] if isinstance(eager, dict) else float("nan")
            print(f"| {label} | {n} | {k} | {n * k} | {1000 * r['step_s']:.1f} | {n * k / r['step_s']:.1f} | "
                  f"{ratio:.2f}x | {r['engine_mb']:.0f} | {r['peak_mb']:.0f} | {r['first_s']:.2f} |")
    for label in GPU_ENGINES:
        print(f"| {label} | | | | not measured (no GPU) | | | | | |")


def main() -> int:
    from nvs_fusion_ros.engines.cpu import ISA_FLAGS, cpu_isa, cpu_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, metavar=("PRESET", "ENGINE", "WORKDIR"), help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per configuration (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for every engine")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"subset of {list(ENGINES)} (eager is always run)")
    parser.add_argument("--presets", default=",".join(PRESETS))
    args = parser.parse_args()
    if args.child:
        run_child(args.child[0], args.child[1], Path(args.child[2]), args.repeats, args.threads)
        return 0
    engines = ["eager", *[e for e in args.engines.split(",") if e in ENGINES and e != "eager"]]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        prepare_models(workdir, args.presets.split(","))
        print(f"CPU: {cpu_model()}; instruction sets: {', '.join(cpu_isa()) or 'none of ' + ', '.join(ISA_FLAGS)}"
              f" (AMX: {'yes' if 'amx_bf16' in cpu_isa() else 'no'})")
        print("views/s = streams (input view x hypothesis) through the U-Net per second; "
              f"{args.threads} threads, median of {args.repeats} steps after a warm-up")
        for preset_name in args.presets.split(","):
            results: dict[str, dict | str] = {e: "not run" for e in ENGINES}
            for engine in engines:
                results[engine] = measure(preset_name, engine, workdir, args.repeats, args.threads)
            print_table(preset_name, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
