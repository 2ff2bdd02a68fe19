"""GPU check: run once on an NVIDIA GPU to see the GPU paths work (they were written without one).

Needs torch with CUDA and this package's base requirements; TensorRT (``tensorrt>=10``) and
ONNX Runtime GPU (``onnxruntime-gpu``) are checked when installed and skipped with the reason
otherwise. It is sized to finish within 8 minutes on one GPU (not yet run on one):

1. the torch CUDA engine against torch fp32 on the CPU: network outputs of the shipped model
   (fp32 with TF32 off, and the default autocast: bf16 where native, fp16 elsewhere), including
   the last DDIM level where fp16 conditioning would give NaN;
2. ``synthesize`` images with fixed seeds, CUDA against CPU (PSNR);
3. TensorRT (fp32 and fp16 plans, with and without CUDA graphs) and ONNX Runtime CUDA against
   CPU fp32, when installed; ONNX Runtime on the last GPU by index when there are several;
4. a latency table per engine, one denoising step (engine call + composition) for
   N = 1, 3, 6, 12 views x K = 1, 4 hypotheses;
5. a few hundred training steps on the GPU (from the sample views): the loss falls, and the
   checkpoint written loads back into the same network outputs;
6. the completion's speed (``completion_speed.py``'s synthesis, without the CPU-side segmentation and carving):
   ``rgbd_completion``'s sampling at the reference setting (25 DDIM steps, K = 8 at 8 azimuths) and at the node's
   defaults, and a ``novel_view`` hidden-side request (3 views, K = 4), with the completion model, on the engine
   ``auto`` picks on the device.

    python benchmarks/gpu_check.py                 # on the GPU machine
    python benchmarks/gpu_check.py --device cpu --train-steps 20 --repeats 2   # smoke run without a GPU
    (test/test_gpu_check.py runs a smaller smoke run, so the script keeps up with the package)

It prints one line per check (PASS/FAIL/SKIP with the figure or the reason), the latency table,
and a closing "N passed, N failed, N skipped" line; it exits 1 when a check failed.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from completion_settings import NOVEL_VIEW_VIEWS, REFERENCE, time_completion_synthesis, time_novel_view
from PIL import Image

from nvs_fusion_ros.diffusion.composition import compose_noise
from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.engines.base import Denoiser
from nvs_fusion_ros.engines.factory import EngineOptions, create_denoiser
from nvs_fusion_ros.engines.onnx_export import example_inputs
from nvs_fusion_ros.engines.tensorrt_engine import import_tensorrt
from nvs_fusion_ros.engines.torch_engine import TorchDenoiser
from nvs_fusion_ros.evaluation.image_metrics import psnr
from nvs_fusion_ros.model.assets import asset_path
from nvs_fusion_ros.model.checkpoint import Checkpoint, load_checkpoint
from nvs_fusion_ros.synthesis.runner import ModelRunner
from nvs_fusion_ros.synthesis.synthesizer import NovelViewSynthesizer
from nvs_fusion_ros.training.train import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_VIEWS = ROOT / "nvs_fusion_ros" / "data" / "sample_views"
VIEWS = (1, 3, 6, 12)
HYPOTHESES = (1, 4)


class Report:
    """PASS/FAIL/SKIP lines and the closing count."""

    def __init__(self) -> None:
        self.counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}

    def check(self, name: str, ok: bool, detail: str) -> bool:
        self.line("PASS" if ok else "FAIL", name, detail)
        return ok

    def skip(self, name: str, reason: str) -> None:
        self.line("SKIP", name, reason)

    def line(self, status: str, name: str, detail: str) -> None:
        self.counts[status] += 1
        print(f"{status} {name}: {detail}", flush=True)

    def close(self) -> int:
        print(f"{self.counts['PASS']} passed, {self.counts['FAIL']} failed, {self.counts['SKIP']} skipped")
        return 1 if self.counts["FAIL"] else 0


def torch_engine(checkpoint: Checkpoint, device: torch.device | str, bf16: bool | None = None) -> TorchDenoiser:
    """A torch engine on its own copy of the network (TorchDenoiser moves the module it is given)."""
    return TorchDenoiser(copy.deepcopy(checkpoint.model), device, bf16=bf16)


def max_diff(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> float:
    return max(float((x.float().cpu() - y.float().cpu()).abs().max()) for x, y in zip(a, b, strict=True))


def sample_views() -> tuple[list[np.ndarray], list[float]]:
    files = sorted(SAMPLE_VIEWS.glob("view_*.png"))
    return ([np.asarray(Image.open(f).convert("RGB")) for f in files],
            [2 * np.pi * int(f.stem.split("_")[1]) / 24 for f in files])


def check_network(report: Report, checkpoint: Checkpoint, device: torch.device) -> None:
    reference = torch_engine(checkpoint, "cpu", bf16=False)
    inputs = example_inputs(checkpoint.config, 12, seed=1)
    inputs[3][:2] = torch.tensor([1 - 1e-4, 1e-4])  # both ends of the schedule
    expected = reference(*inputs)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    fp32 = torch_engine(checkpoint, device, bf16=False)
    got = fp32(*(t.to(device) for t in inputs))
    report.check(f"torch {device} fp32 = torch CPU fp32 (network)", max_diff(got, expected) < 1e-3,
                 f"max abs diff {max_diff(got, expected):.2e} (tolerance 1e-3, TF32 off)")
    auto = torch_engine(checkpoint, device)
    got = auto(*(t.to(device) for t in inputs))
    finite = all(bool(torch.isfinite(t).all()) for t in got)
    report.check(f"torch {auto.describe()} vs CPU fp32 (network)", finite and max_diff(got, expected) < 0.25,
                 f"max abs diff {max_diff(got, expected):.3f} (tolerance 0.25), finite at gamma=1-1e-4: {finite}")


def check_synthesis(report: Report, checkpoint: Checkpoint, device: torch.device, steps: int) -> None:
    views, angles = sample_views()
    images = {}
    for name, denoiser in (("cpu fp32", torch_engine(checkpoint, "cpu", bf16=False)),
                           ("device fp32", torch_engine(checkpoint, device, bf16=False)),
                           ("device autocast", torch_engine(checkpoint, device))):
        synth = NovelViewSynthesizer(checkpoint, ModelRunner(denoiser, checkpoint.schedule, checkpoint.config))
        images[name] = synth.synthesize(views[1:], angles[0], num_hypotheses=4, sampling=SamplingSpec(steps=steps, seed=0)).images
    for name, floor in (("device fp32", 35.0), ("device autocast", 20.0)):
        value = min(psnr(a, b) for a, b in zip(images[name], images["cpu fp32"], strict=True))
        label = f"synthesize {name.replace('device', str(device))} vs cpu fp32 (4 seeds, {steps} DDIM steps)"
        report.check(label, value >= floor, f"min PSNR {value:.1f} dB (floor {floor} dB)")


def gpu_engines(report: Report, checkpoint: Checkpoint, device: torch.device) -> dict[str, Denoiser]:
    """Every GPU engine that builds here, each checked against CPU fp32 first."""
    autocast = torch_engine(checkpoint, device)
    engines: dict[str, Denoiser] = {f"torch {device} ({autocast.describe().split('(')[-1]}": autocast}
    reference = torch_engine(checkpoint, "cpu", bf16=False)
    inputs = example_inputs(checkpoint.config, 12, seed=2)
    inputs[3][0] = 1 - 1e-4
    expected = reference(*inputs)
    on_device = [t.to(device) for t in inputs]
    base = EngineOptions(device=str(device), max_batch=48)
    trt, problem = import_tensorrt()
    if device.type != "cuda" or trt is None:
        report.skip("TensorRT", problem or "no CUDA device")
    else:
        for fp16, graphs in ((False, False), (True, False), (True, True)):
            label = f"TensorRT {'fp16' if fp16 else 'fp32'}{' + CUDA graphs' if graphs else ''}"
            options = dataclasses.replace(base, engine="tensorrt", enable_fp16=fp16, use_cuda_graph=graphs)
            try:
                started = time.perf_counter()
                engine = create_denoiser(checkpoint, options)
                built = time.perf_counter() - started
                got = [engine(*on_device) for _ in range(2)][-1]  # graphs: capture, then replay
            except Exception as exc:  # report any failure as a failed check and go on
                report.check(label, False, f"{type(exc).__name__}: {exc}")
                continue
            tolerance = 0.25 if fp16 else 1e-3
            finite = all(bool(torch.isfinite(t).all()) for t in got)
            if report.check(label, finite and max_diff(got, expected) < tolerance,
                            f"max abs diff vs CPU fp32 {max_diff(got, expected):.2e} (tolerance {tolerance}), "
                            f"finite: {finite}, plan build/load {built:.1f} s"):
                engines[label] = engine
    try:
        import onnxruntime as ort

        providers = ort.get_available_providers()
    except ImportError as exc:
        providers, problem = [], f"onnxruntime does not import ({exc})"
    else:
        problem = f"onnxruntime {ort.__version__} has no CUDAExecutionProvider (install onnxruntime-gpu)"
    if device.type != "cuda" or "CUDAExecutionProvider" not in providers:
        report.skip("ONNX Runtime CUDA", problem if device.type == "cuda" else "no CUDA device")
        return engines
    last = torch.device("cuda", torch.cuda.device_count() - 1)
    for target in sorted({device, last}, key=str):
        options = dataclasses.replace(base, engine="onnxruntime", device=str(target), onnx_providers=("cuda",))
        label = f"ONNX Runtime CUDA on {target}"
        try:
            engine = create_denoiser(checkpoint, options)
            got = engine(*(t.to(target) for t in inputs))
        except Exception as exc:  # report any failure as a failed check and go on
            report.check(label, False, f"{type(exc).__name__}: {exc}")
            continue
        right_gpu = all(t.device == target for t in got)
        if report.check(label, right_gpu and max_diff(got, expected) < 1e-3,
                        f"max abs diff vs CPU fp32 {max_diff(got, expected):.2e}, outputs on {got[0].device}"):
            engines[label] = engine
    return engines


def latency_table(engines: dict[str, Denoiser], checkpoint: Checkpoint, repeats: int, device_name: str,
                  views: tuple[int, ...] = VIEWS, hypotheses: tuple[int, ...] = HYPOTHESES) -> None:
    print(f"\n### {device_name}: one denoising step (engine call + composition), shipped model "
          f"({checkpoint.config.image_size}px), median of {repeats} after 2 warm-ups\n")
    print("| engine | N views | K hyp. | streams | ms/step | views/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, engine in engines.items():
        for n in views:
            for k in hypotheses:
                inputs = [t.to(engine.device) for t in example_inputs(checkpoint.config, n * k)]
                counts = torch.full((k,), n, device=engine.device)

                def step(inputs=inputs, counts=counts, engine=engine) -> float:
                    if engine.device.type == "cuda":
                        torch.cuda.synchronize(engine.device)
                    started = time.perf_counter()
                    compose_noise(*engine(*inputs), counts)
                    if engine.device.type == "cuda":
                        torch.cuda.synchronize(engine.device)
                    return time.perf_counter() - started

                step(), step()
                seconds = statistics.median(step() for _ in range(repeats))
                print(f"| {label} | {n} | {k} | {n * k} | {1000 * seconds:.2f} | {n * k / seconds:.0f} |")
    print()


class SampleViewTrainer(Trainer):
    """The package's trainer on the six sample views of one object (no dataset download on the GPU machine)."""

    def build_dataset(self):
        views, angles = sample_views()
        size = self.model_config.image_size
        images = torch.stack([torch.from_numpy(np.array(Image.fromarray(v).resize((size, size), Image.BILINEAR)))
                              for v in views]).permute(0, 3, 1, 2).float() / 127.5 - 1
        return SampleViewItems(images, torch.tensor(angles), self.cfg.max_views, self.cfg.seed)


