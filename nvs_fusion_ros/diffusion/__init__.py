"""diffusion: noise schedules, samplers and the composition of denoisers.

The names below are the choices the command line and the ROS parameters offer; they live here,
free of torch, so that printing ``--help`` does not load it.
"""

#: the keys of ``samplers.SAMPLERS``, the one sampler registry (a test checks they agree), and what each is
SAMPLER_NAMES: dict[str, str] = {
    "ddim": "DDIM: deterministic (eta 0), any number of steps",
    "ddpm": "ancestral DDPM: every level of the schedule (the paper's sampler; slow)",
    "dpmpp2m": "DPM-Solver++(2M): second-order multistep, good at few steps",
}

#: each sampler's own options (``SamplingSpec.options``): name -> allowed values, the default first.
#: DDPM's ``variance`` is σ_t² = β_t (the paper) or the true posterior variance; DPM-Solver++'s
#: ``spacing`` places its levels uniformly in log-SNR or in time, and ``order`` 1 makes it DDIM.
SAMPLER_OPTIONS: dict[str, dict[str, tuple[str | int, ...]]] = {
    "ddim": {},
    "ddpm": {"variance": ("beta", "posterior")},
    "dpmpp2m": {"spacing": ("logsnr", "time"), "order": (2, 1)},
}

#: the samplers that take DDIM's η (stochasticity): any other refuses η != 0 rather than drop it
ETA_SAMPLERS = ("ddim",)

#: denoising steps of one synthesized view, wherever a view is synthesized (CLI, Python API, the video node)
DEFAULT_STEPS = 25

#: what the robot-facing nodes sample with (``novel_view``'s requests, ``rgbd_completion``'s hypotheses): a robot waits
#: for them, and DPM-Solver++(2M) at 8 steps scores as DDIM at 25 on the tabletop completion and the view evaluation
#: (docs/benchmarks.md, "Completion speed")
NODE_SAMPLER, NODE_STEPS = "dpmpp2m", 8

#: how rollback steps of the moving-object composition re-noise: the paper's way or a forward step
RENOISE_MODES = ("paper", "forward")
