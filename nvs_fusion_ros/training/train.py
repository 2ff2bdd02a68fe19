"""Training (paper Algorithm 1): composed noise prediction, L2 to the true noise.

One script for a single CPU or GPU process and for multi-GPU data-parallel
runs started by ``torchrun`` (DistributedDataParallel; rank 0 alone writes
files). Runs checkpoint often and resume exactly, because a run can be stopped
at any time: ``<out>/last.pt`` holds the full training state, ``<out>/ema.pt``
the EMA weights as a loadable model checkpoint.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import math
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from queue import Empty, Queue

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from ..atomic_file import atomic_path
from ..datasets.nmr_dataset import NMRViews
from ..diffusion.composition import compose_noise, expand_to_streams
from ..diffusion.schedules import NoiseSchedule, make_schedule, prediction_target
from ..diffusion.streams import stream_conditions
from ..engines.torch_engine import cpu_supports_bf16, cuda_supports_bf16
from ..model.checkpoint import load_checkpoint, model_kind, save_checkpoint
from ..model.config import UNetConfig, preset
from ..model.transfer import grow_weights, lift_weights
from ..model.unet import ViewFusionUNet
from .configs import TrainConfig
from .recipe import Recipe

log = logging.getLogger(__name__)


def stack_views(views: torch.Tensor, num_views: torch.Tensor) -> torch.Tensor:
    """(B, max_views, 3, H, W) padded views -> (M, 3, H, W) real views, item after item."""
    mask = torch.arange(views.shape[1], device=views.device)[None, :] < num_views[:, None]
    return views[mask]


def composed_loss(
    model: nn.Module, schedule: NoiseSchedule, batch: dict, generator: torch.Generator | None = None,
    prediction: str = "eps", recipe: Recipe | None = None,
) -> torch.Tensor:
    """Algorithm 1 for a batch: ‖ε − Σ_i w_i ∘ ε̂_i‖² averaged over pixels and items (or the same
    with v in place of ε for v-prediction models), at the recipe's levels and with its per-item weights."""
    target = batch["target"]
    counts = batch["num_views"]
    recipe = recipe or Recipe()
    eps, y_t, level = schedule.noise_for_training(target, generator, recipe.draw)
    relative = getattr(model, "module", model).config.relative  # DDP wraps the network
    noise, logits = model(
        stream_conditions(stack_views(batch["views"], counts), counts, batch["anchor"], relative),
        expand_to_streams(y_t, counts),
        expand_to_streams(batch["target_angle"].float(), counts),
        expand_to_streams(level, counts),
    )
    composite, _ = compose_noise(noise, logits, counts)
    target_output = prediction_target(prediction, target.float(), eps.float(), level)
    per_item = ((composite - target_output) ** 2).flatten(1).mean(dim=1)
    return torch.mean(per_item * recipe.weights(level, prediction).to(per_item.device))


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up from ``warmup_start_lr`` to ``lr`` (paper B.1), then constant (the paper) or a
    cosine anneal to ``min_lr`` at ``steps``: a run with a fixed budget ends at a lower loss when its
    step size shrinks at the end, which EMA alone does not replace."""
    if step < cfg.warmup_steps:
        return cfg.warmup_start_lr + (cfg.lr - cfg.warmup_start_lr) * step / max(cfg.warmup_steps, 1)
    if cfg.lr_decay == "constant":
        return cfg.lr
    progress = min(1.0, (step - cfg.warmup_steps) / max(cfg.steps - cfg.warmup_steps, 1))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * progress))


RECIPE_FIELDS = ("timesteps", "loss_weighting", "min_snr_gamma", "extra_ema_decay")  # must match on --resume
LOSS_EVERY = 25  # steps between loss read-outs (each waits for the device)
BUDGET_PROBE = (20, 70)  # steps timed to plan a time budget: after the first epoch's image reads and kernel choice


@contextmanager
def stop_on_signal() -> Iterator[Callable[[], bool]]:
    """While a run trains, SIGTERM and SIGINT (Ctrl-C) ask it to stop after the current step, with a
    checkpoint, instead of killing it between checkpoints: a background run can be stopped at any
    time and ``--resume`` goes on from where it stopped. Off the main thread (a test's trainer)
    signals stay as they are."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested.is_set
        return
    previous = {sig: signal.signal(sig, lambda _sig, _frame: requested.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield requested.is_set
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def steps_within_budget(step: int, steps: int, seconds_per_step: float, seconds_left: float) -> int:
    """The run's new total when ``seconds_left`` pay for that many more steps at the measured rate
    (never more than ``steps``, never fewer than ``step``): the cosine then ends when the time does,
    rather than being cut off at a high learning rate. 5 % of the time is kept for checkpoints."""
    return max(step, min(steps, step + int(0.95 * seconds_left / max(seconds_per_step, 1e-9))))


def prefetched(batches: Iterable[dict], depth: int = 2) -> Iterator[dict]:
    """The same batches, made by a background thread while the model trains on the previous one.

    Without data-loader processes the batches would be made between steps, on one core, while a
    GPU waits for them (processes cost a fork per epoch).
    Item draws are seeded per item, so the batches and the run's results do not change.
    """
    queue: Queue = Queue(maxsize=depth)
    end, stop = object(), threading.Event()

    def fill() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                queue.put(batch)
        except BaseException as exc:  # handed to the training thread, which raises it
            queue.put(exc)
            return
        queue.put(end)

    thread = threading.Thread(target=fill, daemon=True, name="prefetch")
    thread.start()
    try:
        while (item := queue.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:  # closed early (the last step, an error): the thread finishes its batch and ends before the run does
        stop.set()
        while thread.is_alive():
            with suppress(Empty):
                queue.get(timeout=0.1)
        thread.join()


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.mul_(decay).add_(p.detach(), alpha=1 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


def autocast_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """bf16 where the hardware has it (AMX-BF16 or AVX512-BF16 CPUs, most GPUs), fp16 on older GPUs, else fp32."""
    if cfg.precision == "fp32":
        return None
    if cfg.precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if cuda_supports_bf16(device) else torch.float16  # native only: not V100/T4/Xavier
    return torch.bfloat16 if cpu_supports_bf16() else None


class Trainer:
    """Holds model, EMA, optimiser and data; ``run()`` trains to ``cfg.steps`` with checkpoints.

    The network, its data and its loss come from four hooks (``preset_config``, ``build_model``,
    ``build_dataset``, ``loss``), so another model (the temporal one, ``train_temporal``) reuses the
    optimiser, EMA, precision, checkpointing and resume logic unchanged.
    """

    def __init__(self, cfg: TrainConfig, model_config: UNetConfig | None = None, resume: bool = False):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1 and not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            self.device = torch.device("cuda", local)
        else:
            self.device = torch.device("cpu")
        torch.manual_seed(cfg.seed + self.rank)
        self.schedule = make_schedule(cfg.schedule)
        self.model_config = model_config or self.preset_config(cfg.preset)
        memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.model = self.build_model().to(self.device, memory_format=memory_format)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        # A second average at another decay costs one more copy of the weights and no forward pass, so
        # one run tells which decay suits its length.
        self.ema_extra = copy.deepcopy(self.ema) if cfg.extra_ema_decay else None
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.amp_dtype = autocast_dtype(cfg, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.step = 0
        self.init_source: dict | None = None
        self.generator = torch.Generator().manual_seed(cfg.seed * 1000 + self.rank)
        self.dataset = self.build_dataset()
        if resume and (self.out / "last.pt").exists():
            if cfg.time_budget_s:  # its lowered --steps are the plan of the first run's own minutes
                raise ValueError("--time-budget plans a run from its start; continue a budgeted run with "
                                 "--init-from its ema.pt and a new --out, not --resume")
            self._load_state(self.out / "last.pt")
        elif cfg.init_from:
            self._init_weights(Path(cfg.init_from))
        self.net: nn.Module = self.model
        if self.world > 1:
            self.net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )

    def preset_config(self, name: str) -> UNetConfig:
        """The preset, with the run's angle reference when one is given."""
        config = preset(name)
        return replace(config, angle_reference=self.cfg.angle_reference) if self.cfg.angle_reference else config

    def build_model(self) -> nn.Module:
        return ViewFusionUNet(self.model_config)

    def build_dataset(self) -> NMRViews:
        return NMRViews(
            self.cfg.data, "train", max_views=self.cfg.max_views, image_size=self.model_config.image_size, seed=self.cfg.seed,
            angle_reference=self.model_config.angle_reference,
        )

    def loss(self, batch: dict) -> torch.Tensor:
        """The training loss of one batch (on the device, inside autocast)."""
        return composed_loss(self.net, self.schedule, batch, self.generator, self.model_config.prediction,
                             self.cfg.recipe())

    def _loader(self, epoch: int) -> DataLoader:
        self.dataset.set_epoch(epoch)
        sampler = None
        if self.world > 1:
            sampler = DistributedSampler(self.dataset, self.world, self.rank, shuffle=True, seed=self.cfg.seed)
            sampler.set_epoch(epoch)
        return DataLoader(
            self.dataset,
            batch_size=self.cfg.batch_size,
            shuffle=sampler is None,
            sampler=sampler,
            num_workers=self.cfg.workers,
            drop_last=True,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.cfg.seed + epoch),
        )

    def _steps_per_epoch(self) -> int:
        """Full batches per epoch and process (the loader drops the last partial one; a
        DistributedSampler pads every process's share to ceil(items / processes))."""
        share = len(self.dataset) if self.world == 1 else math.ceil(len(self.dataset) / self.world)
        return share // self.cfg.batch_size

    def _batches(self) -> Iterator[dict]:
        """Every batch from the current step on, one stream across epochs (so prefetching crosses them).

        A resumed run starts inside the epoch it stopped in, at the same batch: the order of an epoch
        is drawn from (seed, epoch) alone, so the batches it already trained on are drawn and skipped.
        """
        per_epoch = self._steps_per_epoch()
        if per_epoch == 0:
            raise ValueError(f"{len(self.dataset)} training items make no batch of {self.cfg.batch_size} "
                             f"on each of {self.world} processes; lower --batch-size")
        epoch, done = divmod(self.step, per_epoch)
        yield from itertools.islice(self._loader(epoch), done, None)
        while True:
            epoch += 1
            yield from self._loader(epoch)

    def train_step(self, batch: dict) -> torch.Tensor:
        """One optimiser step on one batch; returns the loss, detached and not waited for (reading it
        waits for a GPU to finish the step, which would stop the next step from being queued behind it)."""
        batch = {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        for g in self.optimizer.param_groups:
            g["lr"] = learning_rate(self.cfg, self.step)
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
            loss = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        averaging = self.step > self.cfg.warmup_steps // 2
        update_ema(self.ema, self.model, self.cfg.ema_decay if averaging else 0.0)
        if self.ema_extra is not None:
            update_ema(self.ema_extra, self.model, self.cfg.extra_ema_decay if averaging else 0.0)
        self.step += 1
        return loss.detach()

    def run(self) -> dict:
        """Train until ``cfg.steps`` (with a time budget: until the steps that fit it); checkpoint every
        ``checkpoint_every`` steps and at the end."""
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "train_config.json").write_text(json.dumps(self.cfg.__dict__, indent=2))
        bar = tqdm(total=self.cfg.steps, initial=self.step, disable=self.rank != 0, dynamic_ncols=True)
        losses: deque[torch.Tensor] = deque(maxlen=100)
        started = time.time()
        first, probe = self.step, (self.step, started)
        batches = self._batches()
        with stop_on_signal() as stop_requested, closing(prefetched(batches) if self.cfg.workers == 0 else batches) as stream:
            for batch in stream if self.step < self.cfg.steps else ():
                loss = self.train_step(batch)
                losses.append(loss)
                if self.cfg.time_budget_s:
                    if self.step - first == BUDGET_PROBE[0]:
                        probe = (self.step, self._finished())
                    if self.step - first == BUDGET_PROBE[1] or self._late(started):
                        self._fit_budget(started, probe, bar)
                bar.update(1)
                if self.step % LOSS_EVERY == 0:  # the bar's own interval decides when it shows (TQDM_MININTERVAL)
                    bar.set_postfix(loss=f"{float(torch.stack(tuple(losses)).mean()):.4f}",
                                    lr=f"{learning_rate(self.cfg, self.step):.1e}", refresh=False)
                if self.rank == 0 and self.step % self.cfg.checkpoint_every == 0:
                    self.save()
                if self.rank == 0 and self.cfg.sample_every and self.step % self.cfg.sample_every == 0:
                    self.write_samples()
                if self.step >= self.cfg.steps:
                    break
                if self._agreed(stop_requested()):
                    log.info("stopping at step %d on request; --resume continues from here", self.step)
                    break
        bar.close()
        if self.rank == 0:
            self.save()
        return {"steps": self.step, "final_loss": float(torch.stack(tuple(losses)).mean()) if losses else math.nan,
                "seconds": time.time() - started}

    def _finished(self) -> float:
        """The time once the device has finished the steps queued so far."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.time()

    def _fit_budget(self, started: float, probe: tuple[int, float], bar: tqdm) -> None:
        """Lower ``cfg.steps`` to what the time budget pays for at the rate measured since ``probe``
        (step, time); every rank stops at the same step."""
        now = self._finished()
        seconds_per_step = (now - probe[1]) / max(self.step - probe[0], 1)
        steps = steps_within_budget(self.step, self.cfg.steps, seconds_per_step, self.cfg.time_budget_s - (now - started))
        if self.world > 1:  # ranks must stop at the same step
            total = torch.tensor([steps], device=self.device)
            torch.distributed.all_reduce(total, op=torch.distributed.ReduceOp.MIN)
            steps = int(total.item())
        if steps != self.cfg.steps:
            log.info("time budget %.0f s: %.3f s per step, training to step %d", self.cfg.time_budget_s, seconds_per_step, steps)
            self.cfg = replace(self.cfg, steps=steps)
            bar.total = steps

    def _late(self, started: float) -> bool:
        """Past the time budget?"""
        return self._agreed(time.time() - started > self.cfg.time_budget_s)

    def _agreed(self, flag: bool) -> bool:
        """A stop one process wants: processes agree every LOSS_EVERY steps (a collective), so they stop together."""
        if self.world == 1:
            return flag
        if self.step % LOSS_EVERY:
            return False
        shared = torch.tensor([int(flag)], device=self.device)
        torch.distributed.all_reduce(shared, op=torch.distributed.ReduceOp.MAX)
        return bool(shared.item())

    def save(self) -> None:
        """Full state to last.pt (for --resume) and EMA weights to ema.pt (a model checkpoint)."""
        state = {
            "train_config": dict(self.cfg.__dict__),
            "model_config": self.model_config.to_dict(),
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "ema_extra": None if self.ema_extra is None else self.ema_extra.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "init_source": self.init_source,
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        with atomic_path(self.out / "last.pt") as tmp:
            torch.save(state, tmp)
        save_checkpoint(self.out / "ema.pt", self.ema, self.schedule, self.metadata())
        if self.ema_extra is not None:
            save_checkpoint(self.out / "ema_extra.pt", self.ema_extra, self.schedule,
                            {**self.metadata(), "ema_decay": self.cfg.extra_ema_decay})

    def metadata(self) -> dict:
        return {
            "training_steps": self.step,
            "batch_size": self.cfg.batch_size * self.world,
            "max_views": self.cfg.max_views,
            "dataset": str(self.cfg.data),
            "training_objects": len(self.dataset),
            "ema_decay": self.cfg.ema_decay,
            "recipe": {"timesteps": self.cfg.timesteps, "loss_weighting": self.cfg.loss_weighting,
                       "min_snr_gamma": self.cfg.min_snr_gamma},
            "preset": self.cfg.preset,
            "prediction": self.model_config.prediction,
            "angle_reference": self.model_config.angle_reference,
            "initialised_from": self.init_source,
        }

    def _load_state(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        if type(self.model_config).from_dict(state["model_config"]) != self.model_config:
            raise ValueError(f"{path} was trained with another model config; use a new --out")
        stored = state.get("train_config", {})
        changed = [k for k in RECIPE_FIELDS if k in stored and stored[k] != getattr(self.cfg, k)]
        if changed:  # a resumed run that quietly switched recipe would mix two runs under one name
            raise ValueError(f"{path} was trained with other recipe settings ({', '.join(f'{k}={stored[k]!r}' for k in changed)})"
                             "; give the same ones to resume, or start a new --out with --init-from its ema.pt")
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        if self.ema_extra is not None:
            self.ema_extra.load_state_dict(state.get("ema_extra") or state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.init_source = state.get("init_source")
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed %s at step %d", path, self.step)

    def _init_weights(self, path: Path) -> None:
        """Start from another checkpoint's weights; its network must have the same shapes.

        The prediction kind may differ (e.g. an ε-model fine-tuned into a v-model): the
        layers are the same and the output head re-learns its meaning. A network with the same
        U-Net inside but another stem or head (relative mode, pixel-unshuffle) is lifted by
        :func:`~nvs_fusion_ros.model.transfer.lift_weights`; one with a deeper middle grows by
        :func:`~nvs_fusion_ros.model.transfer.grow_weights` (computing the same at first).
        """
        source = load_checkpoint(path, kind=model_kind(self.model))
        lifted: list[str] = []
        try:
            self.model.load_state_dict(source.model.state_dict())
        except RuntimeError as exc:
            if not isinstance(self.model, ViewFusionUNet):
                raise ValueError(f"cannot start from {path}: its network differs from preset {self.cfg.preset}: {exc}") from exc
            adapt = grow_weights if source.config.mid_blocks < self.model.config.mid_blocks else lift_weights
            try:  # a deeper middle: grow; the same U-Net inside, another stem/head (relative, pixel-unshuffle): lift
                lifted = adapt(source.model, self.model)  # type: ignore[arg-type]
            except ValueError as lift_error:
                raise ValueError(f"cannot start from {path}: {lift_error}") from exc
        self.ema.load_state_dict(self.model.state_dict())
        if self.ema_extra is not None:
            self.ema_extra.load_state_dict(self.model.state_dict())
        self.init_source = {"path": str(path), "training_steps": source.metadata.get("training_steps"),
                            "prediction": source.config.prediction, "lifted_layers": lifted}
        log.info("initialised weights from %s (%s)", path, source.metadata.get("training_steps", "?"))

    def write_samples(self, count: int = 4) -> Path:
        """A PNG grid: for a few validation objects, input views | sample | truth."""
        from .sample_grid import write_sample_grid

        return write_sample_grid(self.ema, self.schedule, self.cfg.data, self.out / f"samples_{self.step:07d}.png",
                                 count=count, max_views=self.cfg.max_views)
