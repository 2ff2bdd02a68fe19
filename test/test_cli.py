"""The command line as a new user meets it: quick help, the main jobs first, every option explained, one
name for the number of hypotheses and one default step count wherever a view is synthesized."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys

import pytest

from nvs_fusion_ros import __version__, cli
from nvs_fusion_ros.diffusion import DEFAULT_STEPS, NODE_SAMPLER, NODE_STEPS, SAMPLER_NAMES

#: libraries that take seconds to import; printing help must load none of them
HEAVY = ("torch", "onnx", "onnxruntime", "rclpy", "open3d", "scipy", "skimage", "kornia", "pybullet", "trimesh",
         "matplotlib", "tensorrt", "openvino")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.fixture(scope="module")
def help_imports() -> dict[str, list[str]]:
    """Per subcommand, the heavy modules its ``--help`` imported: one fresh interpreter."""
    order = [c.name for c in cli.COMMANDS]
    code = ("import contextlib, io, json, sys\nfrom nvs_fusion_ros import cli\nseen = {}\n"
            f"for name in [None, *{order!r}]:\n"
            "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "        cli.main(([name] if name else []) + ['--help'])\n"
            f"    seen[name or ''] = [m for m in {HEAVY!r} if m in sys.modules]\n"
            "print(json.dumps(seen))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    return json.loads(result.stdout)


def test_the_overview_imports_nothing_heavy_and_lists_the_main_jobs_first(help_imports: dict[str, list[str]],
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert help_imports[""] == []
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert text.index("main jobs:") < text.index("demo") < text.index("training and evaluation:") < text.index("train ")
    assert "examples:" in text and "nvs-fusion demo" in text
    assert all(f"  {c.name} " in text for c in cli.COMMANDS)  # every command listed without importing it


@pytest.mark.parametrize("name", [c.name for c in cli.COMMANDS])
def test_a_commands_help_imports_nothing_heavy(name: str, help_imports: dict[str, list[str]]) -> None:
    assert help_imports[name] == [], f"nvs-fusion {name} --help imported {help_imports[name]}"


@pytest.mark.parametrize("name", [c.name for c in cli.COMMANDS])
def test_every_option_has_help_and_shows_its_default(name: str) -> None:
    parser = _subparsers(cli.build_parser([name]))[name]
    silent = [a.option_strings or a.dest for a in parser._actions if not a.help]
    assert not silent, f"{name}: options without help: {silent}"
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.option_strings and not (action.default is None or action.default is False
                                          or action.default in ("", argparse.SUPPRESS)):
            assert "default" in formatter._get_help_string(action), f"{name} {action.option_strings[0]}: default not shown"
    assert "(default: " in parser.format_help() or name == "unpack-dataset"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"nvs-fusion {__version__}"


def test_an_unknown_command_is_refused_with_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["synthesise", "a.png"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'synthesise'" in capsys.readouterr().err


def test_the_light_sampler_names_are_the_registrys() -> None:
    from nvs_fusion_ros.diffusion import SAMPLER_OPTIONS
    from nvs_fusion_ros.diffusion.samplers import SAMPLERS
    from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
    from nvs_fusion_ros.diffusion.schedules import linear_schedule

    assert tuple(SAMPLERS) == tuple(SAMPLER_NAMES) == tuple(SAMPLER_OPTIONS)
    for name, table in SAMPLER_OPTIONS.items():  # every listed option value reaches the sampler as given
        for key, values in table.items():
            for value in values:
                sampler = SAMPLERS[name](linear_schedule(num_steps=20), SamplingSpec(name, 5, options={key: str(value)}))
                assert getattr(sampler, key) == value, (name, key, value)


def test_one_name_for_the_number_of_hypotheses_and_one_default_step_count() -> None:
    """CLI, ROS parameters and the Python API call it num_hypotheses; a synthesized view takes DEFAULT_STEPS, except in the
    robot-facing nodes, which take NODE_STEPS of NODE_SAMPLER."""
    from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
    from nvs_fusion_ros.reconstruction.config import DistillConfig
    from nvs_fusion_ros.rgbd.pipeline import CompletionOptions
    from nvs_fusion_ros.ros.novel_view_params import PARAMETERS as NOVEL_VIEW
    from nvs_fusion_ros.ros.rgbd_node import PARAMETERS as RGBD
    from nvs_fusion_ros.ros.video_params import PARAMETERS as VIDEO
    from nvs_fusion_ros.synthesis.synthesizer import NovelViewSynthesizer
    from nvs_fusion_ros.synthesis.video_settings import CompositionSettings

    subparsers = _subparsers(cli.build_parser(["synthesize", "demo"]))
    for name in ("synthesize", "demo"):
        options = {o for a in subparsers[name]._actions for o in a.option_strings}
        assert "--num-hypotheses" in options and not {"--samples", "--num-samples"} & options
        steps = next(a for a in subparsers[name]._actions if "--steps" in a.option_strings)
        assert steps.default == DEFAULT_STEPS
    for specs in (NOVEL_VIEW, RGBD):  # the robot-facing nodes sample fast (NODE_SAMPLER, NODE_STEPS)
        by_name = {spec.name: spec for spec in specs}
        assert "num_hypotheses" in by_name and "samples" not in by_name
        assert (by_name["sampler"].default, by_name["steps"].default) == (NODE_SAMPLER, NODE_STEPS)
    assert {spec.name: spec for spec in VIDEO}["steps"].default == DEFAULT_STEPS
    signature = inspect.signature(NovelViewSynthesizer.synthesize).parameters
    assert "num_hypotheses" in signature and signature["sampling"].default is None  # None: SamplingSpec()
    assert inspect.signature(NovelViewSynthesizer.orbit).parameters["sampling"].default is None
    assert SamplingSpec().steps == DEFAULT_STEPS
    completion = CompletionOptions().sampling
    assert CompletionOptions().num_hypotheses == 6 and (completion.sampler, completion.steps) == (NODE_SAMPLER, NODE_STEPS)
    assert CompositionSettings().steps == DistillConfig().orbit_sampling.steps == DEFAULT_STEPS


def test_angles_state_their_unit() -> None:
    """Degrees on the command line, radians in ROS parameters: each angle option says which."""
    from nvs_fusion_ros.ros.novel_view_params import PARAMETERS

    subparsers = _subparsers(cli.build_parser(["synthesize", "synthesize-video", "demo"]))
    for name, option in (("synthesize", "--angle"), ("synthesize-video", "--angles"), ("demo", "--hidden-angle")):
        action = next(a for a in subparsers[name]._actions if option in a.option_strings)
        assert "degrees" in action.help, f"{name} {option}"
    assert "radians" in next(spec for spec in PARAMETERS if spec.name == "target_angles").description
