"""The named-model registry: each role's file, its override, and that no other module names a model file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nvs_fusion_ros.model.assets import ASSETS, asset_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("role", sorted(ASSETS))
def test_each_role_finds_its_shipped_file_in_the_source_tree(role: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ASSETS[role].environment, raising=False)
    assert asset_path(role) == ROOT / ASSETS[role].relative and asset_path(role).is_file()


@pytest.mark.parametrize("role", sorted(ASSETS))
def test_each_roles_variable_replaces_its_file(role: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ASSETS[role].environment, str(tmp_path / "mine.pt"))
    assert asset_path(role) == tmp_path / "mine.pt"
    others = [r for r in ASSETS if ASSETS[r].environment != ASSETS[role].environment]
    assert all(asset_path(r) != tmp_path / "mine.pt" for r in others)


def test_an_unknown_role_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="completion"):
        asset_path("canonical")


def test_the_roles_files_are_installed_with_models() -> None:
    """setup.py installs models/* to share/, where an installed package's registry looks."""
    assert all(asset.relative.startswith("models/") and "/" not in asset.relative[len("models/"):] for asset in ASSETS.values())
    assert 'glob("models/*")' in (ROOT / "setup.py").read_text()


def test_no_other_module_names_a_shipped_model_file() -> None:
    names = [Path(asset.relative).name for asset in ASSETS.values()]
    offenders = [f"{path.relative_to(ROOT)}: {name}" for path in (ROOT / "nvs_fusion_ros").rglob("*.py")
                 if path.name != "assets.py" for name in names if name in path.read_text()]
    assert not offenders, f"ask model.assets.asset_path(role) instead: {offenders}"


def test_no_work_in_progress_model_path_is_named() -> None:
    files = [*(ROOT / "nvs_fusion_ros").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py"), *(ROOT / "scripts").iterdir(),
             *(ROOT / "config").iterdir(), *(ROOT / "launch").iterdir(), *(ROOT / "docs").rglob("*.md"),
             *(ROOT / "docs").rglob("*.json"), ROOT / "README.md", ROOT / "Makefile", ROOT / "setup.py"]
    offenders = [str(path.relative_to(ROOT)) for path in files
                 if path.is_file() and re.search(r"_wip\b|_wip\.|checkpoints/viewfusion", path.read_text(errors="ignore"))]
    assert not offenders, offenders
