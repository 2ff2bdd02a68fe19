"""A rendered NMR-layout dataset packed into one small file, to carry to a GPU machine and back.

Why: the household training split is 37 MB of PNGs in 22,000 files (224 MB on disk) plus meshes
and cameras that training never reads, while a remote GPU machine may take only tens of MiB, the
repository included. Training reads only the views and the split lists, so a pack holds those:
each object's 24 views tiled into one 6x4 grid and encoded as WebP (one image instead of 24 lets
the codec share context between views; quality 90 keeps the views within ~42 dB PSNR of the PNGs,
far below what the model gets wrong, and quality 101 is lossless), the ``<split>.lst`` files and
``metadata.yaml`` (and, for a split to evaluate on, the silhouette masks as lossless PNG grids),
in an uncompressed zip (WebP is already compressed; a zip entry costs ~100 bytes
of headers where a tar member costs 512 and pads to 512). :func:`unpack_dataset`
writes the NMR layout back, so :class:`~.nmr_dataset.NMRViews` and ``nvs-fusion train`` read it
unchanged. The pack records each object's round-trip PSNR.
"""

from __future__ import annotations

import argparse
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..cameras import NMR_VIEW_COUNT

log = logging.getLogger(__name__)

GRID_COLUMNS = 6  # 24 views as 4 rows of 6
LOSSLESS = 101  # OpenCV's WebP encoder is lossless above quality 100
REPORT_NAME = "pack.json"
MASK_SUFFIX = ".mask.png"


@dataclass(frozen=True)
class PackReport:
    """What a pack holds: object counts per split, its size, and the views' round-trip PSNR."""

    path: Path
    objects: dict[str, int]
    bytes: int
    quality: int
    min_psnr: float
    mean_psnr: float


