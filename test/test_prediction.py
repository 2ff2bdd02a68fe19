"""ε- and v-prediction: exact conversions, and composition over views is the same either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import torch_runner

from nvs_fusion_ros.diffusion.composition import compose_noise
from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.diffusion.schedules import linear_schedule, prediction_target, prediction_to_eps
from nvs_fusion_ros.model.checkpoint import load_checkpoint, save_checkpoint
from nvs_fusion_ros.model.config import UNetConfig, preset
from nvs_fusion_ros.model.unet import ViewFusionUNet
from nvs_fusion_ros.synthesis.synthesizer import NovelViewSynthesizer


def _state(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y0 = torch.rand(3, 3, 4, 4, generator=g) * 2 - 1
    eps = torch.randn(3, 3, 4, 4, generator=g)
    gamma = torch.tensor([0.9999, 0.3, 4.5e-5])
    y_t = gamma.sqrt().view(-1, 1, 1, 1) * y0 + (1 - gamma).sqrt().view(-1, 1, 1, 1) * eps
    return y0, eps, gamma, y_t


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_the_target_converts_back_to_the_true_noise(prediction: str) -> None:
    y0, eps, gamma, y_t = _state()
    target = prediction_target(prediction, y0, eps, gamma)
    torch.testing.assert_close(prediction_to_eps(prediction, target, y_t, gamma), eps, rtol=1e-4, atol=1e-4)


def test_v_stays_at_unit_scale_where_eps_hides_the_image() -> None:
    y0, eps, gamma, _ = _state()
    v = prediction_target("v", y0, eps, gamma)
    # At γ = 4.5e-5, v ≈ −y0: the clean image is the output, not a 0.7% perturbation of it.
    torch.testing.assert_close(v[2], -y0[2], rtol=0, atol=0.03)


def test_composing_v_equals_composing_eps() -> None:
    g = torch.Generator().manual_seed(1)
    y_t = torch.randn(1, 3, 4, 4, generator=g)
    eps_views = torch.randn(5, 3, 4, 4, generator=g)
    logits = torch.randn(5, 3, 4, 4, generator=g)
    gamma = 0.37
    y0_views = (y_t - (1 - gamma) ** 0.5 * eps_views) / gamma**0.5
    v_views = prediction_target("v", y0_views, eps_views, gamma)
    counts = torch.tensor([5])
    eps_composite, _ = compose_noise(eps_views, logits, counts)
    v_composite, _ = compose_noise(v_views, logits, counts)
    torch.testing.assert_close(prediction_to_eps("v", v_composite, y_t, gamma), eps_composite, rtol=1e-5, atol=1e-5)


def test_unknown_prediction_is_refused() -> None:
    with pytest.raises(ValueError, match="prediction"):
        UNetConfig(prediction="x0")
    with pytest.raises(ValueError, match="unknown prediction"):
        prediction_target("score", *_state()[:3])
    assert preset("cpu-32").prediction == "v" and preset("paper-64").prediction == "eps"


@pytest.mark.slow
def test_a_v_model_synthesizes_on_every_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVS_FUSION_CACHE", str(tmp_path / "cache"))
    config = UNetConfig(**{**preset("tiny").to_dict(), "prediction": "v"})
    torch.manual_seed(0)
    model = ViewFusionUNet(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    path = save_checkpoint(tmp_path / "v.pt", model, linear_schedule(1e-4, 0.1, 50))
    views = [np.full((16, 16, 3), 200, np.uint8)]
    ort = NovelViewSynthesizer.from_checkpoint(path, engine="onnxruntime", device="cpu")
    checkpoint = load_checkpoint(path)
    fp32 = NovelViewSynthesizer(checkpoint, torch_runner(checkpoint.model, checkpoint.schedule))
    assert ort.runner.denoiser.prediction == fp32.runner.denoiser.prediction == "v"
    images = [synth.synthesize(views, 0.0, sampling=SamplingSpec(steps=3, seed=0)).images for synth in (fp32, ort)]
    assert images[0].shape == (1, 16, 16, 3)
    assert np.abs(images[0].astype(int) - images[1].astype(int)).max() <= 1
