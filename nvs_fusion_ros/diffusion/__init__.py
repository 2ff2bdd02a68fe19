"""diffusion: noise schedules, samplers and the composition of denoisers.

The names below are the choices the command line and the ROS parameters offer; they live here,
free of torch, so that printing ``--help`` does not load it.
"""

#: the keys of ``samplers.SAMPLERS``, the one sampler registry (test_cli checks they agree)
SAMPLER_NAMES = ("ddim", "ddpm", "dpmpp2m")

#: denoising steps of one synthesized view, wherever a view is synthesized (CLI, ROS nodes, Python API)
DEFAULT_STEPS = 25

#: how rollback steps of the moving-object composition re-noise: the paper's way or a forward step
RENOISE_MODES = ("paper", "forward")
