"""Measured quality of the 3D distillation on held-out TEST objects with known true meshes.

For each object: Chamfer distance and F-score (at ``--threshold`` in the normalised
frame, where the object's bounding sphere has radius 0.5) of points sampled on the
reconstructed mesh vs points sampled on the true mesh (``mesh_normalized.npz``), and
PSNR / SSIM (scikit-image) of field renders vs the true views, for

  (a) a field fitted to all 24 true views (upper bound; its images are training views),
  (b) stage 1 only: the field fitted to the synthesized orbit for every iteration
      (the paper's mean-seeking baseline), and
  (c) stage 1 + mode seeking (SparseFusion),

(b) and (c) share one orbit per object and are scored on the views not given as input.
Without a model file only (a) runs.

    .venv/bin/python benchmarks/eval_reconstruction.py --model models/viewfusion_default.pt --objects 3
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from nvs_fusion_ros import cameras
from nvs_fusion_ros.datasets.nmr_dataset import list_objects, read_rgb
from nvs_fusion_ros.diffusion import DEFAULT_STEPS
from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.evaluation.geometry_metrics import surface_scores
from nvs_fusion_ros.reconstruction.distill import DistillConfig, distill, fit_views, orbit_angles, orbit_camera
from nvs_fusion_ros.reconstruction.extract import EmptySurfaceError, extract_mesh, sample_surface, sample_triangles
from nvs_fusion_ros.reconstruction.field import VoxelField
from nvs_fusion_ros.reconstruction.renderer import render_image
from nvs_fusion_ros.synthesis.synthesizer import NovelViewSynthesizer

log = logging.getLogger("eval_reconstruction")
SURFACE_POINTS = 20000


def load_views(path: Path, size: int) -> np.ndarray:
    """The 24 true views of an object at ``size`` (area-downsampled like the training data)."""
    views = [read_rgb(path / "image" / f"{i:04d}.png") for i in range(cameras.NMR_VIEW_COUNT)]
    return np.stack([v if v.shape[0] == size else cv2.resize(v, (size, size), interpolation=cv2.INTER_AREA) for v in views])


def score(field: VoxelField, truth_points: np.ndarray, views: np.ndarray, indices: list[int], threshold: float,
          level: float) -> dict[str, float]:
    """Surface and image metrics of one field; a field without a surface scores NaN geometry."""
    size = views.shape[1]
    psnr, ssim = [], []
    for i in indices:
        image = render_image(field, orbit_camera(cameras.view_azimuth(i), size))
        psnr.append(peak_signal_noise_ratio(views[i], image, data_range=255))
        ssim.append(structural_similarity(views[i], image, channel_axis=2, data_range=255))
    row = {"psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim)), "chamfer": math.nan, "fscore": math.nan, "ok": 0.0}
    try:
        mesh = extract_mesh(field, level)
    except EmptySurfaceError as error:
        log.warning("no surface: %s", error)
        return row
    points = sample_surface(mesh, field, SURFACE_POINTS).points
    scores = surface_scores(points, truth_points, threshold)
    return {**row, "chamfer": scores.chamfer, "fscore": scores.fscore, "ok": 1.0}


def markdown(results: dict[str, list[dict[str, float]]], threshold: float) -> str:
    lines = [f"| method | surfaces | Chamfer ↓ | F-score@{threshold} ↑ | PSNR ↑ | SSIM ↑ | seconds/object |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for method, rows in results.items():
        def mean(key: str, rows: list[dict[str, float]] = rows) -> float:
            values = [r[key] for r in rows if not math.isnan(r[key])]
            return float(np.mean(values)) if values else math.nan

        ok = int(sum(r["ok"] for r in rows))
        lines.append(f"| {method} | {ok}/{len(rows)} | {mean('chamfer'):.4f} | {mean('fscore'):.3f} | {mean('psnr'):.2f} | "
                     f"{mean('ssim'):.3f} | {mean('seconds'):.1f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/nmr_canonical")
    parser.add_argument("--model", default="models/viewfusion_default.pt", help="checkpoint; (b) and (c) are skipped when absent")
    parser.add_argument("--objects", type=int, default=3, help="first N objects of the test split")
    parser.add_argument("--inputs", type=int, default=2, help="input views per object, evenly spaced from view 0")
    parser.add_argument("--size", type=int, default=32, help="image size when no model fixes it")
    parser.add_argument("--iterations", type=int, default=DistillConfig.iterations)
    parser.add_argument("--orbit-views", type=int, default=DistillConfig.orbit_views)
    parser.add_argument("--orbit-steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--guidance-steps", type=int, default=DistillConfig.guidance_steps)
    parser.add_argument("--grid", type=int, default=DistillConfig.grid_resolution)
    parser.add_argument("--level", type=float, default=0.1)
    parser.add_argument("--threshold", type=float, default=0.05, help="F-score distance threshold (normalised frame)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    synth = None
    if Path(args.model).is_file():
        synth = NovelViewSynthesizer.from_checkpoint(args.model, engine="torch", device="cpu")
    else:
        log.warning("no model at %s: only (a) runs", args.model)
    size = synth.image_size if synth is not None else args.size
    config = DistillConfig(iterations=args.iterations, orbit_views=args.orbit_views,
                           orbit_sampling=SamplingSpec(steps=args.orbit_steps), guidance_steps=args.guidance_steps,
                           grid_resolution=args.grid)
    input_indices = [round(k * cameras.NMR_VIEW_COUNT / args.inputs) for k in range(args.inputs)]
    held_out = [i for i in range(cameras.NMR_VIEW_COUNT) if i not in input_indices]
    methods = ["(a) true views (upper bound)", "(b) stage 1 only", "(c) stage 1 + mode seeking"]
    results: dict[str, list[dict[str, float]]] = {m: [] for m in (methods if synth is not None else methods[:1])}

    for obj in list_objects(Path(args.data), "test")[: args.objects]:
        views = load_views(obj.path, size)
        mesh = np.load(obj.path / "mesh_normalized.npz")
        truth, _ = sample_triangles(mesh["vertices"], mesh["faces"], SURFACE_POINTS)
        started = time.perf_counter()
        field = fit_views(views, [cameras.view_azimuth(i) for i in range(len(views))], config)
        results[methods[0]].append({**score(field, truth, views, list(range(len(views))), args.threshold, args.level),
                                    "seconds": time.perf_counter() - started})
        if synth is not None:
            inputs = views[input_indices]
            started = time.perf_counter()
            orbit = synth.orbit(inputs, orbit_angles(config.orbit_views),
                                sampling=config.orbit_sampling.with_seed(config.seed))
            orbit_s = time.perf_counter() - started
            for method, seeking in ((methods[1], False), (methods[2], True)):
                started = time.perf_counter()
                run_config = DistillConfig(**{**config.__dict__, "mode_seeking": seeking})
                result = distill(synth, list(inputs), run_config, orbit=orbit)
                log.info("%s %s: estimated input azimuths %s (true %s)", obj.object_id, method,
                         [round(math.degrees(e.azimuth)) for e in result.input_azimuths],
                         [round(math.degrees(cameras.view_azimuth(i))) for i in input_indices])
                results[method].append({**score(result.field, truth, views, held_out, args.threshold, args.level),
                                        "seconds": orbit_s + time.perf_counter() - started})
        log.info("%s done", obj.object_id)

    model = f"model {args.model}" if synth is not None else "no model"
    print(f"\n{len(results[methods[0]])} test objects of {args.data}, {size}x{size}, {model}, {args.inputs} input view(s); "
          f"{config.iterations} iterations, grid {config.grid_resolution}^3, orbit {config.orbit_views} views x "
          f"{config.orbit_sampling.steps} DDIM steps, mode seeking <= {config.guidance_steps} DDIM steps, level {args.level}\n")
    print(markdown(results, args.threshold))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
