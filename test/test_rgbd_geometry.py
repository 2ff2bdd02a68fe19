"""ROS-free RGB-D maths on rendered tabletop scenes: pairing, depth decoding, plane + object, metric placement,
carving with known hypotheses, and the benchmark's metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nvs_fusion_ros.datasets import tabletop
from nvs_fusion_ros.evaluation import geometry_metrics as metrics
from nvs_fusion_ros.evaluation.geometry_metrics import surface_scores
from nvs_fusion_ros.rgbd import completion, placement, segmentation
from nvs_fusion_ros.rgbd.depth import DepthError, Intrinsics, backproject, check_depth, decode_depth, remove_flying_pixels
from nvs_fusion_ros.rgbd.pairing import MASKED_STREAMS, StampPairer

BOX = (0.08, 0.06, 0.12)  # metres
BOX_RADIUS = 0.5 * math.sqrt(sum(s * s for s in BOX))
MS = 1_000_000


def box_scene(yaw_deg: float = 30.0, elevation_deg: float = 40.0, distance: float = 0.7,
              size: tuple[float, float, float] = BOX) -> tabletop.RGBDFrame:
    vertices, faces = tabletop.box_mesh(size)
    obj = tabletop.TabletopObject(vertices, faces, 0.5 * math.sqrt(sum(s * s for s in size)), math.radians(yaw_deg))
    return tabletop.render(obj, tabletop.TabletopCamera(distance, math.radians(elevation_deg)))


def world_to_camera(frame: tabletop.RGBDFrame, points: np.ndarray) -> np.ndarray:
    return points @ frame.world_to_optical[:3, :3].T + frame.world_to_optical[:3, 3]


def true_mask(frame: tabletop.RGBDFrame) -> np.ndarray:
    """Pixels whose depth point is more than 1 mm above the table (world z = 0)."""
    pts = backproject(frame.depth, frame.intrinsics).reshape(-1, 3)
    optical_to_world = np.linalg.inv(frame.world_to_optical)
    z = pts @ optical_to_world[2, :3] + optical_to_world[2, 3]
    return (np.nan_to_num(z, nan=-1.0) > 0.001).reshape(frame.depth.shape)


# ----------------------------------------------------------------------------- pairing


def test_pairing_matches_within_slop_once_and_reuses_camera_info() -> None:
    pairer: StampPairer[str] = StampPairer(slop_ns=5 * MS)
    assert pairer.add("info", 0, "i0") is None
    assert pairer.add("colour", 100 * MS, "c100") is None
    # CameraInfo 0 is 100 ms away from colour 100: out of slop, so no triple yet
    assert pairer.add("depth", 103 * MS, "d103") is None
    pair = pairer.add("info", 101 * MS, "i101")
    assert pair is not None and (pair.stamp_ns, pair["colour"], pair["depth"], pair["info"]) == (100 * MS, "c100", "d103", "i101")
    assert pairer.add("depth", 104 * MS, "d104") is None  # colour 100 was used up
    pair = pairer.add("colour", 133 * MS, "c133")
    assert pair is None  # depth 104 is 29 ms away
    pair = pairer.add("depth", 131 * MS, "d131")
    assert pair is None  # no CameraInfo within 5 ms of 133
    pair = pairer.add("info", 133 * MS, "i133")
    assert pair is not None and (pair["colour"], pair["depth"], pair["info"]) == ("c133", "d131", "i133")
    assert pairer.unpaired == 0


def test_image_mask_pairing_takes_each_image_with_its_own_mask_and_consumes_both() -> None:
    pairer: StampPairer[str] = StampPairer(slop_ns=0, streams=MASKED_STREAMS)
    for i in range(3):  # images at 30 Hz; the masker answers late and only for image 0 and image 2
        assert pairer.add("image", i * 33 * MS, f"image{i}") is None
    pair = pairer.add("mask", 66 * MS, "mask2")
    assert pair is not None and (pair.stamp_ns, pair["image"], pair["mask"]) == (66 * MS, "image2", "mask2")
    assert pairer.unpaired == 2 and pairer.missing == {"mask": 33 * MS}  # images 0 and 1 passed over; 1 is 33 ms off
    assert pairer.add("mask", 0, "mask0") is None  # image 0 went with the match after it: never paired late
    assert pairer.add("image", 99 * MS, "image3") is None  # mask 2 was used up; mask 0 is 99 ms away


def test_pairing_counts_colour_frames_that_never_pair() -> None:
    pairer: StampPairer[int] = StampPairer(slop_ns=1 * MS, depth=4)
    pairer.add("info", 0, 0)
    for i in range(10):
        assert pairer.add("colour", i * 33 * MS, i) is None
        assert pairer.add("depth", i * 33 * MS + 16 * MS, i) is None
    assert pairer.unpaired == 6  # ten colour frames through a queue of four
    with pytest.raises(ValueError, match="unknown stream"):
        pairer.add("lidar", 0, 0)


# ----------------------------------------------------------------------------- depth


def test_depth_decoding_units_and_invalid_readings() -> None:
    mm = np.array([[0, 500], [1234, 65535]], np.uint16)
    metres = decode_depth(mm, "16UC1")
    assert np.isnan(metres[0, 0]) and metres[0, 1] == pytest.approx(0.5) and metres[1, 0] == pytest.approx(1.234)
    floats = decode_depth(np.array([[np.nan, 0.0], [0.75, np.inf]], np.float32), "32FC1")
    assert np.isnan(floats[0, 0]) and np.isnan(floats[0, 1]) and floats[1, 0] == pytest.approx(0.75) and np.isnan(floats[1, 1])
    with pytest.raises(DepthError, match="16UC1"):
        decode_depth(mm, "mono16")
    intr = Intrinsics(100.0, 100.0, 0.5, 0.5, 2, 2)
    with pytest.raises(DepthError, match="no valid reading"):
        check_depth(decode_depth(np.zeros((2, 2), np.uint16), "16UC1"), intr, (2, 2, 3))
    with pytest.raises(DepthError, match="registered"):
        check_depth(metres, intr, (4, 4, 3))
    with pytest.raises(DepthError, match="CameraInfo"):
        check_depth(metres, Intrinsics(100.0, 100.0, 0.5, 0.5, 3, 2), (2, 2, 3))


def test_backprojection_inverts_projection() -> None:
    intr = Intrinsics(615.0, 610.0, 319.5, 239.5, 640, 480)
    depth = np.full((480, 640), 0.8, np.float32)
    points = backproject(depth, intr)
    pixels = intr.project(points.reshape(-1, 3))
    cols, rows = np.meshgrid(np.arange(640), np.arange(480))
    assert np.allclose(pixels, np.stack([cols.ravel(), rows.ravel()], axis=1), atol=1e-3)


def test_flying_pixels_go_while_edges_thin_structures_holes_and_moderate_slopes_stay() -> None:
    intr = Intrinsics(600.0, 600.0, 31.5, 23.5, 64, 48)
    depth = np.full((48, 64), 0.9, np.float32)  # the background
    depth[:, :30] = 0.6  # a surface seen face-on, ending at column 29
    depth[:, 30] = 0.75  # its silhouette, mixed with the background by the sensor
    depth[:, 45] = 0.5  # a one-pixel post in front of the background
    depth[10:12, 50:60] = np.nan  # no reading
    out = remove_flying_pixels(depth, intr)
    assert np.isnan(out[:, 30]).all()
    assert np.isfinite(out[:, 29]).all() and np.isfinite(out[:, 31]).all() and np.isfinite(out[:, 45]).all()
    assert np.isnan(out).sum() == 48 + 20 and np.isnan(depth[10:12, 50:60]).all()
    assert np.array_equal(remove_flying_pixels(depth, intr, 90.0), depth, equal_nan=True)
    assert np.isnan(depth).sum() == 20  # the input is not touched

    def slope(degrees: float) -> np.ndarray:  # a plane seen this far from face-on, rising along the rows
        step = 1.0 + math.tan(math.radians(degrees)) / intr.fx
        return np.tile(0.6 * step ** np.arange(64, dtype=np.float32), (48, 1)).astype(np.float32)

    assert np.isfinite(remove_flying_pixels(slope(70.0), intr)).all()
    assert np.isnan(remove_flying_pixels(slope(88.0), intr)[:, 1:-1]).all()  # steeper than the default 85 degrees
    for bad in (0.0, 95.0):
        with pytest.raises(DepthError, match="max_grazing_deg"):
            remove_flying_pixels(depth, intr, bad)


def test_a_sensors_flying_pixels_float_off_the_box_and_the_filter_removes_them() -> None:
    frame = box_scene()
    noisy = tabletop.sensor_depth(frame.depth, np.random.default_rng(0))
    table = ~true_mask(frame) & np.isfinite(frame.depth)
    relative = (noisy - frame.depth)[table] / frame.depth[table] ** 2
    sigma = 1.4826 * np.median(np.abs(relative))  # robust: the table's own edges fly too
    assert sigma == pytest.approx(0.08 / (385.0 * 0.05), rel=0.1)  # Intel's RMS error: 2 mm at 0.7 m

    def stray(depth: np.ndarray) -> int:  # object points more than 10 mm off the true surface
        seg = segmentation.segment_object(frame.colour, depth, frame.intrinsics)
        return int((metrics.point_errors_mm(seg.points, frame.surface_points) > 10.0).sum())

    assert stray(frame.depth) == 0
    before, after = stray(noisy), stray(remove_flying_pixels(noisy, frame.intrinsics))
    assert before > 20 and after <= before // 10, (before, after)


# ----------------------------------------------------------------------------- plane and object


def test_plane_and_object_mask_of_a_box_on_a_table() -> None:
    frame = box_scene()
    seg = segmentation.segment_object(frame.colour, frame.depth, frame.intrinsics)
    up = frame.world_to_optical[:3, 2]  # world +z in the optical frame
    assert math.degrees(math.acos(float(seg.plane.normal @ up))) < 0.5
    camera_height = float((np.linalg.inv(frame.world_to_optical))[2, 3])  # camera z in the world = its height
    assert seg.plane.offset == pytest.approx(camera_height, abs=0.003)
    truth = frame.object_mask  # the pixels the renderer drew the box at
    iou = (seg.mask & truth).sum() / (seg.mask | truth).sum()
    assert iou > 0.99, iou  # noise-free depth: the threshold is the 2 mm floor, and the box's colour takes the rest
    assert not (seg.mask & ~truth).any()
    assert seg.noise_per_m2 < 1e-4  # the renderer's depth is exact to well under a millimetre
    x, y, w, h = seg.roi
    rows, cols = np.nonzero(seg.mask)
    assert (x, y, x + w - 1, y + h - 1) == (cols.min(), rows.min(), cols.max(), rows.max())
    image = segmentation.mask_image(seg.mask)
    assert image.dtype == np.uint8 and set(np.unique(image)) == {0, 255}


def test_one_noisy_frame_gives_one_plane_every_time() -> None:
    """Open3D's RANSAC threads draw differently from call to call even when seeded; the fit must not."""
    frame = box_scene()
    noisy = tabletop.sensor_depth(frame.depth, np.random.default_rng(1))
    points = backproject(noisy, frame.intrinsics).reshape(-1, 3)
    points = points[np.isfinite(points).all(axis=1)]
    planes = {(tuple(plane.normal), plane.offset)
              for plane in (segmentation.fit_plane(points, segmentation.SegmentationConfig()) for _ in range(12))}
    assert len(planes) == 1, planes


