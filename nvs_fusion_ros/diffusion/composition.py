"""ViewFusion's composition of per-view noise predictions (paper Listing 1).

The network runs on a flat batch of streams: the views of batch item 0, then
those of item 1, and so on (``view_counts`` says how many each item has). Here
the streams are scattered into a (B, N_max, C, H, W) tensor padded with -inf
logits, so that a softmax over the view axis gives padded slots exactly zero
weight, and the weighted noise is summed over views. No Python loop over views
or items: one index computation and one scatter.
"""

from __future__ import annotations

import torch


def stream_layout(view_counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each stream, the batch item it belongs to and its slot within that item."""
    counts = view_counts.to(torch.long)
    if counts.dim() != 1 or bool((counts < 1).any()):
        raise ValueError(f"view_counts must be a 1-D tensor of positive counts, got {view_counts.tolist()}")
    item = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(int(counts.sum()), device=counts.device) - starts[item]
    return item, slot


def pad_streams(streams: torch.Tensor, view_counts: torch.Tensor, fill: float) -> torch.Tensor:
    """(M, ...) stacked streams -> (B, N_max, ...) padded with ``fill``."""
    item, slot = stream_layout(view_counts.to(streams.device))
    padded = streams.new_full((len(view_counts), int(view_counts.max()), *streams.shape[1:]), fill)
    padded[item, slot] = streams
    return padded


def compose_noise(
    noise: torch.Tensor, logits: torch.Tensor, view_counts: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted sum of per-view noise with per-pixel softmax weights over views.

    Args:
        noise, logits: (M, C, H, W) network outputs for M = sum(view_counts) streams.
        view_counts: (B,) number of views of each batch item.

    Returns:
        composite noise (B, C, H, W) and the normalised weights (B, N_max, C, H, W),
        zero on padded slots and summing to one over views at every pixel.
    """
    if noise.shape != logits.shape:
        raise ValueError(f"noise {tuple(noise.shape)} and logits {tuple(logits.shape)} differ in shape")
    if int(view_counts.sum()) != noise.shape[0]:
        raise ValueError(f"view_counts sum to {int(view_counts.sum())} but there are {noise.shape[0]} streams")
    weights = torch.softmax(pad_streams(logits.float(), view_counts, float("-inf")), dim=1)
    composite = (pad_streams(noise.float(), view_counts, 0.0) * weights).sum(dim=1)
    return composite, weights


def expand_to_streams(per_item: torch.Tensor, view_counts: torch.Tensor) -> torch.Tensor:
    """Repeat a per-item tensor (B, ...) once per view: (M, ...), matching the stream order."""
    return torch.repeat_interleave(per_item, view_counts.to(per_item.device), dim=0)
