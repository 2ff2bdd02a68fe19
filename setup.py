"""ament_python build description; the same file makes the package pip-installable."""

from glob import glob

from setuptools import find_namespace_packages, setup

PACKAGE = "nvs_fusion_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    # namespace discovery lists the data folders (data/sample_views) as packages too, as setuptools asks
    packages=find_namespace_packages(include=[PACKAGE, f"{PACKAGE}.*"], exclude=["*.__pycache__"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
        (f"share/{PACKAGE}/models", glob("models/*")),
    ],
    package_data={PACKAGE: ["data/*", "data/**/*"]},
    include_package_data=True,
    # Every third-party import is declared here and in package.xml; test/test_packaging.py checks both.
    install_requires=[
        "numpy", "torch", "onnx", "opencv-python-headless", "pyyaml", "tqdm",
        "scikit-image", "scipy>=1.11", "kornia", "pillow",
    ],
    extras_require={
        # rclpy and the message packages from PyPI, for pip-only installs (a ROS install has them).
        "ros": [
            "ros-rclpy[fastrtps]", "ros-rcl-interfaces", "ros-builtin-interfaces", "ros-std-msgs", "ros-std-srvs",
            "ros-sensor-msgs", "ros-geometry-msgs", "ros-visualization-msgs", "ros-diagnostic-msgs", "ros-shape-msgs",
            "ros-ament-index-python",
            "open3d-cpu",  # rgbd_completion: support-plane RANSAC and DBSCAN of the object (nvs_fusion_ros.rgbd)
            "trimesh",  # rgbd_completion: the geometric completions' hulls, revolved surfaces and samples (rgbd.geometric)
        ],
        # Mesh clean-up and GLB export (used when it imports; it needs Debian's libusb-1.0-0).
        "open3d": ["open3d-cpu"],
        # Offline tools: dataset rendering (render-dataset: pybullet, trimesh; pycollada reads DAE; pebble's
        # worker pool) and evaluation plots (evaluate).
        "training": ["pybullet", "trimesh", "pycollada", "matplotlib", "pebble"],
        # ONNX Runtime: the CPU build, or the GPU build in its place (the two cannot be installed side by side).
        "cpu": ["onnxruntime"],
        "gpu": ["onnxruntime-gpu"],
        # The OpenVINO engine (Intel CPUs, iGPUs, NPUs); engine=auto measures it when it is installed.
        "openvino": ["openvino"],
        # GPU targets: TensorRT plans (from NVIDIA's package index).
        "tensorrt": ["tensorrt>=10.1"],
        # The test suite (setuptools dropped tests_require; ROS 2 templates moved it here too).
        "test": ["pytest"],
    },
    zip_safe=False,
    maintainer="nvs_fusion_ros maintainers",
    maintainer_email="maintainers@nvs-fusion-ros.invalid",
    description="Pose-free novel view synthesis (ViewFusion) and 3D distillation for ROS 2.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "nvs-fusion = nvs_fusion_ros.cli:main",
            "view_buffer = nvs_fusion_ros.ros.view_buffer_node:main",
            "novel_view = nvs_fusion_ros.ros.novel_view_node:main",
            "rgbd_completion = nvs_fusion_ros.ros.rgbd_node:main",
            "video_synthesis = nvs_fusion_ros.ros.video_node:main",
        ],
    },
)