def test_the_object_nearest_the_image_centre_is_chosen_among_clutter() -> None:
    frame = box_scene(yaw_deg=10.0)
    other = box_scene(yaw_deg=10.0)  # the same box, shifted sideways in the image by moving its pixels
    shift = 200
    depth = frame.depth.copy()
    depth[:, shift:] = np.where(true_mask(other)[:, :-shift], other.depth[:, :-shift], depth[:, shift:])
    # the shifted copy is no longer a rigid box seen correctly, but it stands above the plane: clutter
    seg = segmentation.segment_object(frame.colour, depth, frame.intrinsics)
    assert (seg.mask & true_mask(frame)).sum() / true_mask(frame).sum() > 0.9
    assert not seg.mask[:, 400:].any()


def test_an_empty_table_is_refused() -> None:
    frame = tabletop.render(None, tabletop.TabletopCamera(0.7, math.radians(40)))
    assert np.isfinite(frame.depth).mean() > 0.9 and len(frame.surface_points) == 0
    with pytest.raises(segmentation.NothingAbovePlaneError, match="nothing stands on the support plane"):
        segmentation.segment_object(frame.colour, frame.depth, frame.intrinsics)


# ----------------------------------------------------------------------------- placement


@pytest.mark.parametrize(("yaw", "elevation", "distance"), [(30.0, 40.0, 0.7), (75.0, 25.0, 0.9), (0.0, 55.0, 0.5)])
def test_metric_placement_of_a_known_box(yaw: float, elevation: float, distance: float) -> None:
    """The model frame lands on the box: centre within 10 mm, radius within 10 %, up within 1°,
    the anchor orbit camera in the real camera's direction within 2°."""
    frame = box_scene(yaw, elevation, distance)
    seg = segmentation.segment_object(frame.colour, frame.depth, frame.intrinsics)
    place = placement.fit_placement(seg)
    true_centre = world_to_camera(frame, np.array([[0.0, 0.0, BOX[2] / 2.0]]))[0]
    assert np.allclose(frame.centre, true_centre, atol=1e-6)  # what the benchmarks score placement against
    assert np.linalg.norm(place.translation - true_centre) < 0.010
    assert place.radius_m == pytest.approx(BOX_RADIUS, rel=0.10)
    up = frame.world_to_optical[:3, 2]
    assert math.degrees(math.acos(float(np.clip(place.rotation[:, 2] @ up, -1, 1)))) < 1.0
    assert math.degrees(place.anchor_elevation) == pytest.approx(elevation, abs=2.0)
    pose = place.orbit_camera_pose(place.orbit_camera(0.0, 64, place.anchor_elevation))
    towards = pose[:3, 3] - place.translation
    real = -place.translation  # the real camera sits at the optical origin
    assert math.degrees(math.acos(float(towards @ real / np.linalg.norm(towards) / np.linalg.norm(real)))) < 2.0
    assert pose[:3, 2] @ (place.translation - pose[:3, 3]) > 0  # it looks at the object (optical z forward)
    probe = np.random.default_rng(0).normal(size=(5, 3))
    assert np.allclose(place.to_model(place.to_camera(probe)), probe)
    # the view the model gets: object in the middle, background white, the training framing
    view = placement.model_view(frame.colour, seg.mask, place.view_box(frame.intrinsics), 64)
    assert view.shape == (64, 64, 3) and (view[0] == 255).all() and (view[:, 0] == 255).all()
    foreground = np.argwhere((view < 240).any(axis=-1))
    assert np.abs(foreground.mean(axis=0) - 31.5).max() < 6


