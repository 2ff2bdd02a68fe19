"""ViewFusion composition (Listing 1): padding, permutation invariance, exact single-view weights."""

from __future__ import annotations

import torch

from nvs_fusion_ros.diffusion.composition import compose_noise, pad_streams, stream_layout


def _streams(counts: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    m = sum(counts)
    return torch.randn(m, 3, 5, 4, generator=g), 3 * torch.randn(m, 3, 5, 4, generator=g), torch.tensor(counts)


def test_stream_layout_assigns_items_and_slots() -> None:
    item, slot = stream_layout(torch.tensor([2, 1, 3]))
    assert item.tolist() == [0, 0, 1, 2, 2, 2]
    assert slot.tolist() == [0, 1, 0, 0, 1, 2]


def test_padded_batch_equals_per_item_composition() -> None:
    counts = [3, 1, 5, 2]
    noise, logits, view_counts = _streams(counts)
    batched, weights = compose_noise(noise, logits, view_counts)
    start = 0
    for b, n in enumerate(counts):
        alone, alone_w = compose_noise(noise[start : start + n], logits[start : start + n], torch.tensor([n]))
        torch.testing.assert_close(batched[b], alone[0], rtol=0, atol=1e-6)
        torch.testing.assert_close(weights[b, :n], alone_w[0], rtol=0, atol=1e-6)
        assert bool((weights[b, n:] == 0).all()), "padded slots must get exactly zero weight"
        start += n


def test_weights_are_a_per_pixel_distribution_over_views() -> None:
    noise, logits, counts = _streams([4, 2])
    _, weights = compose_noise(noise, logits, counts)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(2, 3, 5, 4))
    assert bool((weights >= 0).all())


def test_composition_is_permutation_invariant() -> None:
    noise, logits, counts = _streams([6])
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(3))
    a, _ = compose_noise(noise, logits, counts)
    b, _ = compose_noise(noise[perm], logits[perm], counts)
    assert float((a - b).abs().max()) < 1e-5


def test_single_view_gets_weight_exactly_one() -> None:
    noise, logits, counts = _streams([1])
    composite, weights = compose_noise(noise, logits * 100, counts)
    assert bool((weights == 1.0).all())
    assert torch.equal(composite, noise)


def test_composite_follows_the_largest_logit() -> None:
    noise = torch.stack([torch.full((3, 2, 2), 1.0), torch.full((3, 2, 2), -1.0)])
    logits = torch.stack([torch.full((3, 2, 2), 50.0), torch.zeros(3, 2, 2)])
    composite, _ = compose_noise(noise, logits, torch.tensor([2]))
    torch.testing.assert_close(composite, torch.ones(1, 3, 2, 2))


def test_pad_streams_fills() -> None:
    padded = pad_streams(torch.arange(3.0)[:, None], torch.tensor([1, 2]), -7.0)
    assert padded.squeeze(-1).tolist() == [[0.0, -7.0], [1.0, 2.0]]
