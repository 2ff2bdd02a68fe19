"""The ``train`` command for test_train_ddp.py to start under torchrun, plus one thing a test needs:
every rank writes the weights it holds at the end (``rank<R>.pt`` in ``--out``), because the
trainer itself lets rank 0 alone write files. Arguments are parsed by ``train``'s own parser.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from nvs_fusion_ros.training.train import TrainConfig, Trainer
from nvs_fusion_ros.training.train_cli import add_cli, run_trainer


class RankWeightsTrainer(Trainer):
    """The trainer unchanged; after ``run`` each rank saves its model and EMA weights."""

    def run(self) -> dict:
        summary = super().run()
        weights = {"model": self.model.state_dict(), "ema": self.ema.state_dict(), "step": self.step}
        out = Path(self.cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        torch.save(weights, out / f"rank{self.rank}.pt")
        return summary


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", *argv])
    return run_trainer(args, TrainConfig, RankWeightsTrainer)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
