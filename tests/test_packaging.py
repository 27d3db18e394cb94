"""The set-up files agree with each other and with what the code imports."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the dev extra installs tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements() -> list[str]:
    """Every requirement: dependencies and each extra (not the dev extra's self-reference)."""
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    listed = [*project["dependencies"], *(r for group in extras.values() for r in group)]
    return [r for r in listed if _name(r) != "cifarlab"]


def test_environment_yml_lists_the_same_packages_as_pyproject():
    declared = {_name(r) for r in _requirements() if "python_version" not in r}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            listed |= {_name(r) for r in dep["pip"] if not r.startswith("-e")}
        elif _name(dep) not in {"python", "pip"}:
            listed.add(_name(dep))
    assert listed == declared


def test_lower_bounds_everywhere_and_no_upper_pins():
    for req in (r.split(";")[0] for r in _requirements()):  # not the python_version marker
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


def test_dev_extra_installs_the_user_extras():
    extras = _pyproject()["project"]["optional-dependencies"]
    assert "cifarlab[notebooks,instructor]" in extras["dev"]
    assert {_name(r) for r in extras["notebooks"]} >= {"jupyterlab", "ipywidgets"}


def test_what_the_notebook_runner_imports_is_declared_in_the_instructor_extra():
    """``notebook_runs`` checks for these modules before it runs anything."""
    extras = _pyproject()["project"]["optional-dependencies"]
    source = (ROOT / "cifarlab" / "notebook_runs.py").read_text()
    needed = re.search(r"needs = \(([^)]*)\)", source).group(1)
    modules = {m.strip().strip("'\"").replace("_", "-") for m in needed.split(",") if m.strip()}
    declared = {_name(r).replace("_", "-") for r in extras["instructor"]}
    assert modules <= declared, modules - declared


def test_lowest_constraints_pin_each_library_bound_to_its_oldest_line():
    sys.path.insert(0, str(ROOT / "tools"))
    from lowest_constraints import constraints, lowest

    pins = constraints()
    assert "keras==3.8.*" in pins and "tensorflow==2.16.*" in pins
    assert "keras-tuner==1.4.7" in pins
    assert not any(p.startswith(("pytest", "ruff")) for p in pins)  # test tools stay free
    assert lowest("tomli>=2.0; python_version < '3.11'") == "tomli==2.0.*; python_version < '3.11'"
