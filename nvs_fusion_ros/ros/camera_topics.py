"""An RGB-D camera's default topics, as realsense-ros names them under the ``camera`` namespace.

Plain strings, importable without torch or rclpy: ``rgbd_completion``'s parameters default to them and the launch
file (``bringup.rgbd_feed``) reads them without loading the node. realsense-ros 4.51 and later publish under
``/<camera_namespace>/<camera_name>/`` (``/camera/camera/...`` by default): launch it with ``camera_namespace:=/``
for these names, or set the three topics (docs/tutorials/rgbd_camera.md).
"""

COLOUR_TOPIC = "/camera/color/image_raw"
DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"  # registered to the colour image (align_depth.enable:=true)
CAMERA_INFO_TOPIC = "/camera/color/camera_info"
