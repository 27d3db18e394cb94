"""The set-up files agree with each other and with what the code imports."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = _pyproject()["project"]
    declared = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            listed |= {_name(r) for r in dep["pip"] if not r.startswith("-e")}
        elif _name(dep) not in {"python", "pip"}:
            listed.add(_name(dep))
    assert listed == declared


def test_lower_bounds_everywhere_and_no_upper_pins():
    project = _pyproject()["project"]
    for req in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert ">=" in req, f"{req} needs a lower bound"
        assert "<" not in req and "==" not in req, f"{req} must not pin (Colab compatibility)"


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "cifarlab.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("synthetic", "info", "demo"):
        assert command in out


def test_library_uses_keras_3_only():
    """No tf.keras, no ImageDataGenerator, no fit_generator in code (docstrings may name them)."""
    for path in (ROOT / "cifarlab").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.name}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Attribute):
                assert node.attr not in {"ImageDataGenerator", "fit_generator"}, where
                if node.attr == "keras" and isinstance(node.value, ast.Name):
                    assert node.value.id not in {"tf", "tensorflow"}, f"{where}: tf.keras"
            elif isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("tensorflow.keras"), where
                names = {a.name for a in node.names}
                assert not (node.module == "tensorflow" and "keras" in names), where
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("tensorflow.keras") for a in node.names), where
            elif isinstance(node, ast.Name):
                assert node.id not in {"ImageDataGenerator", "fit_generator"}, where


def test_importing_cifarlab_does_not_import_tensorflow():
    code = "import sys, cifarlab, cifarlab.labels; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