@pytest.mark.parametrize("yaw", [0.0, 15.0])
def test_a_thin_box_seen_face_on_is_not_placed_as_deep_as_it_is_wide(yaw: float) -> None:
    """A cereal box (4 x 18 x 24 cm) facing the camera: its centre is 2 cm behind the front face,
    not half its 18 cm width behind it (the lateral extremes mirror each other about the centre)."""
    size = (0.04, 0.18, 0.24)
    frame = box_scene(yaw, 30.0, 0.7, size)
    seg = segmentation.segment_object(frame.colour, frame.depth, frame.intrinsics)
    place = placement.fit_placement(seg)
    true_centre = world_to_camera(frame, np.array([[0.0, 0.0, size[2] / 2.0]]))[0]
    assert np.linalg.norm(place.translation - true_centre) < 0.010
    assert place.radius_m == pytest.approx(0.5 * math.sqrt(sum(s * s for s in size)), rel=0.10)


# ----------------------------------------------------------------------------- carving


def test_carving_with_true_silhouettes_recovers_the_hidden_side_and_disagreement_lowers_confidence() -> None:
    frame = box_scene()
    seg = segmentation.segment_object(frame.colour, frame.depth, frame.intrinsics)
    place = placement.fit_placement(seg)
    azimuths = [2 * math.pi * j / 8 for j in range(1, 8)]
    cams = [place.orbit_camera(a, 64, place.anchor_elevation) for a in azimuths]
    exact = tabletop.oracle_silhouettes(place.to_model(frame.surface_points), cams)
    fat = tabletop.oracle_silhouettes(place.to_model(frame.surface_points) * 1.3, cams)  # a wrong, bigger guess
    hyp = completion.Hypotheses(np.stack([exact, fat]), azimuths, place.anchor_elevation)
    done = completion.complete(hyp, place, seg.plane, frame.depth, frame.intrinsics)
    visible = metrics.cloud_scores(seg.points, frame.surface_points)
    assert visible["recall_10mm"] < 0.7  # the hidden side is missing
    exact_only = completion.complete(completion.Hypotheses(exact[None], azimuths, place.anchor_elevation),
                                     place, seg.plane, frame.depth, frame.intrinsics)
    scores = metrics.cloud_scores(np.concatenate([seg.points, exact_only.points]), frame.surface_points)
    assert scores["recall_10mm"] > 0.97 and scores["precision_10mm"] > 0.97, scores
    assert set(np.unique(done.confidence)) <= {0.5, 1.0} and (done.confidence == 0.5).any()
    error = metrics.errors_by_confidence(metrics.point_errors_mm(done.points, frame.surface_points), done.confidence, bins=4)
    assert [row["confidence_min"] for row in error] == [0.5, 0.75]
    assert error[0]["mean_error_mm"] > error[1]["mean_error_mm"]  # the points only the wrong guess made are worse
    assert done.mesh_faces.shape[1] == 3 and done.mesh_faces.max() < len(done.mesh_vertices)
    assert len(done.mesh_colors) == len(done.mesh_vertices)
    mesh_scores = metrics.cloud_scores(exact_only.mesh_vertices, frame.surface_points)
    assert mesh_scores["precision_10mm"] > 0.95


