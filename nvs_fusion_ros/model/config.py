"""Configuration of the ViewFusion U-Net, with named presets.

A config is plain data so that it can be stored in a checkpoint as JSON and
rebuilt anywhere (training, export, every engine) into the same network.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class UNetConfig:
    """Hyper-parameters of the per-view denoising U-Net.

    Input is one conditioning view concatenated with the noisy target
    (``2 * image_channels``); output is the noise prediction plus the weight
    logits (``2 * image_channels``), as in the ViewFusion paper §3.1.
    """

    image_size: int = 64
    image_channels: int = 3
    inner_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 3, 5)
    res_blocks: int = 3
    attention_resolutions: tuple[int, ...] = (16,)
    attention_heads: int = 1
    norm_groups: int = 32
    dropout: float = 0.0
    embedding_dim: int = 128
    angle_harmonics: int = 16
    film: bool = True
    prediction: str = "eps"  # what the first head outputs: "eps" (paper) or "v" (see diffusion.schedules)

    def __post_init__(self) -> None:
        if self.prediction not in ("eps", "v"):
            raise ValueError(f"prediction must be 'eps' or 'v', got {self.prediction!r}")
        if self.image_size % (2 ** (len(self.channel_mults) - 1)):
            raise ValueError(
                f"image_size {self.image_size} is not divisible by 2^{len(self.channel_mults) - 1} "
                f"(one halving per extra level of channel_mults {self.channel_mults})"
            )
        if self.inner_channels < 1 or self.res_blocks < 1 or not self.channel_mults:
            raise ValueError("inner_channels, res_blocks and channel_mults must be positive and non-empty")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> UNetConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown U-Net config keys: {sorted(unknown)}")
        values = dict(data)
        for key in ("channel_mults", "attention_resolutions"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


PRESETS: dict[str, UNetConfig] = {
    # The paper's configuration (Appendix B.1): meant for a GPU.
    "paper-64": UNetConfig(),
    # Trains thousands of steps in a session on a 2-core CPU with bf16 autocast; v-prediction
    # because an ε-head in bf16 cannot resolve the clean image at the noisiest levels.
    "cpu-64": UNetConfig(
        inner_channels=32, channel_mults=(1, 2, 2, 4), res_blocks=2, attention_resolutions=(16,), prediction="v"
    ),
    # The same network at 32x32: four times fewer pixels per step.
    "cpu-32": UNetConfig(
        image_size=32, inner_channels=32, channel_mults=(1, 2, 2, 4), res_blocks=2, attention_resolutions=(8,),
        prediction="v",
    ),
    # For unit tests only: a few thousand parameters.
    "tiny": UNetConfig(
        image_size=16,
        inner_channels=8,
        channel_mults=(1, 2),
        res_blocks=1,
        attention_resolutions=(8,),
        norm_groups=4,
        embedding_dim=16,
        angle_harmonics=4,
    ),
}


def preset(name: str) -> UNetConfig:
    """The named preset, or a ValueError listing the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}") from None
