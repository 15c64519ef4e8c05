"""The nbgrader course: build it from ``notebooks/``, release, submit, autograde, feedback, scores.

A *course directory* is an nbgrader course that this module made::

    course/
    ├── .hipaa-lab-course.json     the stamp: hipaa-lab version and course format
    ├── nbgrader_config.py          absolute paths, so the API, the CLI and JupyterLab agree
    ├── nbgrader_config.site.py     a site's own settings, loaded last (a hub's exchange)
    ├── jupyter_server_config.py    JupyterLab for ``hipaa-lab lab``: fetches nothing from outside
    ├── gradebook.db                nbgrader's gradebook (SQLite; the single-user default)
    ├── .gradebook-url              or the URL of a PostgreSQL gradebook (a hub's), mode 600
    ├── .hipaa-lab-secret           the course secret graded studies are drawn from (never released)
    ├── .sandbox-datasets/          datasets built for the sandbox to read
    ├── source/header.ipynb         the shared header notebook
    ├── source/mNN-slug/mNN-slug.ipynb
    ├── release/  submitted/  autograded/  feedback/     nbgrader's own folders
    ├── exchange/                   nbgrader's exchange (released assignments, inbound, feedback)
    └── learner/                    where a learner's fetched assignments land in ``hipaa-lab lab``

Every nbgrader step runs in-process through :class:`nbgrader.apps.NbGraderAPI`; a step that fails
raises :class:`~hipaa_lab.errors.CourseError` carrying nbgrader's log.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Protocol

import nbformat

from hipaa_lab.errors import CourseError, OutputNotEmptyError, StaleCourseError, UsageError
from hipaa_lab.phi import write_atomic

if TYPE_CHECKING:
    import pandas as pd
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

__all__ = [
    "COURSE_FORMAT",
    "COURSE_ID",
    "AutogradeOutcome",
    "LabServer",
    "assignments",
    "autograde",
    "build",
    "collect",
    "feedback",
    "find_notebooks",
    "gradebook_url",
    "lab",
    "main",
    "release",
    "scores",
    "serve_until_signal",
    "simulate_submission",
    "solution_lines",
    "start_lab",
    "submit",
]

COURSE_ID = "hipaa-lab"
#: Bump when a course directory made by an older build can no longer be refreshed in place.
COURSE_FORMAT = 2  # 2: sealed autograde (learner code in the sandbox), a course secret
STAMP = ".hipaa-lab-course.json"
#: Holds the gradebook's database URL when it is not the course's SQLite file (mode 600: a
#: PostgreSQL URL carries its password); ``nbgrader_config.py`` reads it, so it names no secret.
GRADEBOOK_URL_FILE = ".gradebook-url"
#: A site's own nbgrader settings (a hub's exchange), loaded last; a rebuild keeps it.
SITE_CONFIG = "nbgrader_config.site.py"
SERVER_CONFIG = "jupyter_server_config.py"  # JupyterLab's config for `hipaa-lab lab`
EXECUTE_TIMEOUT = 180
_MODULE = re.compile(r"^m\d{2}-[a-z0-9][a-z0-9-]*$")
_MARKER = re.compile(r"^\s*#*\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")
_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f %Z"


# --------------------------------------------------------------------------- locating notebooks


def find_notebooks() -> Path:
    """The ``notebooks/`` folder: a source checkout's, else the installed wheel's copy."""
    import hipaa_lab

    here = Path(hipaa_lab.__file__).resolve().parent
    for candidate in (here.parent / "notebooks", here / "_resources" / "notebooks"):
        if candidate.is_dir():
            return candidate
    raise CourseError(
        f"no notebooks folder: looked for {here.parent / 'notebooks'} (source checkout) and "
        f"{here / '_resources' / 'notebooks'} (installed wheel); pass --notebooks DIR"
    )


def assignments(notebooks: Path | None = None) -> list[str]:
    """The module folders of ``notebooks`` (``mNN-slug`` holding ``mNN-slug.ipynb``), sorted."""
    notebooks = Path(notebooks) if notebooks is not None else find_notebooks()
    return sorted(
        p.name
        for p in notebooks.iterdir()
        if p.is_dir() and _MODULE.match(p.name) and (p / f"{p.name}.ipynb").is_file()
    )


# --------------------------------------------------------------------------- configuration


def _is_sqlite(db_url: str) -> bool:
    return db_url.split(":", 1)[0].split("+", 1)[0].lower() == "sqlite"


def _config_text(course_dir: Path, header: bool) -> str:
    from hipaa_lab import __version__

    lines = [
        f"# Written by hipaa-lab {__version__} (course format {COURSE_FORMAT}).",
        "# `hipaa-lab course build` rewrites this file: change hipaa_lab/course/build.py instead.",
        "c = get_config()  # noqa: F821",
        f"c.CourseDirectory.root = {str(course_dir)!r}",
        f"c.CourseDirectory.course_id = {COURSE_ID!r}",
        "from hipaa_lab.course.build import gradebook_url",
        f"c.CourseDirectory.db_url = gradebook_url({str(course_dir)!r})",
        f"c.Exchange.root = {str(course_dir / 'exchange')!r}",
        f"c.Exchange.assignment_dir = {str(course_dir / 'learner')!r}",
        f"c.Execute.timeout = {EXECUTE_TIMEOUT}",
        "# learner code runs only in the sandbox; grade cells run in the grader (hipaa_lab.course.sealed)",
        "from hipaa_lab.course.sealed import configure",
        "configure(c)",
        "# MathJax in the formgrader and the feedback from the Jupyter server, not a CDN",
        "from hipaa_lab.course.offline import configure_exporter",
        "configure_exporter(c)",
        "# the learner's result atop the feedback: pass mark, passed or not yet, what to retry",
        "from hipaa_lab.course.progress import configure_feedback",
        "configure_feedback(c)",
        "# collect only what each learner's own account submitted, never through a link",
        "c.ExchangeFactory.collect = 'hipaa_lab.course.exchange.SafeCollect'",
    ]
    if header:
        lines.append(
            f"c.IncludeHeaderFooter.header = {str(course_dir / 'source' / 'header.ipynb')!r}"
        )
    site = str(course_dir / SITE_CONFIG)
    lines += [
        "# a site's own settings (a hub's exchange: hipaa_lab/course/hub.py), kept across rebuilds",
        "import os.path",
        f"if os.path.isfile({site!r}):",
        f"    load_subconfig({site!r})  # noqa: F821",
    ]
    return "\n".join(lines) + "\n"


def _learner_config_text(course_dir: Path) -> str:
    """The learner side (JupyterLab's assignment list reads it from the folder fetched work lands in)."""
    lines = [
        "# Written by hipaa-lab: the learner's side of the course (fetch, validate, submit).",
        "c = get_config()  # noqa: F821",
        f"c.CourseDirectory.course_id = {COURSE_ID!r}",
        f"c.Exchange.root = {str(course_dir / 'exchange')!r}",
        f"c.Exchange.assignment_dir = {str(course_dir / 'learner')!r}",
        f"c.Execute.timeout = {EXECUTE_TIMEOUT}",
    ]
    return "\n".join(lines) + "\n"


def _server_config_text() -> str:
    """JupyterLab's side (``hipaa-lab lab`` starts it with ``--config`` this file)."""
    lines = [
        "# Written by hipaa-lab: JupyterLab for this course loads and fetches nothing from outside",
        "# the machine (hipaa_lab.course.offline). `hipaa-lab course build` rewrites this file.",
        "c = get_config()  # noqa: F821",
        "from hipaa_lab.course.offline import configure_server",
        "configure_server(c)",
    ]
    return "\n".join(lines) + "\n"


def gradebook_url(course_dir: str | os.PathLike[str]) -> str:
    """The database URL of the course's gradebook: the one in ``.gradebook-url`` when the course
    was built with one (a hub's PostgreSQL), else its SQLite file ``gradebook.db``."""
    course_dir = Path(course_dir)
    saved = course_dir / GRADEBOOK_URL_FILE
    if saved.is_file():
        return saved.read_text(encoding="utf-8").strip()
    return f"sqlite:///{course_dir / 'gradebook.db'}"


def _load_config(course_dir: Path) -> Config:
    from traitlets.config.loader import PyFileConfigLoader

    _check_course(course_dir)
    return PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()


@contextlib.contextmanager
def _venv_on_path() -> Iterator[None]:
    """nbgrader runs ``alembic`` as a subprocess: make this interpreter's scripts findable.

    Also hides the SQLAlchemy warnings nbgrader's gradebook emits on every autograde (they are
    about its own session handling and say nothing a trainer can act on).
    """
    bindir = str(Path(sys.executable).parent)
    old = os.environ.get("PATH", "")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in session")
        if bindir in old.split(os.pathsep):
            yield
            return
        os.environ["PATH"] = bindir + os.pathsep + old
        try:
            yield
        finally:
            os.environ["PATH"] = old


def _api(course_dir: Path, *, force_release: bool = False) -> NbGraderAPI:
    from nbgrader.apps import NbGraderAPI

    config = _load_config(course_dir)
    if force_release:  # a release replaces an earlier release of the same module
        config.ExchangeReleaseAssignment.force = True
    return NbGraderAPI(config=config)


def _check(result: dict[str, Any] | None, what: str) -> dict[str, Any]:
    if result is None:
        raise CourseError(f"{what}: nbgrader's exchange is not available on this platform")
    if not result.get("success"):
        detail = (result.get("log") or "").strip() or (result.get("error") or "").strip()
        raise CourseError(f"{what} failed:\n{detail}")
    return result


# --------------------------------------------------------------------------- build


def _stamp(course_dir: Path) -> dict[str, Any] | None:
    path = course_dir / STAMP
    if not path.is_file():
        return None
    try:
        stamp = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"format": None}
    return stamp if isinstance(stamp, dict) else {"format": None}


