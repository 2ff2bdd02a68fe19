"""Key-view selection, the set-publishing protocol and frame preparation, without ROS."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from nvs_fusion_ros.synthesis.key_views import (
    THUMBNAIL_SIZE,
    Decision,
    KeyViewSet,
    ReceivedViews,
    crop_to_roi,
    prepare_key_view,
    set_diversity,
    thumbnail,
    view_difference,
)
from nvs_fusion_ros.synthesis.tensors import read_rgb

SAMPLE_VIEWS = sorted((Path(__file__).resolve().parents[1] / "nvs_fusion_ros" / "data" / "sample_views").glob("*.png"))


def grey(level: int, size: int = 16) -> np.ndarray:
    return np.full((size, size, 3), level, np.uint8)


def test_difference_is_a_mean_absolute_thumbnail_difference_in_unit_range() -> None:
    black, white = thumbnail(grey(0)), thumbnail(grey(255))
    assert black.shape == (THUMBNAIL_SIZE, THUMBNAIL_SIZE)
    assert view_difference(black, white) == pytest.approx(1.0)
    assert view_difference(black, black) == 0.0
    assert view_difference(thumbnail(grey(0)), thumbnail(grey(51))) == pytest.approx(0.2, abs=1e-6)
    # letterboxing on white: a tall black bar differs from a black square only by the white margins
    assert view_difference(thumbnail(np.zeros((32, 16, 3), np.uint8)), black) == pytest.approx(0.5)


def test_sample_views_are_mutually_distinct_key_views() -> None:
    assert len(SAMPLE_VIEWS) == 6
    views = KeyViewSet(max_views=6, min_view_difference=0.02)
    for path in SAMPLE_VIEWS:
        assert views.offer(read_rgb(path), path.name).decision is Decision.ADDED
    assert views.offer(read_rgb(SAMPLE_VIEWS[0]), "again").decision is Decision.TOO_SIMILAR


def test_admission_needs_the_threshold_against_every_kept_view() -> None:
    views: KeyViewSet[str] = KeyViewSet(max_views=4, min_view_difference=0.1)
    assert views.offer(grey(0), "a").decision is Decision.ADDED
    offer = views.offer(grey(20), "b")
    assert offer.decision is Decision.TOO_SIMILAR and offer.closest_difference == pytest.approx(20 / 255, abs=1e-6)
    assert views.offer(grey(100), "c").decision is Decision.ADDED
    assert [v.meta for v in views.views] == ["a", "c"]


def test_full_set_replaces_only_when_it_becomes_more_diverse() -> None:
    views: KeyViewSet[int] = KeyViewSet(max_views=3, min_view_difference=0.05)
    for level in (0, 40, 255):
        views.offer(grey(level), level)
    before = set_diversity([v.thumbnail for v in views.views])
    # 120 is far from all three; swapping it for 40 raises the minimum pairwise difference
    offer = views.offer(grey(120), 120)
    assert offer.decision is Decision.REPLACED and offer.evicted is not None and offer.evicted.meta == 40
    assert [v.meta for v in views.views] == [0, 255, 120]
    assert set_diversity([v.thumbnail for v in views.views]) > before
    # 200 would pass the threshold but every swap makes the set less diverse
    assert views.offer(grey(200), 200).decision is Decision.NOT_MORE_DIVERSE
    assert [v.meta for v in views.views] == [0, 255, 120]


def test_single_view_set_keeps_its_first_view() -> None:
    views: KeyViewSet[str] = KeyViewSet(max_views=1, min_view_difference=0.0)
    assert views.offer(grey(0), "first").decision is Decision.ADDED
    assert views.offer(grey(255), "second").decision is Decision.NOT_MORE_DIVERSE


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_views"):
        KeyViewSet(0, 0.1)
    with pytest.raises(ValueError, match=r"min_view_difference must be in \[0, 1\]"):
        KeyViewSet(3, 1.5)


def replay(published: list[str], capacity: int) -> list[str]:
    received = ReceivedViews(capacity)
    for key in published:
        received.receive(key, np.zeros((1, 1, 3), np.uint8))
    return [str(k) for k in received.keys()]


def test_protocol_gives_live_and_late_subscribers_exactly_the_current_set() -> None:
    """Drive a random camera through a KeyViewSet, publish as the node does, and check both kinds of receiver."""
    rng = random.Random(0)
    max_views = 4
    views: KeyViewSet[str] = KeyViewSet(max_views, min_view_difference=0.02)
    published: list[str] = []
    replacements = 0
    for i in range(200):
        offer = views.offer(grey(rng.randrange(256)), f"v{i}")
        if offer.decision.changed:
            replacements += offer.decision is Decision.REPLACED
            published.extend(v.meta for v in views.views)
            current = sorted(v.meta for v in views.views)
            assert sorted(replay(published, max_views)) == current  # live subscriber
            assert sorted(replay(published[-max_views:], max_views)) == current  # late joiner, transient-local history
    assert replacements >= 3


def test_mask_crop_and_letterbox() -> None:
    image = np.zeros((20, 40, 3), np.uint8)
    mask = np.zeros((20, 40), np.uint8)
    mask[5:15, 10:20] = 255
    view = prepare_key_view(image, 8, roi=(0, 0, 20, 20), mask=mask)
    assert view.shape == (8, 8, 3)
    full = prepare_key_view(image, 40, mask=mask)
    assert (full[10:30][mask == 0] == 255).all() and (full[10:30][mask > 0] == 0).all()
    assert crop_to_roi(image, 0, 0, 0, 0) is image
    assert crop_to_roi(image, 30, 10, 50, 50).shape == (10, 10, 3)
    with pytest.raises(ValueError, match="outside"):
        crop_to_roi(image, 45, 0, 5, 5)
    with pytest.raises(ValueError, match="mask is 10x10 but the image is 40x20"):
        prepare_key_view(image, 8, mask=np.zeros((10, 10), np.uint8))


def test_degenerate_frames_are_refused_with_a_reason() -> None:
    image = np.zeros((20, 40, 3), np.uint8)
    image[5:15, 10:20] = 200
    with pytest.raises(ValueError, match="mask selects no pixel"):
        prepare_key_view(image, 8, mask=np.zeros((20, 40), np.uint8))
    with pytest.raises(ValueError, match="1x1 pixels, below the 8x8 minimum"):
        prepare_key_view(image, 8, roi=(12, 6, 1, 1))
    with pytest.raises(ValueError, match="one flat colour"):
        prepare_key_view(np.full((20, 40, 3), 7, np.uint8), 8)
    with pytest.raises(ValueError, match=r"one flat colour \(255, 255, 255\)"):  # the mask keeps only a blank part
        prepare_key_view(np.full((20, 40, 3), 255, np.uint8), 8, mask=np.ones((20, 40), np.uint8))
    assert prepare_key_view(image, 8, roi=(8, 4, 16, 12)).shape == (8, 8, 3)