class SampleViewItems(torch.utils.data.Dataset):
    """Items like NMRViews': a random target among the views and 1..max_views of the others as inputs."""

    def __init__(self, images: torch.Tensor, angles: torch.Tensor, max_views: int, seed: int, length: int = 256):
        self.images, self.angles, self.max_views, self.seed, self.length, self.epoch = images, angles, max_views, seed, length, 0

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        target = int(rng.integers(len(self.images)))
        others = rng.permutation(np.delete(np.arange(len(self.images)), target))[: int(rng.integers(1, self.max_views + 1))]
        views = torch.zeros(self.max_views, *self.images.shape[1:])
        views[: len(others)] = self.images[others]
        return {"views": views, "num_views": torch.tensor(len(others)), "target": self.images[target],
                "target_angle": self.angles[target], "anchor": torch.tensor(len(others) - 1)}


def check_training(report: Report, steps: int, workdir: Path) -> None:
    cfg = TrainConfig(data="sample views", out=str(workdir / "train"), preset="cpu-32", steps=steps, batch_size=16,
                      max_views=5, warmup_steps=min(50, steps // 4), lr=2e-4, checkpoint_every=steps, sample_every=0)
    trainer = SampleViewTrainer(cfg)
    losses: list[float] = []
    started = time.perf_counter()
    while trainer.step < steps:
        for batch in trainer._loader(trainer.step):
            losses.append(float(trainer.train_step(batch)))
            if trainer.step >= steps:
                break
    seconds = time.perf_counter() - started
    window = max(5, steps // 10)
    first, last = statistics.mean(losses[:window]), statistics.mean(losses[-window:])
    report.check(f"training {steps} steps on {trainer.device} ({trainer.amp_dtype or 'fp32'})", last < 0.7 * first,
                 f"mean loss of the first {window} steps {first:.4f} -> last {window} {last:.4f} "
                 f"({1000 * seconds / steps:.0f} ms/step)")
    trainer.out.mkdir(parents=True, exist_ok=True)
    trainer.save()
    loaded = load_checkpoint(workdir / "train" / "ema.pt")
    inputs = example_inputs(loaded.config, 4, seed=3)
    with torch.no_grad():
        before = trainer.ema.float().cpu()(*inputs)
        after = loaded.model(*inputs)
    report.check("checkpoint round trip", max_diff(before, after) == 0.0,
                 f"EMA network vs reloaded ema.pt: max abs diff {max_diff(before, after):.1e}")


def completion_speed(report: Report, device: torch.device, repeats: int, steps: int | None) -> None:
    """The completion model's sampling on the device at the reference setting and the node's defaults (``steps``: a
    smoke run's override), and a novel_view hidden-side request: a table, and a check that each ran and is finite."""
    try:
        from completion_settings import node_setting

        settings = [REFERENCE, node_setting()]
    except ImportError as exc:  # the node's defaults live in the RGB-D pipeline, which needs Open3D
        report.skip("completion speed (node defaults)", f"{exc}; timing the reference only")
        settings = [REFERENCE]
    if steps is not None:
        settings = [dataclasses.replace(s, steps=steps) for s in settings]
    engine = "auto" if device.type == "cuda" else "torch"  # a CPU smoke run skips the CPU engines' calibration
    synth = NovelViewSynthesizer.from_checkpoint(asset_path("completion"), engine=engine, device=str(device))
    views = [np.asarray(Image.fromarray(v).resize((synth.image_size,) * 2)) for v in sample_views()[0]]
    rows = [(f"~/complete sampling, {s.name}", time_completion_synthesis(synth, views[0], s, repeats)) for s in settings]
    view = settings[-1]
    rows.append((f"novel_view hidden side, {NOVEL_VIEW_VIEWS} views, K = 4, {view.sampler} {view.steps}",
                 time_novel_view(synth, views[:NOVEL_VIEW_VIEWS], view.sampling(), repeats)))
    print(f"\ncompletion speed on {synth.runner.describe()} ({device})\n\n| call | first s | median s |\n|---|---:|---:|")
    for name, timing in rows:
        print(f"| {name} | {timing['first_s']:.3f} | {timing['median_s']:.3f} |")
    report.check("completion speed", all(np.isfinite(t["median_s"]) for _, t in rows),
                 ", ".join(f"{t['median_s']:.3f} s" for _, t in rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu for a smoke run without a GPU")
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps of the synthesis check")
    parser.add_argument("--repeats", type=int, default=20, help="timed steps per latency configuration")
    parser.add_argument("--train-steps", type=int, default=300, help="0 leaves the training check out")
    parser.add_argument("--views", default=",".join(map(str, VIEWS)), help="N of the latency table")
    parser.add_argument("--hypotheses", default=",".join(map(str, HYPOTHESES)), help="K of the latency table")
    parser.add_argument("--completion-steps", type=int, default=None,
                        help="steps of the completion speed rows (default: each setting's own)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    report = Report()
    started = time.perf_counter()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"no CUDA GPU visible to torch {torch.__version__} (built for CUDA {torch.version.cuda}); "
              "use --device cpu for a smoke run")
        return 2
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke run)"
    if device.type == "cuda":
        print(f"GPU: {name}, compute capability {torch.cuda.get_device_capability(device)}, "
              f"{torch.cuda.get_device_properties(device).total_memory / 2**30:.0f} GiB; torch {torch.__version__}, "
              f"CUDA {torch.version.cuda}; {torch.cuda.device_count()} GPU(s)")
    checkpoint = load_checkpoint(asset_path("view"))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["NVS_FUSION_CACHE"] = tmp  # plans and exports of this run only
        check_network(report, checkpoint, device)
        check_synthesis(report, checkpoint, device, args.steps)
        engines = gpu_engines(report, checkpoint, device)
        latency_table(engines, checkpoint, args.repeats, name, tuple(int(n) for n in args.views.split(",")),
                      tuple(int(k) for k in args.hypotheses.split(",")))
        completion_speed(report, device, args.repeats, args.completion_steps)
        if args.train_steps:
            check_training(report, args.train_steps, Path(tmp))
        else:
            report.skip("training", "--train-steps 0")
    print(f"total {time.perf_counter() - started:.0f} s")
    return report.close()


if __name__ == "__main__":
    sys.exit(main())