def _looks_like_nbgrader(course_dir: Path) -> bool:
    return any(
        (course_dir / name).exists()
        for name in ("nbgrader_config.py", "gradebook.db", "source", "release")
    )


def _stale(course_dir: Path, found: str) -> StaleCourseError:
    return StaleCourseError(
        f"{course_dir} holds {found}; this hipaa-lab writes course format {COURSE_FORMAT}. "
        "Nothing in it was changed. To carry on: keep that folder (its gradebook.db and submitted/ "
        "hold the grades and learners' work), and build a fresh course into a new folder with "
        "`hipaa-lab course build --course-dir NEW_DIR`, or move the old folder aside and build again."
    )


def _kept_db_url(course_dir: Path) -> str | None:
    """The gradebook URL of an existing course when it is not SQLite (a SQLite gradebook always
    lives in the course folder, so a copied course names its own)."""
    if not (course_dir / "nbgrader_config.py").is_file():
        return None
    url = str(_load_config(course_dir).CourseDirectory.db_url or "")
    return url if url and not _is_sqlite(url) else None


def _check_course(course_dir: Path) -> None:
    """Raise unless ``course_dir`` is a course of the current format."""
    if not Path(course_dir).is_dir():
        raise CourseError(
            f"no course in {course_dir}: the folder does not exist; make the course first "
            f"with `hipaa-lab course build --course-dir {course_dir}`"
        )
    stamp = _stamp(course_dir)
    if stamp is None:
        if _looks_like_nbgrader(course_dir):
            raise _stale(
                course_dir, "an nbgrader course without a hipaa-lab stamp (an older build)"
            )
        raise CourseError(
            f"{course_dir} is not a hipaa-lab course; make one with `hipaa-lab course build`"
        )
    if stamp.get("format") != COURSE_FORMAT:
        raise _stale(
            course_dir,
            f"a course of format {stamp.get('format')!r} made by hipaa-lab {stamp.get('hipaa_lab_version', '?')}",
        )


