"""The sampler names and what each is: plain data, importable without torch.

``samplers.SAMPLERS`` (name -> factory) is the registry the code samples with; the launch file reads
these names to offer its ``sampler`` choices without loading torch, and a test checks the two agree.
"""

SAMPLER_NAMES: dict[str, str] = {
    "ddim": "DDIM: deterministic (eta 0), any number of steps",
    "ddpm": "ancestral DDPM: every level of the schedule (the paper's sampler; slow)",
    "dpmpp2m": "DPM-Solver++(2M): second-order multistep, good at few steps",
}
