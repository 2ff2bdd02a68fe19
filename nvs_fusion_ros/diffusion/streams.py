"""The stream layout: what each network stream of a batch of items is conditioned on.

A batch holds B items (a target and its own pose-free views, stacked item after item); the
network runs one stream per view. A canonical model sees each stream's view alone; a relative
model, whose target angle is measured from the item's anchor view, sees the view ⊕ the anchor
view, so it knows which view the angle starts from.
"""

from __future__ import annotations

import torch

from .composition import expand_to_streams


def stream_conditions(views: torch.Tensor, view_counts: torch.Tensor, anchors: torch.Tensor, relative: bool) -> torch.Tensor:
    """Each stream's condition (M, C, H, W): its view, ⊕ its item's anchor view in relative mode.

    The one definition, shared by inference (``synthesis.runner.ModelRunner``) and training, so a model
    always sees at run time the layout it was trained on.
    """
    if not relative:
        return views
    counts = view_counts.to(views.device)
    starts = torch.cumsum(counts, 0) - counts
    anchor_views = views[starts + anchors.to(views.device)]
    return torch.cat([views, expand_to_streams(anchor_views, counts)], dim=1)