def build(
    course_dir: Path,
    notebooks: Path | None = None,
    *,
    students: Iterable[str] = (),
    db_url: str | None = None,
) -> Path:
    """Make (or refresh) the nbgrader course directory from ``notebooks``.

    Parameters
    ----------
    course_dir
        New, empty, or a course made by this same build (then the source notebooks and the
        configuration are refreshed; submissions, grades and the gradebook are kept).
    notebooks
        The source notebooks: ``header.ipynb`` and ``mNN-slug/mNN-slug.ipynb``
        (default: :func:`find_notebooks`). Only ``.ipynb`` files are copied.
    students
        Learner ids to add to the gradebook's roster.
    db_url
        The gradebook's database (``postgresql+psycopg://...`` for a hub), kept in
        ``.gradebook-url`` (mode 600) for every later step. Default: the one the course already
        has, else SQLite in ``gradebook.db``.

    Returns
    -------
    Path
        ``course_dir``, absolute.

    Raises
    ------
    StaleCourseError
        ``course_dir`` was made by an older build; nothing in it is changed.
    OutputNotEmptyError
        ``course_dir`` holds files and is not a course.
    """
    from hipaa_lab import __version__

    course_dir = Path(course_dir).resolve()
    notebooks = Path(notebooks).resolve() if notebooks is not None else find_notebooks()
    if course_dir.exists() and not course_dir.is_dir():
        raise OutputNotEmptyError(course_dir)
    if course_dir.is_dir() and any(course_dir.iterdir()):
        if _stamp(course_dir) is None and not _looks_like_nbgrader(course_dir):
            raise OutputNotEmptyError(course_dir)
        _check_course(course_dir)
    names = assignments(notebooks)
    if not names:
        raise CourseError(
            f"no modules in {notebooks}: expected folders mNN-slug holding mNN-slug.ipynb"
        )
    for name in names:  # read everything before writing anything
        nbformat.read(notebooks / name / f"{name}.ipynb", as_version=4)
    header = notebooks / "header.ipynb"
    if db_url is None:  # the PostgreSQL gradebook the course has; else SQLite, with no file
        db_url = _kept_db_url(course_dir)

    source = course_dir / "source"
    source.mkdir(parents=True, exist_ok=True)
    (course_dir / "learner").mkdir(exist_ok=True)
    if header.is_file():
        write_atomic(source / "header.ipynb", header.read_bytes())
    for name in names:
        for nb in sorted((notebooks / name).glob("*.ipynb")):
            write_atomic(source / name / nb.name, nb.read_bytes())
    write_atomic(  # mode 600 (a temporary file renamed)
        course_dir / "nbgrader_config.py",
        _config_text(course_dir, header.is_file()).encode(),
    )
    write_atomic(
        course_dir / "learner" / "nbgrader_config.py", _learner_config_text(course_dir).encode()
    )
    write_atomic(course_dir / SERVER_CONFIG, _server_config_text().encode())
    # seeds of graded studies: made once, never released (sealed, which imports nbgrader, is
    # imported here: the sandbox's harness imports this package and needs none of nbgrader)
    from hipaa_lab.course.sealed import course_secret

    course_secret(course_dir)
    if db_url is not None:
        write_atomic(course_dir / GRADEBOOK_URL_FILE, (db_url + "\n").encode())  # mode 600
    stamp = {"format": COURSE_FORMAT, "hipaa_lab_version": __version__, "course_id": COURSE_ID}
    old = _stamp(course_dir)
    stamp["created"] = (old or {}).get("created") or dt.datetime.now(dt.UTC).isoformat()
    write_atomic(course_dir / STAMP, (json.dumps(stamp, indent=1) + "\n").encode())

    from nbgrader.api import Gradebook

    with _venv_on_path(), Gradebook(gradebook_url(course_dir), COURSE_ID) as gb:
        for name in names:
            gb.update_or_create_assignment(name)
        for student in students:
            gb.update_or_create_student(student)
    return course_dir


