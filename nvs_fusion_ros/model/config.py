"""Configuration of the ViewFusion U-Net, with named presets.

A config is plain data so that it can be stored in a checkpoint as JSON and
rebuilt anywhere (training, export, every engine) into the same network.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

ANGLE_REFERENCES = ("canonical", "relative")


@dataclass(frozen=True)
class UNetConfig:
    """Hyper-parameters of the per-view denoising U-Net.

    Input is one conditioning view concatenated with the noisy target
    (``2 * image_channels``); output is the noise prediction plus the weight
    logits (``2 * image_channels``), as in the ViewFusion paper §3.1.

    ``angle_reference`` says what the target angle is measured from:

    * ``"canonical"`` (the paper): the absolute azimuth in the object's canonical frame,
      which exists for aligned datasets such as NMR. Each stream sees its view only.
    * ``"relative"``: the azimuth relative to an *anchor* view (by default the newest key
      view, the robot's camera now). A real object has no canonical frame, so each stream
      also sees the anchor view: its condition is view ⊕ anchor (``condition_channels`` = 6),
      which lets it relate its own pose-free view to the anchor. The anchor's own stream
      sees it twice.

    ``pixel_unshuffle`` (1 or 2) folds each 2x2 block of pixels into channels before the
    U-Net and unfolds the output after it, so a 64x64 model runs its U-Net at 32x32 inside
    (four times cheaper per step) and still reads and writes 64x64 images.
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
    angle_reference: str = "canonical"  # "canonical" (paper, NMR) or "relative" (to an anchor view)
    pixel_unshuffle: int = 1  # 2: the U-Net runs at image_size / 2 on 2x2 pixel blocks folded into channels
    mid_blocks: int = 1  # (attention, res block) pairs after the middle's first res block, at the lowest resolution

    def __post_init__(self) -> None:
        if self.prediction not in ("eps", "v"):
            raise ValueError(f"prediction must be 'eps' or 'v', got {self.prediction!r}")
        if self.angle_reference not in ANGLE_REFERENCES:
            raise ValueError(f"angle_reference must be one of {list(ANGLE_REFERENCES)}, got {self.angle_reference!r}")
        if self.pixel_unshuffle not in (1, 2) or self.image_size % self.pixel_unshuffle:
            raise ValueError(f"pixel_unshuffle must be 1 or 2 and divide image_size, got {self.pixel_unshuffle}")
        if self.inner_size % (2 ** (len(self.channel_mults) - 1)):
            raise ValueError(
                f"U-Net resolution {self.inner_size} is not divisible by 2^{len(self.channel_mults) - 1} "
                f"(one halving per extra level of channel_mults {self.channel_mults})"
            )
        if self.inner_channels < 1 or self.res_blocks < 1 or not self.channel_mults or self.mid_blocks < 1:
            raise ValueError("inner_channels, res_blocks, mid_blocks and channel_mults must be positive and non-empty")

    @property
    def relative(self) -> bool:
        """Whether target angles are measured from each item's anchor view (and streams see it): the one
        place that reads ``angle_reference``'s meaning, so callers ask this instead of comparing names."""
        return self.angle_reference == "relative"

    @property
    def condition_channels(self) -> int:
        """Channels of one stream's condition: the view, plus the anchor view in relative mode."""
        return self.image_channels * (2 if self.relative else 1)

    @property
    def inner_size(self) -> int:
        """The resolution the U-Net itself runs at."""
        return self.image_size // self.pixel_unshuffle

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
    # Trains thousands of steps an hour on a 2-core CPU with bf16 autocast; v-prediction
    # because an ε-head in bf16 cannot resolve the clean image at the noisiest levels.
    "cpu-64": UNetConfig(
        inner_channels=32, channel_mults=(1, 2, 2, 4), res_blocks=2, attention_resolutions=(16,), prediction="v"
    ),
    # cpu-64 with a deeper middle: three (attention, res block) pairs at 8x8 instead of one, 0.8 M more
    # parameters (+17 %) where a step costs least; grows from a cpu-64 checkpoint (model.transfer.grow_weights).
    "cpu-64d": UNetConfig(
        inner_channels=32, channel_mults=(1, 2, 2, 4), res_blocks=2, attention_resolutions=(16,), prediction="v",
        mid_blocks=3,
    ),
    # 64x64 in and out at about cpu-32's cost: the same U-Net runs at 32x32 on 2x2 pixel blocks
    # folded into channels (pixel-unshuffle stem, pixel-shuffle head).
    "cpu-64u": UNetConfig(
        inner_channels=32, channel_mults=(1, 2, 2, 4), res_blocks=2, attention_resolutions=(8,), prediction="v",
        pixel_unshuffle=2,
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
