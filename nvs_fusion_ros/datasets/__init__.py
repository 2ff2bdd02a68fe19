"""datasets: where training and evaluation images come from.

Named object sources and meshes, their placement in the model's normalised frame, the pybullet
scenes and renderers (the NMR-layout dataset, moving-object clips, the tabletop RGB-D scene the
benchmarks and the demo see), and the readers of what they write. Offline: no node imports it,
except the RGB-D demo's scene.
"""
