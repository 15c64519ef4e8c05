"""Shared test set-up: the test session never writes into the user's own folders.

At start-up (``pytest_configure``, before any test module is imported) HOME and every folder that
Jupyter, JupyterLab, IPython, matplotlib, nbgrader and hipaa-lab write to are pointed into one
temporary folder. Kernels, servers and nbgrader steps that tests start inherit them; nbgrader's
submit/list cache (``Exchange.cache``) follows ``JUPYTER_DATA_DIR``, which is how a fixture course
once reached a learner's Submitted list.

The real user folders (the Jupyter data and config folders as they were when the session started,
``~/.local/share/jupyter`` and ``~/.jupyter`` of the real home) are snapshotted at start-up;
``tests/test_isolation.py`` compares them at the end of the session (its last test is moved last).
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

#: Variables pointed at the session's temporary folder, each at its own sub-folder.
ISOLATED_DIRS = {
    "HOME": "home",
    "XDG_CONFIG_HOME": "xdg-config",
    "XDG_DATA_HOME": "xdg-data",
    "XDG_CACHE_HOME": "xdg-cache",
    "XDG_STATE_HOME": "xdg-state",
    "JUPYTER_CONFIG_DIR": "jupyter/config",
    "JUPYTER_DATA_DIR": "jupyter/data",
    "JUPYTER_RUNTIME_DIR": "jupyter/runtime",
    "JUPYTERLAB_SETTINGS_DIR": "jupyter/lab/user-settings",
    "JUPYTERLAB_WORKSPACES_DIR": "jupyter/lab/workspaces",
    "IPYTHONDIR": "ipython",
    "MPLCONFIGDIR": "matplotlib",
    "HIPAA_LAB_CACHE": "hipaa-lab-cache",
}

#: Sub-folders of the real folders that a user's own running JupyterLab rewrites all the time
#: (kernel connection files, the saved layout): the tests cannot write there once isolated, and a
#: lab the user has open while the tests run must not fail them.
CHURN = ("runtime", "lab/workspaces")

FileState = dict[str, tuple[int, int]]


@dataclass
class UserFolders:
    """The real user folders and what they held when the session started."""

    folders: list[Path]
    before: dict[Path, FileState] = field(default_factory=dict)

    def snapshot(self) -> dict[Path, FileState]:
        return {folder: _files(folder) for folder in self.folders}

    def changes(self) -> list[str]:
        """Files added, removed or changed since start-up, as ``"added /root/.jupyter/x"`` lines."""
        found = []
        for folder, now in self.snapshot().items():
            was = self.before.get(folder, {})
            for name in sorted(now.keys() | was.keys()):
                if name not in was:
                    found.append(f"added {folder / name}")
                elif name not in now:
                    found.append(f"removed {folder / name}")
                elif now[name] != was[name]:
                    found.append(f"changed {folder / name}")
        return found


def _files(folder: Path) -> FileState:
    """Every file under ``folder`` (outside CHURN) by relative path: (size, mtime in ns)."""
    state: FileState = {}
    if not folder.is_dir():
        return state
    for dirpath, dirnames, filenames in os.walk(folder):
        rel_dir = Path(dirpath).relative_to(folder)
        dirnames[:] = [d for d in dirnames if (rel_dir / d).as_posix() not in CHURN]
        for name in filenames:
            path = Path(dirpath) / name
            try:
                info = path.lstat()
            except OSError:  # removed while we walked (a user's lab): not a test's doing
                continue
            state[(rel_dir / name).as_posix()] = (info.st_size, info.st_mtime_ns)
    return state


def _real_user_folders() -> list[Path]:
    """The folders a user's own Jupyter reads and writes, from the environment the session got."""
    from jupyter_core.paths import jupyter_config_dir, jupyter_data_dir

    homes = {Path(pwd.getpwuid(os.getuid()).pw_dir)}
    if os.environ.get("HOME"):
        homes.add(Path(os.environ["HOME"]))
    folders = {Path(jupyter_data_dir()), Path(jupyter_config_dir())}
    for home in homes:
        folders |= {home / ".local" / "share" / "jupyter", home / ".jupyter"}
    return sorted(folders)


_USER_FOLDERS = pytest.StashKey[UserFolders]()
_SESSION_ROOT = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "runs_last: run after every other test of the session")
    user = UserFolders(_real_user_folders())
    user.before = user.snapshot()
    root = Path(tempfile.mkdtemp(prefix="hipaa-lab-tests-"))
    for variable, sub in ISOLATED_DIRS.items():
        path = root / sub
        path.mkdir(parents=True, exist_ok=True)
        os.environ[variable] = str(path)
    config.stash[_USER_FOLDERS] = user
    config.stash[_SESSION_ROOT] = root


def pytest_unconfigure(config: pytest.Config) -> None:
    root = config.stash.get(_SESSION_ROOT, None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the check of the real user folders after every other test of the session."""
    last = [item for item in items if item.get_closest_marker("runs_last")]
    for item in last:
        items.remove(item)
    items.extend(last)


@pytest.fixture(scope="session")
def user_folders(pytestconfig: pytest.Config) -> UserFolders:
    """The real user folders, with their state at start-up."""
    return pytestconfig.stash[_USER_FOLDERS]


@pytest.fixture(scope="session")
def session_root(pytestconfig: pytest.Config) -> Path:
    """The temporary folder that HOME and the Jupyter folders point into for this session."""
    return pytestconfig.stash[_SESSION_ROOT]
