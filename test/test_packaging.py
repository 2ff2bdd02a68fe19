"""Packaging: every third-party import of the package is declared where each installer looks.

Three installers read three files: pip reads ``setup.py`` (``install_requires`` and the extras),
rosdep reads ``package.xml`` (a rosdep key, or an XML comment ``pip: <name>`` where no key
exists), and ``make setup`` reads ``requirements.txt`` (pinned). A module that imports something
none of them declares installs fine and then fails on first use, as ``kornia`` once did for the
node. The imports are read from the source with ``ast``, not by importing it, so an import that
only runs on a GPU or inside a function is seen too.

An import is *optional* when its module copes without it: it sits in a ``try`` whose handler
catches ImportError (or a parent of it), or the module probes it with ``importlib.util.find_spec``.
Imports under ``if TYPE_CHECKING:`` never run and are skipped.
"""

from __future__ import annotations

import ast
import functools
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "nvs_fusion_ros"


@dataclass(frozen=True)
class Dependency:
    """Where an importable name comes from: its PyPI distribution and its rosdep key (None: there is none)."""

    pip: str | None
    rosdep: str | None


#: import name -> where it comes from. rosdep keys checked against ros/rosdistro rosdep/python.yaml:
#: kornia, onnx, openvino, tensorrt and torch have none (python3-pytorch-pip was retired), so
#: package.xml names them in a ``pip:`` comment. ROS packages' rosdep keys are their own names.
DEPENDENCIES: dict[str, Dependency] = {
    "numpy": Dependency("numpy", "python3-numpy"),
    "torch": Dependency("torch", None),
    "onnx": Dependency("onnx", None),
    "onnxruntime": Dependency("onnxruntime", "python3-onnxruntime-pip"),
    "openvino": Dependency("openvino", None),
    "tensorrt": Dependency("tensorrt", None),
    "cv2": Dependency("opencv-python-headless", "python3-opencv"),
    "yaml": Dependency("pyyaml", "python3-yaml"),
    "tqdm": Dependency("tqdm", "python3-tqdm"),
    "skimage": Dependency("scikit-image", "python3-skimage"),
    "scipy": Dependency("scipy", "python3-scipy"),
    "PIL": Dependency("pillow", "python3-pil"),
    "kornia": Dependency("kornia", None),
    "open3d": Dependency("open3d-cpu", "python3-open3d-pip"),
    "trimesh": Dependency("trimesh", "python3-trimesh-pip"),
    "matplotlib": Dependency("matplotlib", "python3-matplotlib"),
    "pybullet": Dependency("pybullet", "python3-pybullet-pip"),
    "pybullet_data": Dependency("pybullet", "python3-pybullet-pip"),
    "pebble": Dependency("pebble", None),  # Debian has python3-pebble; rosdep has no key
    "rclpy": Dependency("ros-rclpy", "rclpy"),
    "rcl_interfaces": Dependency("ros-rcl-interfaces", "rcl_interfaces"),
    "builtin_interfaces": Dependency("ros-builtin-interfaces", "builtin_interfaces"),
    "std_msgs": Dependency("ros-std-msgs", "std_msgs"),
    "std_srvs": Dependency("ros-std-srvs", "std_srvs"),
    "sensor_msgs": Dependency("ros-sensor-msgs", "sensor_msgs"),
    "geometry_msgs": Dependency("ros-geometry-msgs", "geometry_msgs"),
    "visualization_msgs": Dependency("ros-visualization-msgs", "visualization_msgs"),
    "diagnostic_msgs": Dependency("ros-diagnostic-msgs", "diagnostic_msgs"),
    "shape_msgs": Dependency("ros-shape-msgs", "shape_msgs"),
    "ament_index_python": Dependency("ros-ament-index-python", "ament_index_python"),
    # Not on PyPI: a ROS install provides them, and the package runs without them.
    "cv_bridge": Dependency(None, "cv_bridge"),
    "launch": Dependency(None, "launch"),
    "launch_ros": Dependency(None, "launch_ros"),
}

