"""Shared test set-up: the test session never writes into the user's own folders; small courses.

At start-up (``pytest_configure``, before any test module is imported) HOME and every folder that
Jupyter, JupyterLab, IPython, matplotlib, nbgrader and hipaa-lab write to are pointed into one
temporary folder. Kernels, servers and nbgrader steps that tests start inherit them; nbgrader's
submit/list cache (``Exchange.cache``) follows ``JUPYTER_DATA_DIR``, which is how a fixture course
once reached a learner's Submitted list.

The real user folders (the Jupyter data and config folders as they were when the session started,
``~/.local/share/jupyter`` and ``~/.jupyter`` of the real home) are snapshotted at start-up;
``tests/test_isolation.py`` compares them at the end of the session (its last test is moved last).

Small courses made in code (``tests/test_offline.py``, ``tests/test_progress.py``,
``tests/test_progress_browser.py``): :func:`nbgrader_meta` and :func:`write_module` write a
module, the fixture ``make_graded_course`` builds, releases, submits, autogrades and feeds it back,
``serve_lab`` serves a course with ``hipaa-lab lab``'s JupyterLab, logging to ``test-artifacts/``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from nbformat import NotebookNode

    from hipaa_lab.course import LabServer

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


# --------------------------------------------------------------------------- small courses

#: Screenshots, logs and request lists of the browser tests.
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def nbgrader_meta(grade_id: str, **flags: Any) -> dict[str, Any]:
    """A cell's nbgrader metadata: ``grade_id`` and ``flags`` (``grade``, ``solution``,
    ``locked``, ``task``, ``points``); flags not given are off."""
    meta = {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3}
    meta.update({"solution": False, "task": False, **flags})
    return {"nbgrader": meta}


def write_module(root: Path, module: str, title: str, cells: list[Any]) -> Path:
    """``root/notebooks``: a header titled ``title`` and the one module ``module`` of ``cells``."""
    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook

    nbs = root / "notebooks"
    (nbs / module).mkdir(parents=True)
    nbformat.write(new_notebook(cells=[new_markdown_cell(f"# {title}")]), nbs / "header.ipynb")
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = new_notebook(cells=cells, metadata={"kernelspec": kernel})
    nbformat.write(nb, nbs / module / f"{module}.ipynb")
    return nbs


GradedCourse = Callable[
    [Path, Path, str, str, Callable[["NotebookNode", "NotebookNode"], "NotebookNode"]], Path
]


@pytest.fixture(scope="session")
def make_graded_course() -> GradedCourse:
    """``make(root, notebooks, learner, module, work)``: the course of ``notebooks`` in
    ``root/course``, built and released; ``learner``'s submission, ``work(released, source)``
    (the module's released and source notebooks), autograded and fed back."""
    from hipaa_lab import course

    def make(
        root: Path,
        notebooks: Path,
        learner: str,
        module: str,
        work: Callable[[NotebookNode, NotebookNode], NotebookNode],
    ) -> Path:
        course_dir = course.build(root / "course", notebooks, students=[learner])
        course.release(course_dir)
        released = course.released_notebook(course_dir, module)
        source = course.source_notebook(course_dir, module)
        course.submit(course_dir, learner, module, work(released, source))
        assert all(o.graded for o in course.autograde(course_dir, module))
        assert course.feedback(course_dir, module)
        return course_dir

    return make


@pytest.fixture(scope="session")
def serve_lab() -> Callable[[Path, str], contextlib.AbstractContextManager[LabServer]]:
    """``with serve_lab(course_dir, name) as lab:`` ``hipaa-lab lab``'s JupyterLab serving the
    course, logging to ``test-artifacts/NAME-jupyter.log`` (the test's ``NAME-*`` artifacts of a
    run before removed); stopped at the end."""
    from hipaa_lab import course

    @contextlib.contextmanager
    def serve(course_dir: Path, name: str) -> Iterator[LabServer]:
        ARTIFACTS.mkdir(exist_ok=True)
        for old in ARTIFACTS.glob(f"{name}-*"):
            old.unlink()
        server = course.start_lab(course_dir, log=ARTIFACTS / f"{name}-jupyter.log")
        try:
            yield server
        finally:
            server.stop()

    return serve
