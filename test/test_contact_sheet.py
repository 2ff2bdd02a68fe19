"""Contact sheets: images separated by gaps, captions under them, heat maps beside the scale they were drawn with."""

from __future__ import annotations

import numpy as np

from nvs_fusion_ros.synthesis.contact_sheet import GAP, GAP_GREY, LABEL_HEIGHT, Row, colorize, contact_sheet, heat_row


def test_gaps_captions_and_a_colour_scale() -> None:
    white = np.full((8, 8, 3), 255, np.uint8)
    maps = [np.full((8, 8), 0.25, np.float32), np.full((8, 8), 0.5, np.float32)]
    sheet = contact_sheet([Row("views", [white, white], ["0 deg", "60 deg"]), heat_row("weights", maps, 1.0)], tile=20)
    first = sheet[: LABEL_HEIGHT + 20 + 12 + GAP]
    assert (first[LABEL_HEIGHT : LABEL_HEIGHT + 20, 20 : 20 + GAP] == GAP_GREY).all()  # the gap between the two views
    assert (first[LABEL_HEIGHT + 20 : LABEL_HEIGHT + 32] < 128).any()  # captions are drawn under the images
    heat = sheet[len(first) :]
    assert (heat[LABEL_HEIGHT + 5, 5] == colorize(maps[0], 1.0)[0, 0]).all()  # drawn on the shared 0..1 scale
    bar = heat[LABEL_HEIGHT : LABEL_HEIGHT + 20, 2 * (20 + GAP) + 4 : 2 * (20 + GAP) + 14]
    assert (bar[0, 0] == colorize(np.ones((1, 1)), 1.0)[0, 0]).all()  # the top of the bar is the top of the scale
    assert (bar[-1, 0] == colorize(np.zeros((1, 1)), 1.0)[0, 0]).all()


def test_plain_rows_still_work_and_the_widest_row_sets_the_width() -> None:
    image = np.zeros((4, 4, 3), np.uint8)
    sheet = contact_sheet([("three", [image] * 3), ("one", [image])], tile=10)
    assert sheet.shape[1] == 3 * 10 + 2 * GAP and sheet.dtype == np.uint8