def tile_views(views: np.ndarray) -> np.ndarray:
    """(24, H, W, 3) -> (4H, 6W, 3): row-major, view i at row i // 6, column i % 6."""
    count, height, width, channels = views.shape
    rows = views.reshape(count // GRID_COLUMNS, GRID_COLUMNS, height, width, channels)
    return rows.transpose(0, 2, 1, 3, 4).reshape(count // GRID_COLUMNS * height, GRID_COLUMNS * width, channels)


def untile_views(grid: np.ndarray, count: int = NMR_VIEW_COUNT) -> np.ndarray:
    """The inverse of :func:`tile_views`."""
    rows = count // GRID_COLUMNS
    height, width = grid.shape[0] // rows, grid.shape[1] // GRID_COLUMNS
    tiles = grid.reshape(rows, height, GRID_COLUMNS, width, grid.shape[2]).transpose(0, 2, 1, 3, 4)
    return tiles.reshape(count, height, width, grid.shape[2])


def encode_grid(views: np.ndarray, quality: int = LOSSLESS) -> bytes:
    """Colour views (24, H, W, 3) as one WebP grid at ``quality``, or masks (24, H, W) as one PNG grid."""
    colour = views.ndim == 4
    grid = tile_views(views if colour else views[..., None])
    extension, params = (".webp", [cv2.IMWRITE_WEBP_QUALITY, quality]) if colour else (".png", [])
    ok, data = cv2.imencode(extension, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR) if colour else grid[..., 0], params)
    if not ok:
        raise OSError(f"OpenCV could not encode {extension}")
    return data.tobytes()


def decode_grid(data: bytes, colour: bool = True) -> np.ndarray:
    """The inverse of :func:`encode_grid`."""
    grid = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
    if grid is None:
        raise OSError("not an encoded view grid")
    return untile_views(cv2.cvtColor(grid, cv2.COLOR_BGR2RGB)) if colour else untile_views(grid[..., None])[..., 0]


def _write_views(folder: Path, views: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, view in enumerate(views):
        image = cv2.cvtColor(view, cv2.COLOR_RGB2BGR) if view.ndim == 3 else view
        if not cv2.imwrite(str(folder / f"{index:04d}.png"), image):
            raise OSError(f"cannot write {folder / f'{index:04d}.png'}")


def pack_dataset(root: str | Path, out: str | Path, splits: tuple[str, ...] = ("train",), quality: int = 90,
                 masks: bool = False) -> PackReport:
    """Pack the views and split lists of ``splits`` under ``root`` into the zip file ``out`` (with
    ``masks``, the objects' silhouette masks too, which evaluation reads and training does not)."""
    from ..evaluation.image_metrics import psnr
    from ..synthesis.tensors import read_rgb  # here: torch and scikit-image are needed to pack, not to unpack
    from .nmr_dataset import list_categories, read_mask, split_list, view_files

    root, out = Path(root), Path(out)
    if not 1 <= quality <= LOSSLESS:
        raise ValueError(f"quality must be in 1..{LOSSLESS} ({LOSSLESS}: lossless), got {quality}")
    categories = list_categories(root)
    if not categories:
        raise ValueError(f"{root}: no categories with split lists (an NMR-layout dataset?)")
    lists = {(category, split): split_list(root / category, split) for category in categories for split in splits}
    jobs = [(category, split, name) for (category, split), names in lists.items() for name in names]
    if not jobs:
        raise ValueError(f"{root}: no objects in splits {list(splits)}")
    counts = {split: sum(job[1] == split for job in jobs) for split in splits}
    scores = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as pack:
        if (root / "metadata.yaml").is_file():
            pack.writestr("metadata.yaml", (root / "metadata.yaml").read_bytes())
        for (category, split), names in lists.items():
            pack.writestr(f"{category}/softras_{split}.lst", "".join(f"{name}\n" for name in names))
        for category, _split, name in tqdm(jobs, desc="pack", unit="obj"):
            views = np.stack([read_rgb(f) for f in view_files(root / category / name / "image")])
            data = encode_grid(views, quality)
            scores.append(psnr(tile_views(decode_grid(data)), tile_views(views)))
            pack.writestr(f"{category}/{name}.webp", data)
            if masks:
                if not (root / category / name / "mask").is_dir():
                    raise ValueError(f"{root / category / name}: no mask/ folder to pack (leave out --masks)")
                silhouettes = np.stack([read_mask(f) for f in view_files(root / category / name / "mask")])
                pack.writestr(f"{category}/{name}{MASK_SUFFIX}", encode_grid(silhouettes))
        summary = {"objects": counts, "quality": quality, "min_psnr": float(np.min(scores)),
                   "mean_psnr": float(np.mean(scores)), "source": str(root)}
        pack.writestr(REPORT_NAME, json.dumps(summary, indent=1))
    return PackReport(out, counts, out.stat().st_size, quality, summary["min_psnr"], summary["mean_psnr"])


def unpack_dataset(pack: str | Path, out: str | Path) -> dict:
    """Write a pack back as an NMR-layout dataset under ``out``; returns the pack's summary."""
    out = Path(out)
    with zipfile.ZipFile(pack) as archive:
        for info in tqdm(archive.infolist(), desc="unpack", unit="file"):
            name, path = info.filename, Path(info.filename)
            if path.is_absolute() or ".." in path.parts:
                raise ValueError(f"{pack}: unexpected entry {name!r}")
            if info.is_dir():  # a pack re-zipped by another tool lists its folders
                continue
            data = archive.read(info)
            if name.endswith(MASK_SUFFIX):
                _write_views(out / name[: -len(MASK_SUFFIX)] / "mask", decode_grid(data, colour=False))
            elif path.suffix == ".webp":
                _write_views(out / path.parent / path.stem / "image", decode_grid(data))
            else:
                (out / path).parent.mkdir(parents=True, exist_ok=True)
                (out / path).write_bytes(data)
    return json.loads((out / REPORT_NAME).read_text())


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    pack = subparsers.add_parser(
        "pack-dataset", epilog="example:\n  nvs-fusion pack-dataset --data data/household --out gpu/household_train.zip",
        description="Pack a rendered dataset's views and split lists into one zip of WebP grids (a few MB), "
                    "to copy to a GPU machine; unpack-dataset writes it back.")
    pack.add_argument("--data", required=True, help="NMR-layout dataset root (render-dataset's --out)")
    pack.add_argument("--out", required=True, type=Path, help="the pack (.zip)")
    pack.add_argument("--splits", nargs="+", default=["train"], help="splits to pack")
    pack.add_argument("--quality", type=int, default=90, help=f"WebP quality 1..100, {LOSSLESS} = lossless")
    pack.add_argument("--masks", action="store_true", help="pack the silhouette masks too (to evaluate on the split)")
    pack.set_defaults(func=_pack)
    unpack = subparsers.add_parser("unpack-dataset", description="Write a pack back as an NMR-layout dataset folder.")
    unpack.add_argument("pack", type=Path, help="the pack (.zip) that pack-dataset wrote")
    unpack.add_argument("--out", required=True, type=Path, help="dataset root to write")
    unpack.set_defaults(func=lambda args: print(json.dumps(unpack_dataset(args.pack, args.out))))


def _pack(args: argparse.Namespace) -> None:
    report = pack_dataset(args.data, args.out, tuple(args.splits), args.quality, args.masks)
    print(f"wrote {report.path}: {report.bytes / 1e6:.1f} MB, objects {report.objects}, "
          f"round-trip PSNR mean {report.mean_psnr:.1f} dB, min {report.min_psnr:.1f} dB (WebP quality {report.quality})")
