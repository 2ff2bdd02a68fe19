"""Grasping as a measure of a cloud: an antipodal parallel-jaw planner that sees only a camera-frame point cloud,
and a pybullet check of its grasps on the true object. ROS-free; pybullet is imported on use (the benchmark's extra)."""