#: install_requires entries the package needs without importing them, and why.
USED_WITHOUT_IMPORT = {"onnx": "torch.onnx.export (engines/onnx_export.py) needs it"}

#: distributions setup.py declares that requirements.txt does not pin, and why.
NOT_PINNED_IN_REQUIREMENTS = {
    "torch": "pinned in constraints.txt; the Makefile installs the CPU build first",
    "tensorrt": "GPU targets only; it installs from NVIDIA's package index, which this machine cannot reach",
    "onnxruntime-gpu": "the [gpu] extra: it replaces onnxruntime (pinned), and the two cannot be installed side by side",
}


# --------------------------------------------------------------------------------------------------
# Reading the source


@dataclass
class ModuleImports:
    """What one source file imports: third-party top-level names and the package's own modules."""

    required: set[str] = field(default_factory=set)
    optional: set[str] = field(default_factory=set)
    internal: set[str] = field(default_factory=set)  # imported when the module loads
    internal_lazy: set[str] = field(default_factory=set)  # imported inside a function (a plug-in, e.g. an engine)


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    caught = {n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else "" for n in names}
    return bool(caught & {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


def _resolve_relative(module: str, level: int, name: str | None, is_package: bool) -> str:
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, name] if name else base)


def read_imports(source: str, module: str, is_package: bool = False) -> ModuleImports:
    """Classify every import in ``source`` (the text of ``module``)."""
    tree = ast.parse(source)
    found = ModuleImports()
    probed = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) == "find_spec"
        and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
    }

    def note(names: list[str], optional: bool, lazy: bool) -> None:
        for name in names:
            top = name.split(".")[0]
            if top == PACKAGE:
                (found.internal_lazy if lazy else found.internal).add(name)
            elif top not in sys.stdlib_module_names and top != "__future__":
                (found.optional if optional or top in probed else found.required).add(top)

    def visit(node: ast.AST, optional: bool, lazy: bool) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child, optional, lazy)
            return
        if isinstance(node, ast.Try):
            guarded = optional or any(_catches_import_error(h) for h in node.handlers)
            for child in node.body:
                visit(child, guarded, lazy)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, optional, lazy)
            return
        lazy = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if isinstance(node, ast.Import):
            note([alias.name for alias in node.names], optional, lazy)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = _resolve_relative(module, node.level, node.module, is_package)
            else:
                note([node.module or ""], optional, lazy)
                target = node.module or ""
            if target.split(".")[0] == PACKAGE:  # each name: a submodule, or a name defined in ``target``
                note([target, *(f"{target}.{alias.name}" for alias in node.names)], optional, lazy)
        elif (
            isinstance(node, ast.Call)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) == "import_module"
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
        ):
            note([node.args[0].value], optional, lazy)
        for child in ast.iter_child_nodes(node):
            visit(child, optional, lazy)

    visit(tree, False, False)
    return found


def package_modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    modules = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


@functools.cache
def all_imports() -> dict[str, ModuleImports]:
    """Read once per session: the tests only read the result (each read parses every module)."""
    return {
        name: read_imports(path.read_text(), name, path.name == "__init__.py")
        for name, path in package_modules().items()
    }


