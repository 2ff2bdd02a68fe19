"""nvs_fusion_ros: pose-free novel view synthesis (ViewFusion) and 3D distillation for ROS 2."""

__version__ = "0.1.0"