# --------------------------------------------------------------------------- release, submit, grade


def _assignment_list(course_dir: Path, wanted: Iterable[str] | None) -> list[str]:
    _check_course(course_dir)  # a missing folder: say to build the course first
    have = sorted(
        p.name for p in (course_dir / "source").iterdir() if p.is_dir() and _MODULE.match(p.name)
    )
    if wanted is None:
        return have
    wanted = list(wanted)
    unknown = [a for a in wanted if a not in have]
    if unknown:
        raise CourseError(
            f"no module {', '.join(map(repr, unknown))} in {course_dir}; it has: {', '.join(have)}"
        )
    return wanted


def release(course_dir: Path, assignments: Iterable[str] | None = None) -> list[str]:
    """Generate the learner version of each module (``generate_assignment``) and release it to the
    exchange (replacing an earlier release). Returns the modules released."""
    course_dir = Path(course_dir).resolve()
    names = _assignment_list(course_dir, assignments)
    with _venv_on_path():
        api = _api(course_dir, force_release=True)
        for name in names:
            _check(api.generate_assignment(name, force=True), f"generating {name}")
            _check(api.release_assignment(name), f"releasing {name}")
    return names


def released_notebook(
    course_dir: Path, assignment: str, name: str | None = None
) -> nbformat.NotebookNode:
    """The learner version of a module's notebook, as released."""
    path = Path(course_dir) / "release" / assignment / (name or f"{assignment}.ipynb")
    nb: nbformat.NotebookNode = nbformat.read(path, as_version=4)
    return nb


def source_notebook(
    course_dir: Path, assignment: str, name: str | None = None
) -> nbformat.NotebookNode:
    """The trainer's source notebook of a module, as in the course."""
    path = Path(course_dir) / "source" / assignment / (name or f"{assignment}.ipynb")
    nb: nbformat.NotebookNode = nbformat.read(path, as_version=4)
    return nb


