"""Tests never write into the user's own Jupyter folders (conftest.py points them elsewhere)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ISOLATED_DIRS, UserFolders


def _inside(path: str | Path, root: Path) -> bool:
    return Path(path).resolve().is_relative_to(root.resolve())


def test_home_and_jupyter_folders_point_into_the_session_folder(session_root, user_folders):
    from jupyter_core.paths import jupyter_config_dir, jupyter_data_dir, jupyter_runtime_dir

    for variable in ISOLATED_DIRS:
        assert _inside(os.environ[variable], session_root), (variable, os.environ[variable])
    for found in (Path.home(), jupyter_data_dir(), jupyter_config_dir(), jupyter_runtime_dir()):
        assert _inside(found, session_root), found
        assert not any(_inside(found, real) for real in user_folders.folders), found


def test_nbgrader_cache_is_inside_the_session_folder(session_root):
    """nbgrader's submit/list cache is what showed a fixture course in a learner's Submitted list."""
    from nbgrader.exchange.default.exchange import Exchange

    assert _inside(Exchange().cache, session_root), Exchange().cache


def test_child_processes_inherit_the_isolation(session_root):
    """Kernels, JupyterLab and nbgrader started by tests see the same folders."""
    code = (
        "from jupyter_core.paths import jupyter_data_dir, jupyter_config_dir;"
        "from pathlib import Path;"
        "print(Path.home()); print(jupyter_data_dir()); print(jupyter_config_dir())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    for line in out.splitlines():
        assert _inside(line, session_root), line


def test_the_check_sees_a_file_written_into_a_user_folder(tmp_path):
    """The snapshot check below would report a file a test left behind, and one it changed."""
    folders = UserFolders([tmp_path / "jupyter"])
    (tmp_path / "jupyter" / "nbgrader_cache").mkdir(parents=True)
    (tmp_path / "jupyter" / "kept.json").write_text("{}")
    folders.before = folders.snapshot()
    assert folders.changes() == []
    (tmp_path / "jupyter" / "nbgrader_cache" / "m90-fixture").write_text("x")
    (tmp_path / "jupyter" / "kept.json").write_text('{"changed": true}')
    (tmp_path / "jupyter" / "runtime").mkdir()
    (tmp_path / "jupyter" / "runtime" / "kernel-1.json").write_text("{}")  # a user's own lab
    assert folders.changes() == [
        f"changed {tmp_path / 'jupyter' / 'kept.json'}",
        f"added {tmp_path / 'jupyter' / 'nbgrader_cache' / 'm90-fixture'}",
    ]


@pytest.mark.runs_last
def test_no_test_wrote_into_the_user_folders(user_folders):
    """Runs after every other test: the real ~/.local/share/jupyter and ~/.jupyter are as they were."""
    changes = user_folders.changes()
    assert not changes, "tests wrote into the user's own Jupyter folders:\n" + "\n".join(changes)
