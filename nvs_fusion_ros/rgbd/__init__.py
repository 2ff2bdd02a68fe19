"""RGB-D: pair colour, depth and intrinsics, find the object on its support plane, and place the
model's completion in metres in the camera's optical frame. ROS-free (the node in ``ros/rgbd_node.py``
only converts messages)."""
