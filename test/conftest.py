"""Shared fixtures: small real models saved as real checkpoint files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nvs_fusion_ros.diffusion.schedules import NoiseSchedule, linear_schedule
from nvs_fusion_ros.engines.torch_engine import TorchDenoiser
from nvs_fusion_ros.model.checkpoint import save_checkpoint
from nvs_fusion_ros.model.config import preset
from nvs_fusion_ros.model.temporal_unet import TemporalUNet, temporal_preset
from nvs_fusion_ros.model.unet import ViewFusionUNet
from nvs_fusion_ros.synthesis.runner import ModelRunner


@pytest.fixture
def one_torch_thread():
    """One thread: on cores shared with a training run, OpenMP threads of tiny ops wait on each other for seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randomise_weights(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every weight random, in eval mode: zero-initialised output layers would hide bugs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.2)
    return model.eval()


def randomised_tiny_model(seed: int = 0) -> ViewFusionUNet:
    """The 'tiny' preset with every weight random."""
    return randomise_weights(ViewFusionUNet(preset("tiny")), seed)


def torch_runner(model: ViewFusionUNet, schedule: NoiseSchedule, max_batch: int = 64) -> ModelRunner:
    """A runner on the torch engine in fp32 on the CPU, so only what a test varies can change a result."""
    return ModelRunner(TorchDenoiser(model, "cpu", bf16=False), schedule, model.config, max_batch)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random model on the paper's schedule shortened to 100 levels, as a checkpoint file."""
    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    save_checkpoint(path, randomised_tiny_model(), linear_schedule(1e-4, 0.1, 100), {"note": "random, untrained"})
    return path


@pytest.fixture(scope="session")
def temporal_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random temporal-tiny model on ``tiny_checkpoint``'s schedule, as a checkpoint file."""
    path = tmp_path_factory.mktemp("temporal") / "temporal.pt"
    model = randomise_weights(TemporalUNet(temporal_preset("temporal-tiny")), seed=3)
    save_checkpoint(path, model, linear_schedule(1e-4, 0.1, 100), {"note": "random, untrained"})
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test over real DDS (marked ``ros``) is in the slow tier too: ``pytest -m "not slow"`` leaves
    out discovery, subprocess nodes and teardown waits, and the default ``pytest`` runs everything."""
    for item in items:
        if item.get_closest_marker("ros") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
