"""environment.yml (conda users) lists every runtime dependency of pyproject.toml (the pip truth)."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# PyPI name -> conda-forge name, where they differ.
CONDA_NAMES = {"matplotlib": "matplotlib-base"}


def _name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0).lower().replace("_", "-")


def _pip_section(env: dict) -> list[str]:
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))


def test_environment_lists_every_runtime_dependency():
    """Each runtime dependency is a conda-forge package or, when conda-forge lacks it, a pip line."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    conda |= {_name(d) for d in _pip_section(env) if not d.startswith("-")}
    wanted = {CONDA_NAMES.get(_name(r), _name(r)) for r in pyproject["project"]["dependencies"]}
    assert not wanted - conda, f"environment.yml lacks {sorted(wanted - conda)}"
    assert not conda - wanted - {"python", "pip"}, (
        f"environment.yml has extra {sorted(conda - wanted)}"
    )


def test_environment_installs_the_package_and_uses_conda_forge():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    assert "-e ." in _pip_section(env)


def test_pinned_versions_agree():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {_name(r): r.split("==")[1] for r in pyproject["project"]["dependencies"] if "==" in r}
    listed = {_name(d): d for d in env["dependencies"] + _pip_section(env) if isinstance(d, str)}
    for name, version in pins.items():
        assert listed[CONDA_NAMES.get(name, name)].endswith(f"={version}")