def third_party(imports: dict[str, ModuleImports]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(required name -> modules, optional name -> modules); a name required anywhere is required."""
    required: dict[str, set[str]] = {}
    optional: dict[str, set[str]] = {}
    for module, found in imports.items():
        for name in found.required:
            required.setdefault(name, set()).add(module)
        for name in found.optional:
            optional.setdefault(name, set()).add(module)
    return required, {k: v for k, v in optional.items() if k not in required}


# --------------------------------------------------------------------------------------------------
# Reading the declarations


def _distribution(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, f"cannot read a distribution name from {requirement!r}"
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def setup_requirements() -> tuple[set[str], dict[str, set[str]]]:
    """(install_requires, extras_require) of setup.py, read without running it."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "setup"]
    assert len(calls) == 1, "setup.py must call setup() once"
    keywords = {k.arg: k.value for k in calls[0].keywords}
    install = {_distribution(r) for r in ast.literal_eval(keywords.get("install_requires", ast.List(elts=[])))}
    extras_node = keywords.get("extras_require")
    extras = ast.literal_eval(extras_node) if extras_node is not None else {}
    return install, {name: {_distribution(r) for r in reqs} for name, reqs in extras.items()}


def package_xml() -> tuple[set[str], set[str]]:
    """(rosdep keys of run-time dependencies, distributions named in ``pip: <name>`` comments)."""
    text = (ROOT / "package.xml").read_text()
    root = ET.fromstring(text)
    keys = {e.text.strip() for tag in ("depend", "exec_depend") for e in root.iter(tag) if e.text}
    pip = {_distribution(m) for comment in re.findall(r"<!--(.*?)-->", text, re.S)
           for m in re.findall(r"pip:\s*([A-Za-z0-9][A-Za-z0-9._-]*)", comment)}
    return keys, pip


def pinned_requirements() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {_distribution(line) for line in lines if "==" in line and not line.lstrip().startswith("#")}


def _pip(name: str) -> str | None:
    dist = DEPENDENCIES[name].pip
    return _distribution(dist) if dist else None


# --------------------------------------------------------------------------------------------------
# The reader itself (so that the checks below can fail)


def test_the_reader_classifies_each_kind_of_import() -> None:
    source = """
import os, numpy as np
from typing import TYPE_CHECKING
import importlib, importlib.util
from . import sibling
from ..model.config import preset
from nvs_fusion_ros import cameras
if TYPE_CHECKING:
    import matplotlib
try:
    import tensorrt
except (ImportError, OSError):
    tensorrt = None
try:
    import scipy
except ValueError:
    pass
HAVE_BRIDGE = importlib.util.find_spec("cv_bridge") is not None
def lazy():
    import cv_bridge, kornia
    from ..engines import openvino_engine
    return importlib.import_module("pybullet")
"""
    found = read_imports(source, "nvs_fusion_ros.synthesis.example")
    assert found.required == {"numpy", "scipy", "kornia", "pybullet"}
    assert found.optional == {"tensorrt", "cv_bridge"}
    assert {"nvs_fusion_ros.synthesis.sibling", "nvs_fusion_ros.model.config", "nvs_fusion_ros.cameras"} <= found.internal
    assert "nvs_fusion_ros.engines.openvino_engine" in found.internal_lazy
    assert not any("engines" in name for name in found.internal)


def test_the_package_is_read() -> None:
    required, optional = third_party(all_imports())
    assert {"torch", "numpy", "cv2", "rclpy"} <= set(required), sorted(required)
    assert "cv_bridge" in optional, sorted(optional)


# --------------------------------------------------------------------------------------------------
# The checks


def test_every_third_party_import_is_known() -> None:
    required, optional = third_party(all_imports())
    unknown = {name: sorted(mods) for name, mods in {**required, **optional}.items() if name not in DEPENDENCIES}
    assert not unknown, f"add these imports to DEPENDENCIES (PyPI name, rosdep key) and declare them: {unknown}"


def test_every_import_is_declared_in_setup_py() -> None:
    required, optional = third_party(all_imports())
    install, extras = setup_requirements()
    declared = install.union(*extras.values())
    missing = {n: sorted(m) for n, m in {**required, **optional}.items() if _pip(n) and _pip(n) not in declared}
    assert not missing, f"not in setup.py install_requires or extras_require: {missing}"
    not_on_pypi = {n: sorted(m) for n, m in required.items() if DEPENDENCIES[n].pip is None}
    assert not not_on_pypi, f"no PyPI distribution, so the import must be optional: {not_on_pypi}"


def test_every_import_is_declared_in_package_xml() -> None:
    required, optional = third_party(all_imports())
    keys, pip_notes = package_xml()
    missing = {}
    for name, modules in {**required, **optional}.items():
        dep = DEPENDENCIES[name]
        if dep.rosdep and dep.rosdep not in keys:
            missing[name] = f"<exec_depend>{dep.rosdep}</exec_depend> (imported by {sorted(modules)})"
        elif not dep.rosdep and _pip(name) not in pip_notes:
            missing[name] = f"<!-- pip: {dep.pip} --> (no rosdep key; imported by {sorted(modules)})"
    assert not missing, f"package.xml lacks: {missing}"


def test_the_launch_file_dependencies_are_in_package_xml() -> None:
    keys, _ = package_xml()
    for path in sorted((ROOT / "launch").glob("*.launch.py")):
        found = read_imports(path.read_text(), "launch_file")
        for name in found.required | found.optional:
            assert DEPENDENCIES[name].rosdep in keys, f"{path.name} imports {name}; package.xml lacks its rosdep key"


def _closure(start: set[str], imports: dict[str, ModuleImports]) -> set[str]:
    """The package modules that loading ``start`` loads: module-level imports of the package's own
    modules, transitively. A module imported only inside a function (an engine picked at run time)
    is a plug-in whose absence the caller handles, so it is not followed."""
    seen: set[str] = set()
    todo = [m for m in start if m in imports]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in imports[module].internal:
            parts = name.split(".")
            for end in range(1, len(parts) + 1):  # importing a.b.c imports a and a.b as well
                candidate = ".".join(parts[:end])
                if candidate in imports and candidate not in seen:
                    todo.append(candidate)
    return seen


def test_the_nodes_run_from_install_requires_and_the_ros_extra() -> None:
    """A pip install with ``[ros]`` has everything the modules the nodes load import, at load time or in a function."""
    imports = all_imports()
    tree = ast.parse((ROOT / "setup.py").read_text())
    scripts = [s.value for s in ast.walk(tree) if isinstance(s, ast.Constant) and isinstance(s.value, str)
               and re.fullmatch(r"\w+ = nvs_fusion_ros\.ros\.[\w.]+:main", s.value)]
    assert len(scripts) >= 2, scripts
    entry_modules = {s.split("=")[1].strip().split(":")[0] for s in scripts}
    install, extras = setup_requirements()
    available = install | extras.get("ros", set())
    reach = _closure(entry_modules, imports)
    needed = {name: sorted(m for m in reach if name in imports[m].required)
              for m in reach for name in imports[m].required}
    missing = {n: mods for n, mods in needed.items() if _pip(n) and _pip(n) not in available}
    assert not missing, f"the nodes import these, but neither install_requires nor extras['ros'] has them: {missing}"


def test_install_requires_are_all_used() -> None:
    required, optional = third_party(all_imports())
    imported = {_pip(n) for n in {**required, **optional} if _pip(n)}
    install, _ = setup_requirements()
    unused = install - imported - {_distribution(d) for d in USED_WITHOUT_IMPORT}
    assert not unused, f"install_requires lists distributions nothing imports: {sorted(unused)}"


def test_everything_setup_py_declares_is_pinned_for_make_setup() -> None:
    install, extras = setup_requirements()
    pinned = pinned_requirements() | {_distribution(d) for d in NOT_PINNED_IN_REQUIREMENTS}
    missing = install.union(*extras.values()) - pinned
    assert not missing, f"declared in setup.py but not pinned in requirements.txt: {sorted(missing)}"


# --------------------------------------------------------------------------------------------------
# The architecture rules the import graph can show (docs/ARCHITECTURE.md)

#: ROS run-time packages: only modules under ``nvs_fusion_ros.ros`` may import them. (ament_index_python
#: only finds installed files, such as the shipped model, so it is allowed anywhere.)
ROS_RUNTIME = {name for name in DEPENDENCIES if name == "rclpy" or name.endswith(("_msgs", "_srvs", "_interfaces"))} | {
    "cv_bridge", "launch", "launch_ros"}


def _module_of(name: str, modules: set[str]) -> str | None:
    """The package module that an imported dotted name refers to (a module, or a name inside one)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return None


def import_cycles(imports: dict[str, ModuleImports]) -> list[list[str]]:
    """Groups of package modules that import one another, at load time or inside functions
    (an import moved into a function to break a loop still makes one). Parent packages are skipped:
    importing ``a.b`` runs ``a/__init__``, which imports nothing here."""
    modules = set(imports)
    graph = {
        m: {t for n in imports[m].internal | imports[m].internal_lazy
            if (t := _module_of(n, modules)) and t != m and not m.startswith(t + ".")}
        for m in modules
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return cycles


def test_the_cycle_finder_finds_a_loop_through_a_function_import() -> None:
    a = read_imports("from . import b\n", "nvs_fusion_ros.x.a")
    b = read_imports("def f():\n    from .a import thing\n", "nvs_fusion_ros.x.b")
    c = read_imports("from .a import thing\n", "nvs_fusion_ros.x.c")
    assert import_cycles({"nvs_fusion_ros.x.a": a, "nvs_fusion_ros.x.b": b, "nvs_fusion_ros.x.c": c}) == [
        ["nvs_fusion_ros.x.a", "nvs_fusion_ros.x.b"]]


def test_no_import_cycles() -> None:
    cycles = import_cycles(all_imports())
    assert not cycles, f"modules that import one another (move what they share into a module of its own): {cycles}"


def test_only_ros_modules_import_ros() -> None:
    """Maths and decisions stay ROS-free, so plain pytest drives them; ``ros/`` only converts and schedules."""
    offenders = {module: sorted((found.required | found.optional) & ROS_RUNTIME)
                 for module, found in all_imports().items()
                 if not module.startswith(f"{PACKAGE}.ros.") and (found.required | found.optional) & ROS_RUNTIME}
    assert not offenders, f"ROS imported outside nvs_fusion_ros.ros: {offenders}"


#: The zones of docs/ARCHITECTURE.md and their floors: a module imports its own zone and lower floors only,
#: so the run-time library (up to ``grasping``) never loads the offline tools (``datasets``, ``evaluation``,
#: ``training``) and zones of one floor do not know each other. The package root and the command line are the top.
FLOORS = {
    "cameras": 0, "atomic_file": 0,
    "diffusion": 1, "model": 2, "engines": 3,
    "synthesis": 4, "reconstruction": 5, "rgbd": 6, "grasping": 7,
    "datasets": 8, "evaluation": 9, "training": 9,
    "ros": 10, "cli": 10,
}

#: Leaves any zone may import: they import nothing of the package, so they add no edge upwards. The
#: metrics sit in ``evaluation`` and the dataset packer measures its codec with the same PSNR.
LEAVES = {f"{PACKAGE}.evaluation.image_metrics", f"{PACKAGE}.evaluation.geometry_metrics"}


def _zone(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None  # None: the package root (the public API), above every floor


def test_every_zone_has_a_floor() -> None:
    zones = {_zone(module) for module in all_imports()} - {None}
    assert zones == set(FLOORS), f"give each zone a floor here and a row in docs/ARCHITECTURE.md: {zones ^ set(FLOORS)}"


def test_modules_import_only_their_zone_and_lower_floors() -> None:
    imports = all_imports()
    modules = set(imports)
    upward = []
    for module, found in imports.items():
        zone = _zone(module)
        for name in found.internal | found.internal_lazy:
            target = _module_of(name, modules)
            if zone is None or target is None or target in LEAVES or _zone(target) in (zone, None):
                continue
            if FLOORS[_zone(target)] >= FLOORS[zone]:
                upward.append(f"{module} -> {target}")
    assert not upward, f"imports up or across a floor (move the shared part down): {sorted(upward)}"


def test_the_leaves_import_nothing_of_the_package() -> None:
    imports = all_imports()
    assert all(not (imports[leaf].internal | imports[leaf].internal_lazy) for leaf in LEAVES)


def test_design_note_citations_point_into_the_repository() -> None:
    """Comments cite ``docs/DESIGN.md §N``; the file ships with the repository and has section N."""
    design = ROOT / "docs" / "DESIGN.md"
    sections = set(re.findall(r"^## (\d+)\.", design.read_text(), re.M))
    files = [*(ROOT / PACKAGE).rglob("*.py"), *(ROOT / "test").glob("*.py"), *(ROOT / "benchmarks").glob("*.py"),
             *(ROOT / "launch").glob("*.py"), ROOT / "README.md", ROOT / "constraints.txt", ROOT / "Makefile",
             ROOT / "docs" / "ARCHITECTURE.md"]
    wrong, unknown = [], []
    for path in files:
        if path == Path(__file__).resolve():
            continue  # this test names the file without citing it
        for number, line in enumerate(path.read_text().splitlines(), 1):
            where = f"{path.relative_to(ROOT)}:{number}"
            if re.search(r"(?<!docs/)DESIGN\.md", line):
                wrong.append(where)
            unknown += [f"{where} §{n}" for n in re.findall(r"DESIGN\.md\s*§(\d+)", line) if n not in sections]
    assert not wrong, f"cite the design notes as docs/DESIGN.md: {wrong}"
    assert not unknown, f"docs/DESIGN.md has no such section: {unknown}"


# --------------------------------------------------------------------------------------------------
# The public API


PUBLIC = {
    "NovelViewSynthesizer": "nvs_fusion_ros.synthesis.synthesizer",
    "SamplingSpec": "nvs_fusion_ros.diffusion.sampling_spec",
    "VideoSynthesizer": "nvs_fusion_ros.synthesis.video_synthesizer",
    "load_checkpoint": "nvs_fusion_ros.model.checkpoint",
    "reconstruct": "nvs_fusion_ros.reconstruction.pipeline",
}


def test_importing_the_package_loads_no_heavy_module() -> None:
    """The launch file and console scripts import the package; that alone must not load torch."""
    code = "import sys, nvs_fusion_ros; print(sorted(m for m in ('torch', 'numpy', 'cv2', 'rclpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_api_imports_from_the_package(name: str) -> None:
    import importlib

    import nvs_fusion_ros

    value = getattr(importlib.import_module(PUBLIC[name]), name)
    namespace: dict = {}
    exec(f"from nvs_fusion_ros import {name}", namespace)
    assert namespace[name] is value
    assert getattr(nvs_fusion_ros, name) is value
    assert name in nvs_fusion_ros.__all__ and name in dir(nvs_fusion_ros)


def test_unknown_names_are_an_attribute_error() -> None:
    import nvs_fusion_ros

    with pytest.raises(AttributeError, match="no attribute 'Synthesizer'"):
        nvs_fusion_ros.Synthesizer  # noqa: B018
    with pytest.raises(ImportError):
        exec("from nvs_fusion_ros import Synthesizer", {})


#: imports of the offline tools only (render-dataset, evaluate, figures): rosdep installs them only on request
TRAINING_ONLY = ("pybullet", "pybullet_data", "matplotlib")  # trimesh: rgbd_completion's geometric shapes


def test_training_only_packages_and_rviz_are_not_hard_runtime_dependencies() -> None:
    """A robot that runs the nodes gets neither the training tools nor RViz from rosdep: the training keys carry a
    condition (REP 149, evaluated against the environment: NVS_FUSION_TRAINING=1 installs them), RViz none at all."""
    root = ET.parse(ROOT / "package.xml").getroot()
    unconditional = {e.text.strip() for e in root.iter("exec_depend") if not e.get("condition")}
    conditional = {e.text.strip(): e.get("condition") for e in root.iter("exec_depend") if e.get("condition")}
    assert "rviz2" not in unconditional and "rviz2" not in conditional
    for name in TRAINING_ONLY:
        key = DEPENDENCIES[name].rosdep
        assert key not in unconditional and conditional.get(key) == "$NVS_FUSION_TRAINING == 1", key
    _, extras = setup_requirements()
    assert not {DEPENDENCIES[name].pip for name in TRAINING_ONLY} & extras["ros"]  # nor does pip's [ros] extra
