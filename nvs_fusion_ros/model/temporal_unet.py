"""A small video diffusion model: the temporal denoiser D_time of the score composition (Diffusion²).

It denoises one clip of a single view: F noisy frames, conditioned on the clip's clean first frame
(concatenated to every frame as extra input channels), the view's azimuth and the noise level,
all frames at the same level. The spatial network is a 2D U-Net on the B·F frames, built from the
ViewFusion blocks (:mod:`.unet`); after every res block a :class:`TemporalMixing` layer mixes each
pixel's features across the frames (a 1D convolution over time), and every frame also gets an
encoding of its index, so the network knows the order and the distance to the conditioning frame.
The noise schedule and the ε / v parametrisation are the view model's, which the composition
needs: both denoisers must speak about the same noisy state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .config import UNetConfig
from .unet import ResBlock, SelfAttention, _groups, angle_encoding, log_snr, sinusoidal_encoding


@dataclass(frozen=True)
class TemporalUNetConfig(UNetConfig):
    """The view U-Net's hyper-parameters (same meaning) plus the temporal kernel.

    Input per frame: the first frame ⊕ the noisy frame (``2 * image_channels``); output: the
    prediction only (``image_channels``, ε or v as ``prediction`` says). The angle encoding
    carries the azimuth of the clip's view.
    """

    temporal_kernel: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.temporal_kernel < 1 or self.temporal_kernel % 2 == 0:
            raise ValueError(f"temporal_kernel must be a positive odd number, got {self.temporal_kernel}")


TEMPORAL_PRESETS: dict[str, TemporalUNetConfig] = {
    # 32x32 clips on the CPU, beside the cpu-32 view model (same schedule, v-prediction).
    "temporal-cpu-32": TemporalUNetConfig(
        image_size=32, inner_channels=32, channel_mults=(1, 2, 2), res_blocks=1, attention_resolutions=(8,),
        prediction="v",
    ),
    # For unit tests only.
    "temporal-tiny": TemporalUNetConfig(
        image_size=16, inner_channels=8, channel_mults=(1, 2), res_blocks=1, attention_resolutions=(8,),
        norm_groups=4, embedding_dim=16, angle_harmonics=4, prediction="v",
    ),
}


def temporal_preset(name: str) -> TemporalUNetConfig:
    """The named temporal preset, or a ValueError listing the valid names."""
    try:
        return TEMPORAL_PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown temporal model preset {name!r}; choose one of {sorted(TEMPORAL_PRESETS)}") from None


class TemporalMixing(nn.Module):
    """Residual 1D convolution across frames at every pixel; zero-initialised, so it starts as identity."""

    def __init__(self, channels: int, groups: int, kernel: int):
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels, groups), channels)
        self.conv = nn.Conv1d(channels, channels, kernel, padding=kernel // 2)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, h: torch.Tensor, frames: int) -> torch.Tensor:
        bf, c, height, width = h.shape
        x = F.silu(self.norm(h)).reshape(bf // frames, frames, c, height, width)
        x = x.permute(0, 3, 4, 2, 1).reshape(-1, c, frames)  # (B·H·W, C, F)
        x = self.conv(x).reshape(bf // frames, height, width, c, frames).permute(0, 4, 3, 1, 2)
        return h + x.reshape(bf, c, height, width)


class TemporalUNet(nn.Module):
    """(noisy clip, first frame, view azimuth, noise level) -> prediction for every frame."""

    def __init__(self, config: TemporalUNetConfig):
        super().__init__()
        self.config = config
        c = config
        ch = c.inner_channels
        self.cond_mlp = nn.Sequential(
            nn.Linear(c.embedding_dim + 2 * c.angle_harmonics, c.embedding_dim), nn.SiLU(),
            nn.Linear(c.embedding_dim, c.embedding_dim),
        )
        self.frame_proj = nn.Linear(c.embedding_dim, c.embedding_dim)
        self.conv_in = nn.Conv2d(2 * c.image_channels, ch, 3, padding=1)

        self.down = nn.ModuleList()
        skip_channels = [ch]
        resolution = c.image_size
        for level, mult in enumerate(c.channel_mults):
            for _ in range(c.res_blocks):
                self.down.append(self._block(ch, c.inner_channels * mult, resolution))
                ch = c.inner_channels * mult
                skip_channels.append(ch)
            if level < len(c.channel_mults) - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                resolution //= 2
                skip_channels.append(ch)
        self.mid = nn.ModuleList([self._block(ch, ch, -1), SelfAttention(ch, c.attention_heads, c.norm_groups),
                                  self._block(ch, ch, -1)])
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(c.channel_mults))):
            for _ in range(c.res_blocks + 1):
                self.up.append(self._block(ch + skip_channels.pop(), c.inner_channels * mult, resolution))
                ch = c.inner_channels * mult
            if level > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, ch, 3, padding=1)))
                resolution *= 2
        self.norm_out = nn.GroupNorm(_groups(ch, c.norm_groups), ch)
        self.conv_out = nn.Conv2d(ch, c.image_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def _block(self, in_ch: int, out_ch: int, resolution: int) -> nn.ModuleList:
        """Res block, spatial attention at the configured resolutions, then temporal mixing."""
        c = self.config
        layers: list[nn.Module] = [ResBlock(in_ch, out_ch, c.embedding_dim, c.norm_groups, c.dropout, c.film)]
        if resolution in c.attention_resolutions:
            layers.append(SelfAttention(out_ch, c.attention_heads, c.norm_groups))
        layers.append(TemporalMixing(out_ch, c.norm_groups, c.temporal_kernel))
        return nn.ModuleList(layers)

    @staticmethod
    def _run_block(block: nn.ModuleList, h: torch.Tensor, emb: torch.Tensor, frames: int) -> torch.Tensor:
        h = block[0](h, emb)
        if len(block) == 3:
            h = block[1](h)
        return block[-1](h, frames)

    def embed(self, angle: torch.Tensor, noise_level: torch.Tensor, frames: int) -> torch.Tensor:
        """Per-frame conditioning (B·F, E): clip embedding (level, azimuth) + frame-index embedding."""
        dim = self.config.embedding_dim
        level = sinusoidal_encoding(50.0 * log_snr(noise_level), dim)  # as the view model scales log-SNR
        clip = self.cond_mlp(torch.cat([level, angle_encoding(angle, self.config.angle_harmonics)], dim=1))
        index = self.frame_proj(sinusoidal_encoding(torch.arange(frames, device=angle.device).float(), dim, 100.0))
        return (clip[:, None, :] + index[None, :, :]).reshape(-1, dim)

    def forward(
        self, noisy: torch.Tensor, first: torch.Tensor, angle: torch.Tensor, noise_level: torch.Tensor
    ) -> torch.Tensor:
        """noisy: (B, F, C, H, W); first: (B, C, H, W), both in [-1, 1]; angle, noise_level: (B,).
        Returns the prediction (B, F, C, H, W)."""
        b, frames, channels, height, width = noisy.shape
        emb = self.embed(angle, noise_level, frames).to(noisy.dtype)
        first = first[:, None].expand(b, frames, channels, height, width)
        h = self.conv_in(torch.cat([first, noisy], dim=2).reshape(b * frames, 2 * channels, height, width))
        skips = [h]
        for block in self.down:
            h = self._run_block(block, h, emb, frames) if isinstance(block, nn.ModuleList) else block(h)
            skips.append(h)
        h = self._run_block(self.mid[0], h, emb, frames)
        h = self.mid[1](h)
        h = self._run_block(self.mid[2], h, emb, frames)
        for block in self.up:
            if isinstance(block, nn.ModuleList):
                h = self._run_block(block, torch.cat([h, skips.pop()], dim=1), emb, frames)
            else:
                h = block(h)
        out = self.conv_out(F.silu(self.norm_out(h)))
        return out.reshape(b, frames, channels, height, width)
