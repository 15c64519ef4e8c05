"""The set-up contract: environment.yml (conda users) lists every runtime dependency of
pyproject.toml (the pip truth), and ``make demo`` installs the Debian packages the demo needs."""

import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path

import pytest
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


# ------------------------------------------------------------------ the demo's Debian packages
SCRIPT = ROOT / "scripts" / "install-system-packages.sh"
AS_NOBODY = [
    shutil.which("setpriv") or "setpriv",
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
    "--",
]


def _recipe(target: str) -> tuple[list[str], list[str]]:
    """A Makefile target's prerequisites and recipe lines."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    at = next(i for i, x in enumerate(lines) if x.startswith(f"{target}:"))
    recipe = []
    for x in lines[at + 1 :]:
        if not x.startswith("\t"):
            break
        recipe.append(x.strip())
    return lines[at].split(":", 1)[1].split(), recipe


def test_make_demo_installs_what_grading_and_pixel_text_need():
    """The demo autogrades its learners, which runs only inside bubblewrap, and reads text in
    pixels with tesseract: on a fresh machine ``make demo`` installs both (without bwrap it
    stopped at the first autograde)."""
    assert "demo-packages" in _recipe("demo")[0]
    assert _recipe("demo-packages")[1] == ["@bash scripts/install-system-packages.sh demo"]


def _as_nobody(tmp_path: Path, name: str, leave_out: set[str]) -> subprocess.CompletedProcess[str]:
    """The script's demo set run as ``nobody``, with a PATH of links to the commands it uses but
    ``leave_out`` (and never sudo)."""
    bin_dir = tmp_path / name
    bin_dir.mkdir()
    for command in ("bash", "id", "ls", "grep", "dpkg-query", "bwrap", "tesseract"):
        found = shutil.which(command)
        if found and command not in leave_out:
            (bin_dir / command).symlink_to(found)
    return subprocess.run(
        [*AS_NOBODY, str(bin_dir / "bash"), str(SCRIPT), "demo"],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the script as another user")
def test_the_demo_packages_script_names_what_is_missing_when_it_cannot_install():
    """As an ordinary user without sudo, the script names the missing packages and how to get
    them, and fails, instead of stopping at 'sudo: not found'; with all there, it does nothing."""
    with tempfile.TemporaryDirectory() as where:  # pytest's folders are root's alone
        os.chmod(where, 0o755)  # noqa: S103  nobody runs what is in it
        run = _as_nobody(Path(where), "bare", {"bwrap", "tesseract"})
        done = _as_nobody(Path(where), "all", set())
    assert run.returncode == 1, run.stderr
    assert "missing Debian packages: " in run.stderr and "as root" in run.stderr
    for package in ("bubblewrap", "tesseract-ocr", "tesseract-ocr-eng"):
        assert package in run.stderr
    assert "dicom3tools" not in run.stderr  # the demo's set, not the tests'
    assert done.returncode == 0 and not done.stderr and not done.stdout
