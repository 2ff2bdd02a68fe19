"""``rgbd_completion``'s parameters (the node is ``rgbd_node``; the params file's section is ``rgbd_completion``)."""

from __future__ import annotations

import dataclasses

from ..model.assets import ASSETS
from ..rgbd.depth import MAX_GRAZING_DEG
from ..rgbd.pipeline import MIN_CONFIDENCE, MODES, CompletionOptions
from .camera_topics import CAMERA_INFO_TOPIC, COLOUR_TOPIC, DEPTH_TOPIC
from .novel_view_params import PARAMETERS as NOVEL_VIEW_PARAMETERS
from .parameters import ParamSpec, optional_topic_name, topic_name
from .qos import INPUT_QOS_CHOICES

PARAMETERS = (
    ParamSpec("colour_topic", COLOUR_TOPIC, "Colour image topic.", read_only=True,
              check=topic_name("colour_topic")),
    ParamSpec("depth_topic", DEPTH_TOPIC,
              "Depth registered to the colour image: 16UC1 (mm) or 32FC1 (m).", read_only=True,
              check=topic_name("depth_topic")),
    ParamSpec("camera_info_topic", CAMERA_INFO_TOPIC, "CameraInfo of the colour image.", read_only=True,
              check=topic_name("camera_info_topic")),
    ParamSpec("roi_topic", "", "RegionOfInterest choosing the object; '' = the object nearest the image centre.",
              read_only=True, check=optional_topic_name("roi_topic")),
    ParamSpec("sync_slop", 0.02, "Most seconds between the colour, depth and CameraInfo stamps of one frame.",
              read_only=True, float_range=(0.0, 1.0)),
    ParamSpec("max_frame_age", 1.0, "~/complete refuses a paired frame more than this many seconds older (by header "
              "stamp) than the newest colour, depth or CameraInfo message received.", float_range=(0.0, 3600.0)),
    ParamSpec("mask_period", 0.2, "Least seconds between published masks (segmentation costs CPU).",
              read_only=True, float_range=(0.0, 60.0)),
    *(spec for spec in NOVEL_VIEW_PARAMETERS if spec.name in ("engine", "device", "max_views")),
    ParamSpec("completion_mode", CompletionOptions.mode, "What completes the hidden side: 'hybrid' (the model's "
              "hypotheses and the geometric shapes, each sure of its own points, confirming each other's), 'model' "
              "(the model's hypotheses alone) or 'geometric' (the mirror and revolution shapes alone: no model is "
              "loaded; 2-3 s on a 2-core CPU).", read_only=True, choices=MODES),
    ParamSpec("model_file_path", "", f"Checkpoint (.pt); '' = {ASSETS['completion'].relative} (camera-relative household "
              "model).", read_only=True),
    ParamSpec("num_hypotheses", CompletionOptions.num_hypotheses,
              "K occlusion hypotheses per azimuth; confidence is their agreement (K = 6: steps of 1/6).",
              read_only=True, int_range=(1, 32)),
    ParamSpec("azimuths", CompletionOptions.azimuths, "Orbit azimuths of the hidden side.", read_only=True, int_range=(2, 36)),
    ParamSpec("steps", CompletionOptions().sampling.steps, "Denoising steps per sample.", read_only=True,
              int_range=(1, 1000)),
    *(dataclasses.replace(spec, read_only=True) for spec in NOVEL_VIEW_PARAMETERS
      if spec.name in ("sampler", "eta", "sampler_options")),
    ParamSpec("seed", 0, "Base seed of the hypotheses.", read_only=True, int_range=(0, 2**31 - 1)),
    ParamSpec("min_confidence", MIN_CONFIDENCE, "Completed points less sure than this are left out of ~/object_cloud "
              "(1 = every witness of the point's own kind agrees: all K hypotheses with a shape near, or both "
              "geometric shapes; 0.875 also keeps what one kind is sure of and the other mostly confirms; 0 = every "
              "point; the visible points always stay).", read_only=True, float_range=(0.0, 1.0)),
    ParamSpec("max_grazing_deg", MAX_GRAZING_DEG, "Depth jumps steeper than a surface seen this far from face-on are "
              "flying pixels, dropped (rgbd.depth); 90 = keep all.", read_only=True, float_range=(1.0, 90.0)),
    ParamSpec("resolution", 64, "Carving grid resolution per axis.", read_only=True, int_range=(16, 160)),
    ParamSpec("input_qos", "auto", "QoS of the input subscriptions: auto (reliable and best-effort drivers alike), "
              "sensor_data (best effort) or reliable.", read_only=True, choices=INPUT_QOS_CHOICES),
    ParamSpec("input_qos_depth", 5, "History depth of the input subscriptions.", read_only=True, int_range=(1, 100)),
)