def test_carving_refuses_hypotheses_that_show_nothing() -> None:
    frame = box_scene()
    seg = segmentation.segment_object(frame.colour, frame.depth, frame.intrinsics)
    place = placement.fit_placement(seg)
    blank = np.full((1, 3, 32, 32, 3), 255, np.uint8)
    with pytest.raises(completion.CompletionError, match="carved the object away"):
        completion.complete(completion.Hypotheses(blank, [1.0, 2.0, 3.0], 0.5), place, seg.plane, frame.depth,
                            frame.intrinsics)


# ----------------------------------------------------------------------------- metrics


def test_cloud_scores_by_hand() -> None:
    truth = np.array([[0.0, 0, 0], [1.0, 0, 0]])
    predicted = np.array([[0.0, 0, 0.004], [0.0, 0, 0.02]])
    s = metrics.cloud_scores(predicted, truth, thresholds_m=(0.005,))
    assert s["precision_5mm"] == 0.5 and s["recall_5mm"] == 0.5 and s["f_5mm"] == pytest.approx(0.5)
    # predicted->truth: 4 and 20 mm; truth->predicted: 4 mm and sqrt(1 + 0.004²) m
    assert s["chamfer_mm"] == pytest.approx(0.5 * ((4 + 20) / 2 + (4 + 1000 * math.hypot(1.0, 0.004)) / 2))
    rows = metrics.errors_by_confidence(metrics.point_errors_mm(predicted, truth), np.array([0.9, 0.1]), bins=2)
    assert [round(r["mean_error_mm"]) for r in rows] == [20, 4]  # bins [0, 0.5) and [0.5, 1]


