"""Starting a new ViewFusion network from a trained one whose stem and head differ.

A relative-mode model (condition = view ⊕ anchor) or a pixel-unshuffle model (2x2 blocks folded
into channels) has the same U-Net inside as a canonical 32x32 model of the same width, but a
different input and output layer. :func:`lift_weights` copies every inner layer unchanged and
builds the stem and head so that, at initialisation, the new network computes exactly what the
trained one computes on the 2x2-averaged images, ignoring the anchor:

* stem: each old input channel's kernel is spread over its 4 sub-pixel channels with weight
  1/4 (the average of a 2x2 block is the downsampled pixel); the anchor's channels start at 0;
* head: each old output channel's kernel is copied to its 4 sub-pixel channels, so the
  pixel-shuffled output is the old output upsampled by nearest neighbour.

Training then learns the anchor's use and the full resolution from a network that already
denoises objects, instead of from random weights.

:func:`grow_weights` starts a network with a deeper middle (more ``mid_blocks``) from one with fewer: every
layer the two share is copied, and the new (attention, res block) pairs keep their initialisation, whose
zeroed output layers make each the identity, so the grown network computes what the trained one does.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from .unet import ViewFusionUNet


def lift_weights(source: ViewFusionUNet, target: ViewFusionUNet) -> list[str]:
    """Copy ``source`` into ``target`` as the module docstring says; returns the names that were adapted.

    The inner U-Net is convolutional, so it may run at another resolution (e.g. a 32x32 model lifted
    into a plain 64x64 one: then only the anchor's stem channels are new). Raises ValueError when
    the inner networks differ (any layer other than stem and head).
    """
    s_cfg, t_cfg = source.config, target.config
    if s_cfg.image_channels != t_cfg.image_channels:
        raise ValueError(f"cannot lift a {s_cfg.image_channels}-channel network into a {t_cfg.image_channels}-channel one")
    source_state, target_state = source.state_dict(), target.state_dict()
    adapted = {"conv_in.weight", "conv_out.weight", "conv_out.bias"}
    mismatched = [k for k in target_state if k not in adapted
                  and (k not in source_state or source_state[k].shape != target_state[k].shape)]
    if mismatched:
        raise ValueError(f"the inner networks differ; cannot lift weights (first differences: {mismatched[:3]})")
    new_state = {k: (v if k in adapted else source_state[k]).clone() for k, v in target_state.items()}
    fold = t_cfg.pixel_unshuffle**2 // s_cfg.pixel_unshuffle**2
    if fold not in (1, 4) or s_cfg.pixel_unshuffle != 1:
        raise ValueError("lifting goes from a plain network to a plain or 2x2 pixel-unshuffle one")
    c = s_cfg.image_channels
    old_in = source_state["conv_in.weight"]  # (ch, cond_s + c, 3, 3)
    stem = torch.zeros_like(target_state["conv_in.weight"])  # (ch, (cond_t + c) * fold, 3, 3)
    # Old input channels: the view (first c) and the noisy target (last c); the new layout is
    # view (c), [anchor (c)], noisy (c), each channel spread over ``fold`` sub-pixel channels.
    old_channels = list(range(c)) + list(range(s_cfg.condition_channels, s_cfg.condition_channels + c))
    new_channels = list(range(c)) + list(range(t_cfg.condition_channels, t_cfg.condition_channels + c))
    for old, new in zip(old_channels, new_channels, strict=True):
        for k in range(fold):
            stem[:, new * fold + k] = old_in[:, old] / fold
    new_state["conv_in.weight"] = stem
    for name in ("conv_out.weight", "conv_out.bias"):
        new_state[name] = source_state[name].repeat_interleave(fold, dim=0)
    target.load_state_dict(new_state)
    return sorted(adapted)


def grow_weights(source: ViewFusionUNet, target: ViewFusionUNet) -> list[str]:
    """Copy ``source`` into ``target``, whose only difference is more ``mid_blocks``; returns the new layers' names.

    Raises ValueError for any other difference."""
    s_cfg, t_cfg = source.config, target.config
    if replace(s_cfg, mid_blocks=t_cfg.mid_blocks) != t_cfg or t_cfg.mid_blocks <= s_cfg.mid_blocks:
        raise ValueError("growing goes to the same network with more mid_blocks")
    source_state, target_state = source.state_dict(), target.state_dict()
    new = sorted(k for k in target_state if k not in source_state)
    target.load_state_dict({**target_state, **source_state})
    return new
