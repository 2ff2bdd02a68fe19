"""The ViewFusion per-view U-Net (paper §3.1, after Saharia et al. 2022).

One call denoises a flat batch of *streams*: each stream is one input view
concatenated with the noisy target, conditioned on the target angle and the
noise level. Composition across views happens outside the network
(``diffusion.composition``), so every engine (torch, ONNX Runtime, TensorRT)
runs exactly this graph and shares the samplers.

Everything here exports to ONNX with the legacy exporter: attention is written
with plain matmuls and the encodings with sin/cos.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .config import UNetConfig


def _groups(channels: int, wanted: int) -> int:
    """Largest group count <= wanted that divides channels."""
    return math.gcd(channels, wanted)


def log_snr(noise_level: torch.Tensor) -> torch.Tensor:
    """log(γ / (1-γ)) of the signal fraction γ = ᾱ_t; resolves both ends of the schedule."""
    gamma = noise_level.clamp(1e-12, 1.0 - 1e-12)
    return torch.log(gamma) - torch.log1p(-gamma)


def sinusoidal_encoding(values: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer positional encoding of a real value per batch item: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=values.device) / half)
    args = values.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def angle_encoding(angle: torch.Tensor, harmonics: int) -> torch.Tensor:
    """Periodic encoding of an azimuth: sin/cos of k·ψ, k = 1..harmonics, so ψ and ψ+2π coincide."""
    k = torch.arange(1, harmonics + 1, device=angle.device, dtype=torch.float32)
    args = angle.float()[:, None] * k[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the conditioning embedding as FiLM (scale, shift) or bias."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int, dropout: float, film: bool):
        super().__init__()
        self.film = film
        self.norm1 = nn.GroupNorm(_groups(in_ch, groups), in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch * (2 if film else 1))
        self.norm2 = nn.GroupNorm(_groups(out_ch, groups), out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        cond = self.emb(F.silu(emb))[:, :, None, None]
        h = self.norm2(h)
        if self.film:
            scale, shift = cond.chunk(2, dim=1)
            h = h * (1 + scale) + shift
        else:
            h = h + cond
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over pixels, with plain matmuls so every exporter handles it."""

    def __init__(self, channels: int, heads: int, groups: int):
        super().__init__()
        if channels % heads:
            raise ValueError(f"{channels} channels do not split into {heads} attention heads")
        self.heads = heads
        self.norm = nn.GroupNorm(_groups(channels, groups), channels)
        self.qkv = nn.Conv2d(channels, channels * 3, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b * self.heads, 3 * c // self.heads, h * w).chunk(3, dim=1)
        scale = (c // self.heads) ** -0.5
        attn = torch.softmax(torch.bmm(q.transpose(1, 2), k) * scale, dim=-1)  # (B*heads, HW, HW)
        out = torch.bmm(v, attn.transpose(1, 2)).reshape(b, c, h, w)
        return x + self.out(out)


class ViewFusionUNet(nn.Module):
    """Per-stream network: (view ⊕ noisy target, angle, noise level) -> (noise, weight logits)."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        c = config
        ch = c.inner_channels
        self.noise_dim = c.embedding_dim
        cond_in = c.embedding_dim + 2 * c.angle_harmonics
        # Two-layer MLP on the concatenated encodings (paper: one hidden layer, sigmoid-type nonlinearity).
        self.cond_mlp = nn.Sequential(
            nn.Linear(cond_in, c.embedding_dim), nn.SiLU(), nn.Linear(c.embedding_dim, c.embedding_dim)
        )
        fold = c.pixel_unshuffle**2  # channels per pixel grow by this when 2x2 blocks fold into channels
        self.conv_in = nn.Conv2d((c.condition_channels + c.image_channels) * fold, ch, 3, padding=1)

        self.down = nn.ModuleList()
        skip_channels = [ch]
        resolution = c.inner_size
        for level, mult in enumerate(c.channel_mults):
            out_ch = c.inner_channels * mult
            for _ in range(c.res_blocks):
                self.down.append(self._block(ch, out_ch, resolution))
                ch = out_ch
                skip_channels.append(ch)
            if level < len(c.channel_mults) - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                resolution //= 2
                skip_channels.append(ch)

        # res block, then ``mid_blocks`` (attention, res block) pairs: each starts as the identity (zero-initialised
        # output layers), so a deeper middle grows from a trained network without changing what it computes
        self.mid = nn.ModuleList([ResBlock(ch, ch, c.embedding_dim, c.norm_groups, c.dropout, c.film)])
        for _ in range(c.mid_blocks):
            self.mid.append(SelfAttention(ch, c.attention_heads, c.norm_groups))
            self.mid.append(ResBlock(ch, ch, c.embedding_dim, c.norm_groups, c.dropout, c.film))

        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(c.channel_mults))):
            out_ch = c.inner_channels * mult
            for _ in range(c.res_blocks + 1):
                self.up.append(self._block(ch + skip_channels.pop(), out_ch, resolution))
                ch = out_ch
            if level > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, ch, 3, padding=1)))
                resolution *= 2

        self.norm_out = nn.GroupNorm(_groups(ch, c.norm_groups), ch)
        self.conv_out = nn.Conv2d(ch, 2 * c.image_channels * fold, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def _block(self, in_ch: int, out_ch: int, resolution: int) -> nn.Module:
        c = self.config
        res = ResBlock(in_ch, out_ch, c.embedding_dim, c.norm_groups, c.dropout, c.film)
        if resolution in c.attention_resolutions:
            return nn.ModuleList([res, SelfAttention(out_ch, c.attention_heads, c.norm_groups)])
        return nn.ModuleList([res])

    @staticmethod
    def _run_block(block: nn.ModuleList, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = block[0](h, emb)
        return block[1](h) if len(block) > 1 else h

    def embed(self, angle: torch.Tensor, noise_level: torch.Tensor) -> torch.Tensor:
        """Joint conditioning embedding of target angle and noise level (γ = ᾱ_t)."""
        # log-SNR spans about [-10, 14] on the paper's schedule; x50 spreads it over the encoding's periods.
        level = sinusoidal_encoding(50.0 * log_snr(noise_level), self.noise_dim)
        return self.cond_mlp(torch.cat([level, angle_encoding(angle, self.config.angle_harmonics)], dim=1))

    def forward(
        self, views: torch.Tensor, noisy: torch.Tensor, angle: torch.Tensor, noise_level: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """views: (M, condition_channels, H, W), noisy: (M, 3, H, W), both in [-1, 1]; angle, noise_level: (M,).

        Returns (noise, logits), each (M, 3, H, W).
        """
        emb = self.embed(angle, noise_level).to(views.dtype)
        h = torch.cat([views, noisy], dim=1)
        if self.config.pixel_unshuffle > 1:
            h = F.pixel_unshuffle(h, self.config.pixel_unshuffle)
        h = self.conv_in(h)
        skips = [h]
        for block in self.down:
            h = self._run_block(block, h, emb) if isinstance(block, nn.ModuleList) else block(h)
            skips.append(h)
        for layer in self.mid:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
        for block in self.up:
            if isinstance(block, nn.ModuleList):
                h = self._run_block(block, torch.cat([h, skips.pop()], dim=1), emb)
            else:
                h = block(h)
        out = self.conv_out(F.silu(self.norm_out(h)))
        if self.config.pixel_unshuffle > 1:
            out = F.pixel_shuffle(out, self.config.pixel_unshuffle)
        channels = self.config.image_channels
        return out[:, :channels], out[:, channels:]