def test_both_cloud_metrics_count_a_point_only_below_the_threshold() -> None:
    """rgbd's scores in mm and the reconstruction benchmarks' share one implementation and one convention."""
    truth, predicted = np.array([[0.0, 0, 0], [1.0, 0, 0]]), np.array([[0.0, 0, 0.5], [1.0, 0, 0.25]])
    assert surface_scores(predicted, truth, threshold=0.5).precision == 0.5  # 0.5 away is not below 0.5
    s = metrics.cloud_scores(predicted / 100, truth / 100, thresholds_m=(0.005,))  # 5 and 2.5 mm against 5 mm
    assert s["precision_5mm"] == 0.5 and s["recall_5mm"] == 0.5


def test_a_given_roi_selects_the_object_inside_it() -> None:
    frame = box_scene(yaw_deg=10.0)
    other = box_scene(yaw_deg=10.0)
    shift = 200
    depth = frame.depth.copy()
    depth[:, shift:] = np.where(true_mask(other)[:, :-shift], other.depth[:, :-shift], depth[:, shift:])
    seg = segmentation.segment_object(frame.colour, depth, frame.intrinsics, roi=(420, 0, 220, 480))
    assert seg.mask[:, 420:].any() and not seg.mask[:, :420].any()
    with pytest.raises(segmentation.NothingAbovePlaneError):
        segmentation.segment_object(frame.colour, depth, frame.intrinsics, roi=(0, 0, 100, 100))


def test_pairing_says_which_partner_was_missing_and_how_far() -> None:
    pairer: StampPairer[int] = StampPairer(slop_ns=5 * MS, depth=2)
    for i in range(3):  # depth on time, CameraInfo never
        pairer.add("colour", i * 100 * MS, i)
        pairer.add("depth", i * 100 * MS + 2 * MS, i)
    assert pairer.unpaired == 1 and pairer.missing == {"info": None}
    for i in range(3, 6):  # CameraInfo now, but depth 40 ms late
        pairer.add("info", i * 100 * MS, i)
        pairer.add("colour", i * 100 * MS, i)
        pairer.add("depth", i * 100 * MS + 40 * MS, i)
    assert pairer.unpaired == 4 and pairer.missing == {"depth": 40 * MS}