def submit(
    course_dir: Path,
    student: str,
    assignment: str,
    notebook: nbformat.NotebookNode,
    *,
    name: str | None = None,
    timestamp: dt.datetime | None = None,
) -> Path:
    """Put a learner's notebook where ``nbgrader collect`` would: ``submitted/STUDENT/ASSIGNMENT/``,
    with the ``timestamp.txt`` and ``submission_secret.txt`` that nbgrader's exchange writes.

    A resubmission replaces the earlier one. Returns the submission folder.
    """
    course_dir = Path(course_dir).resolve()
    _check_course(course_dir)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", student):
        raise ValueError(f"learner id {student!r}: use letters, digits, '.', '_' and '-'")
    _assignment_list(course_dir, [assignment])
    folder = course_dir / "submitted" / student / assignment
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    when = (timestamp or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    write_atomic(folder / (name or f"{assignment}.ipynb"), nbformat.writes(notebook).encode())
    write_atomic(folder / "timestamp.txt", when.strftime(_TIMESTAMP).encode())
    # as nbgrader's exchange submit writes it: feedback is returned under a hash of this secret
    write_atomic(folder / "submission_secret.txt", secrets.token_hex(64).encode())
    return folder


def collect(course_dir: Path, assignment: str) -> None:
    """Collect learners' submissions of ``assignment`` from the exchange into ``submitted/``."""
    course_dir = Path(course_dir).resolve()
    exchange = _load_config(course_dir).Exchange.get("root") or course_dir / "exchange"
    inbound = Path(exchange) / COURSE_ID / "inbound"  # a hub's exchange is its site config's
    if not inbound.is_dir():
        return
    with _venv_on_path():
        _check(_api(course_dir).collect(assignment, update=True), f"collecting {assignment}")


def _submitted(course_dir: Path, assignment: str, students: Iterable[str] | None) -> list[str]:
    have = sorted(
        p.parent.name for p in (course_dir / "submitted").glob(f"*/{assignment}") if p.is_dir()
    )
    if students is None:
        return have
    students = list(students)
    missing = [s for s in students if s not in have]
    if missing:
        raise CourseError(
            f"no submission of {assignment} from {', '.join(missing)}; submitted: {', '.join(have) or 'nobody'}"
        )
    return students


@dataclass(frozen=True)
class AutogradeOutcome:
    """One learner's autograde: graded, or why not (for the trainer; the run goes on)."""

    learner: str
    graded: bool
    reason: str = ""


def autograde(
    course_dir: Path,
    assignment: str,
    students: Iterable[str] | None = None,
    jobs: int = 1,
    *,
    progress: bool = False,
) -> list[AutogradeOutcome]:
    """Autograde (again, ``force``) the submissions of ``assignment``; default: every learner who
    submitted it.

    Learner code runs only in the sandbox (:mod:`hipaa_lab.course.sealed`). A submission that
    cannot be graded at all (nbgrader refuses the notebook) is recorded with its reason and the run
    goes on to the next learner; a notebook that crashes, hangs or exits is graded, with zero for
    what it did not answer.

    Parameters
    ----------
    course_dir, assignment
        The course and the module to grade.
    students
        Learner ids (default: every learner who submitted ``assignment``); a learner named twice
        is graded once.
    jobs
        Worker processes grading at once (:mod:`hipaa_lab.course.parallel`). Above 1 the course's
        gradebook must be PostgreSQL (``build(..., db_url=...)``): with SQLite it is refused with
        :class:`~hipaa_lab.errors.UsageError` before anything is graded.
    progress
        Show a progress bar (tqdm, on standard error).

    Returns
    -------
    list of AutogradeOutcome
        One per learner, in the order of ``students`` (default: sorted).
    """
    from hipaa_lab.course.sandbox import SandboxUnavailable, available

    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UsageError(f"jobs must be a whole number of 1 or more, got {jobs!r}")
    course_dir = Path(course_dir).resolve()
    names = list(dict.fromkeys(_submitted(course_dir, assignment, students)))
    if jobs > 1:
        db_url = str(_load_config(course_dir).CourseDirectory.db_url)
        if _is_sqlite(db_url):
            raise UsageError(
                f"--jobs {jobs}: parallel autograde needs a PostgreSQL gradebook, and this course's "
                f"gradebook is SQLite ({db_url.split(':///', 1)[-1]}), which cannot take several "
                "writers at once. Grade with --jobs 1, or build the course with a PostgreSQL "
                "gradebook (hipaa_lab.course.build(..., db_url='postgresql+psycopg://...'))"
            )
    missing = available()
    if missing:  # refuse to start, rather than fail every learner the same way
        raise SandboxUnavailable(missing)
    if jobs > 1 and len(names) > 1:
        from hipaa_lab.course.parallel import autograde_parallel

        return autograde_parallel(course_dir, assignment, names, jobs, progress=progress)
    bar = _bar(len(names), assignment, progress)
    outcomes = []
    try:
        with _venv_on_path():
            api = _api(course_dir)
            for student in names:
                outcomes.append(_grade_one(api, assignment, student))
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return outcomes


def _grade_one(api: NbGraderAPI, assignment: str, student: str) -> AutogradeOutcome:
    """One learner's autograde through nbgrader's API: graded, or why not (never raises for a
    submission nbgrader refuses)."""
    try:
        _check(
            api.autograde(assignment, student, force=True, create=True),
            f"autograding {assignment} of {student}",
        )
    except CourseError as exc:
        return AutogradeOutcome(student, False, str(exc)[-2000:])
    return AutogradeOutcome(student, True)


def _bar(total: int, assignment: str, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="learner", desc=f"autograde {assignment}", file=sys.stderr)


def feedback(
    course_dir: Path, assignment: str, students: Iterable[str] | None = None
) -> list[Path]:
    """Write feedback HTML for graded submissions and return it to the exchange, where learners
    fetch it. Returns the HTML files written."""
    course_dir = Path(course_dir).resolve()
    graded = sorted(
        p.parent.name for p in (course_dir / "autograded").glob(f"*/{assignment}") if p.is_dir()
    )
    names = graded if students is None else list(students)
    missing = [s for s in names if s not in graded]
    if missing:
        raise CourseError(
            f"{assignment} of {', '.join(missing)} is not graded yet; run autograde first"
        )
    written: list[Path] = []
    with _venv_on_path():
        api = _api(course_dir)
        for student in names:
            _check(
                api.generate_feedback(assignment, student, force=True),
                f"feedback on {assignment} of {student}",
            )
            _check(
                api.release_feedback(assignment, student),
                f"returning feedback on {assignment} to {student}",
            )
            written += sorted((course_dir / "feedback" / student / assignment).glob("*.html"))
    return written


def grade_by_hand(course_dir: Path, assignment: str, student: str, share: float) -> int:
    """Give every answer of ``student``'s ``assignment`` that waits for a trainer (written
    answers) ``share`` of its points, as a trainer does in the formgrader; return how many.

    For the demo and the tests: it writes the gradebook as the formgrader does (nbgrader's
    ``manual_score``), so a sync sees a hand grade. Raises ``ValueError`` for a share outside
    0 to 1, and nbgrader's ``MissingEntry`` when nothing was submitted.
    """
    from nbgrader.api import Gradebook

    if not 0 <= share <= 1:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    config = _load_config(Path(course_dir).resolve())
    graded = 0
    with _venv_on_path(), Gradebook(config.CourseDirectory.db_url, COURSE_ID) as gb:
        submission = gb.find_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if not grade.needs_manual_grade:
                    continue
                if grade.auto_score is None:  # a written answer; else the autograde score stands
                    grade.manual_score = round(share * float(grade.max_score), 2)
                grade.needs_manual_grade = False  # as the formgrader does once a grade is given
                graded += 1
        gb.db.commit()
    return graded


def scores(course_dir: Path) -> pd.DataFrame:
    """One row per learner and module that was submitted, from nbgrader's gradebook.

    Columns: ``learner, module, score, max_score, percent, auto_score, max_auto_score,
    written_score, max_written_score, needs_manual_grade, submitted_at, autograded_at``.
    ``score`` counts every point given so far (autograded and hand-graded); written answers count
    zero until a trainer grades them (``needs_manual_grade``).
    """
    import pandas as pd
    from nbgrader.api import Gradebook

    course_dir = Path(course_dir).resolve()
    config = _load_config(course_dir)
    rows = []
    with _venv_on_path(), Gradebook(config.CourseDirectory.db_url, COURSE_ID) as gb:
        for assignment in gb.assignments:
            for sub in gb.assignment_submissions(assignment.name):
                graded = sorted(
                    (course_dir / "autograded" / sub.student.id / assignment.name).glob("*.ipynb")
                )
                rows.append(
                    {
                        "learner": sub.student.id,
                        "module": assignment.name,
                        "score": float(sub.score),
                        "max_score": float(sub.max_score),
                        "percent": round(100.0 * sub.score / sub.max_score, 1)
                        if sub.max_score
                        else float("nan"),
                        "auto_score": float(sub.code_score),
                        "max_auto_score": float(sub.max_code_score),
                        "written_score": float(sub.written_score),
                        "max_written_score": float(sub.max_written_score),
                        "needs_manual_grade": bool(sub.needs_manual_grade),
                        "submitted_at": pd.Timestamp(sub.timestamp, tz="UTC")
                        if sub.timestamp
                        else pd.NaT,
                        "autograded_at": (
                            pd.Timestamp(max(p.stat().st_mtime for p in graded), unit="s", tz="UTC")
                            if graded
                            else pd.NaT
                        ),
                    }
                )
    columns = [
        "learner",
        "module",
        "score",
        "max_score",
        "percent",
        "auto_score",
        "max_auto_score",
        "written_score",
        "max_written_score",
        "needs_manual_grade",
        "submitted_at",
        "autograded_at",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["module", "learner"], ignore_index=True)


# --------------------------------------------------------------------------- simulated learners


def _grade_id(cell: Mapping[str, Any]) -> str | None:
    return (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")


def _is_solution(cell: Mapping[str, Any]) -> bool:
    return bool((cell.get("metadata", {}).get("nbgrader") or {}).get("solution"))


def _strip_markers(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not _MARKER.match(line))


def solution_lines(source_nb: nbformat.NotebookNode) -> set[str]:
    """The stripped, non-blank lines of a source notebook that a learner must never see: solution
    regions (or whole solution cells without markers) and hidden tests, less any line that also
    appears in the notebook's public text."""
    secret: set[str] = set()
    public: set[str] = set()
    for cell in source_nb.cells:
        lines = cell.source.splitlines()
        has_markers = any(_MARKER.match(line) for line in lines)
        inside = _is_solution(cell) and not has_markers
        for line in lines:
            m = _MARKER.match(line)
            if m:
                inside = m.group(1) == "BEGIN"
                continue
            (secret if inside else public).add(line.strip())
    return {line for line in secret - public if line}


def simulate_submission(
    released_nb: nbformat.NotebookNode,
    source_nb: nbformat.NotebookNode,
    kind: Literal["correct", "blank"] | Mapping[str, str],
    *,
    base: Literal["blank", "correct"] = "blank",
    acknowledged_by: str = "",
) -> nbformat.NotebookNode:
    """A simulated learner's notebook, made from the released (learner) notebook.

    Parameters
    ----------
    released_nb, source_nb
        The released notebook and the trainer's source notebook of the same module.
    kind
        ``"correct"``: each solution cell holds the source's solution (marker lines removed);
        ``"blank"``: the released notebook as it is; a mapping ``{grade_id: text}``: those solution
        cells hold that text.
    base
        For a mapping: what the other solution cells hold, ``"blank"`` (as released) or
        ``"correct"`` (so that the mapping's cells alone decide what is missed).
    acknowledged_by
        A name: the learner acknowledges the module's policy with it
        (:mod:`hipaa_lab.records.attest`); empty: they do not.
    """
    from hipaa_lab.records.attest import ACKNOWLEDGEMENT_TAG, ACKNOWLEDGEMENT_VARIABLE

    nb = copy.deepcopy(released_nb)
    if acknowledged_by:
        for cell in nb.cells:
            if ACKNOWLEDGEMENT_TAG in cell.get("metadata", {}).get("tags", []):
                cell.source = f"{ACKNOWLEDGEMENT_VARIABLE} = {acknowledged_by!r}\n"
    if kind == "blank":
        return nb
    # nbgrader gives every solution cell a grade_id; `or ""` only narrows the type
    correct = {
        _grade_id(c) or "": _strip_markers(c.source) for c in source_nb.cells if _is_solution(c)
    }
    if kind == "correct":
        answers = correct
    elif isinstance(kind, Mapping):
        if base not in ("blank", "correct"):
            raise ValueError(f"base must be 'blank' or 'correct', not {base!r}")
        answers = {**(correct if base == "correct" else {}), **kind}
    else:
        raise ValueError(
            f"kind must be 'correct', 'blank' or a mapping of grade_id to text, not {kind!r}"
        )
    cells = {_grade_id(c) or "": c for c in nb.cells if _is_solution(c)}
    unknown = sorted(set(answers) - set(cells))
    if unknown:
        raise ValueError(
            f"no solution cell with grade_id {', '.join(map(repr, unknown))}; "
            f"the notebook's solution cells are: {', '.join(sorted(map(str, cells)))}"
        )
    for grade_id, text in answers.items():
        cells[grade_id].source = text
    return nb


# --------------------------------------------------------------------------- JupyterLab


@dataclass
class LabServer:
    """A running JupyterLab serving a course; stop it with :meth:`stop`."""

    process: subprocess.Popen[bytes]
    port: int
    token: str
    course_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/lab?token={self.token}"

    def endpoint(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{sep}token={self.token}"

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_lab(course_dir: Path, *, wait: float = 60, log: Path | None = None) -> LabServer:
    """Start JupyterLab on 127.0.0.1 serving ``course_dir`` (a random port and token, no browser)
    and wait until it answers. The learner's assignment list and the trainer's formgrader read the
    course's ``nbgrader_config.py``."""
    course_dir = Path(course_dir).resolve()
    _check_course(course_dir)
    port, token = _free_port(), secrets.token_hex(24)
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={course_dir}",
    ]
    if (course_dir / SERVER_CONFIG).is_file():  # a course built before it had one: none
        cmd.append(f"--config={course_dir / SERVER_CONFIG}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        cmd, cwd=course_dir, env=env, stdout=out, stderr=subprocess.STDOUT if log else None
    )
    server = LabServer(process, port, token, course_dir)
    deadline = time.monotonic() + wait
    while True:
        if process.poll() is not None:
            raise CourseError(
                f"JupyterLab exited with status {process.returncode} before it answered"
            )
        try:
            # an http URL of the server this function started, never a user-given one
            with urllib.request.urlopen(server.endpoint("api/status"), timeout=2):  # noqa: S310
                return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                server.stop()
                raise CourseError(
                    f"JupyterLab did not answer on port {port} within {wait:.0f} s"
                ) from None
            time.sleep(0.3)


def lab(course_dir: Path) -> int:
    """``make lab``: build the course if needed, release every module, serve JupyterLab until
    interrupted. Returns JupyterLab's exit status."""
    course_dir = Path(course_dir).resolve()
    build(course_dir)  # makes the course, or refreshes its source notebooks; keeps all work
    released = release(course_dir)
    server = start_lab(course_dir)
    print(f"course {course_dir} with {', '.join(released)} released")
    print(f"  JupyterLab (learner: Nbgrader > Assignments): {server.url}")
    print(f"  formgrader (trainer):                         {server.endpoint('formgrader')}")
    print(
        "  this lab is for one person on this computer, not for a class: whoever opens it is\n"
        "  the same account and could open source/ (the solutions) and the gradebook. For a\n"
        "  class: `make hub` (hipaa-lab hub start), an account per employee, trainers apart."
    )
    print("  stop with Ctrl-C", flush=True)
    return serve_until_signal(server)


class _Served(Protocol):
    """A server this process started: its process, and how to stop it and what it started."""

    @property
    def process(self) -> subprocess.Popen[bytes]: ...

    def stop(self) -> None: ...


def serve_until_signal(server: _Served) -> int:
    """Wait for ``server``'s process to end, or for Ctrl-C, ``SIGTERM`` or ``SIGHUP``; then stop
    the server in any case (a terminated ``make lab`` or ``hub start`` must not leave its server
    running). Returns the process's exit status, 0 when interrupted."""

    def _stop(signum: int, frame: object) -> NoReturn:
        raise KeyboardInterrupt

    old = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return server.process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)


# --------------------------------------------------------------------------- CLI


def main(args: argparse.Namespace) -> int:
    """``hipaa-lab course build|release|autograde|feedback|scores``."""
    course_dir = Path(args.course_dir)
    if args.action == "build":
        from hipaa_lab.postgres import url_argument

        path = build(course_dir, args.notebooks, db_url=url_argument(getattr(args, "db", None)))
        print(f"course ready in {path}: {', '.join(_assignment_list(path, None))}")
        return 0
    wanted = getattr(args, "assignment", None)
    if args.action == "scores":
        frame = scores(course_dir)
        if wanted:
            frame = frame[frame.module.isin(wanted)]
        frame.to_csv(sys.stdout, index=False)
        return 0
    names = _assignment_list(course_dir.resolve(), wanted)
    if args.action == "release":
        release(course_dir, names)
        print(f"released {', '.join(names)} to {course_dir.resolve() / 'exchange'}")
        return 0
    students = getattr(args, "student", None)
    for name in names:
        if args.action == "autograde":
            collect(course_dir, name)
            outcomes = autograde(
                course_dir, name, students, jobs=getattr(args, "jobs", 1), progress=True
            )
            graded = [o.learner for o in outcomes if o.graded]
            print(f"{name}: autograded {len(graded)} submission(s): {', '.join(graded) or '-'}")
            for o in outcomes:
                if not o.graded:
                    print(f"{name}: could not grade {o.learner}: {o.reason}", file=sys.stderr)
        elif args.action == "feedback":
            files = feedback(course_dir, name, students)
            print(
                f"{name}: feedback written for {len(files)} notebook(s) under {course_dir.resolve() / 'feedback'}"
            )
    return 0
