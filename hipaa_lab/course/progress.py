"""What a learner sees of where they stand: each module's pass mark, a result atop the feedback,
and each module's status and score in the lab.

One source of truth for the pass mark: the curricula's ``pass_threshold`` (``[policy]``, or a
module's own), read by :mod:`hipaa_lab.records.curricula`; the same rule as the training records
(:func:`hipaa_lab.records.sync.sync`): a module is passed when its score is at least the threshold
times its points, and judged only once no answer waits for a trainer.

Three parts:

* **the pass mark in the module**: :func:`pass_mark_note` (``hl.widgets.pass_mark(module)``, in
  each module's opening cells) states the share, and the points where the module's notebook is at
  hand;
* **the result atop the feedback**: :class:`FeedbackResult`, an nbgrader preprocessor that runs
  after ``GetGrades`` in ``generate_feedback`` (on the trainer's side, where the gradebook is), makes
  a :class:`Result` (score, pass mark, passed / not yet / waiting for a trainer, and the graded parts
  that lost points, with their check's message); the course's feedback template
  (``templates/hipaa-lab-feedback``, extending nbgrader's ``feedback``) puts :func:`banner_html` at
  the top of the page. Every piece of text in it is HTML-escaped: a grade cell's message can carry
  what a learner wrote. The banner also carries the result as data (``data-result``), which is how
  the learner's side reads it back (:func:`read_result`);
* **status and score in the lab**: a Jupyter server extension (this module) serves
  ``{base_url}hipaa-lab/progress``, a page listing each module: not fetched, in progress,
  submitted, feedback ready to fetch, or the feedback's verdict and score, with a "view feedback"
  link that opens the feedback HTML. JupyterLab links to it from a "Course" menu ("My progress and
  feedback", ``lab-settings/overrides.d/hipaa-lab-progress.json``), which opens it in a browser
  tab through JupyterLab's own ``help:open`` command (``newBrowserTab``). Not in a lab tab: that
  is a sandboxed iframe, whose own navigations carry no login cookie, so "view feedback" from it
  was sent to the login page (seen in the browser test).

Why a page of our own and not nbgrader's assignment list. nbgrader 0.9.6's lab extension renders,
for a submission, only its timestamp and a "(view feedback)" link that runs
``filebrowser:go-to-path`` on the feedback *folder* (it shows the folder; it opens nothing). It has
no field for a status or a score: filling one would mean writing the score into the submission's
``timestamp`` string through a replaced exchange ``List`` class or nbgrader's private
``assignment_list_manager``, a misuse of a field that the next nbgrader may use otherwise, and the
feedback would still not open. A JupyterLab extension of our own needs a webpack build (npm,
``@jupyterlab/builder``) in ``make test`` or committed bundles that must match their source. A
server page needs neither: it is HTML rendered here, tested here, and JupyterLab's settings link it.
The statuses come from the same listing nbgrader's assignment list shows (its ``AssignmentList``,
reading the exchange and the learner's own folder); the score comes only from the feedback files the
learner fetched into their own folder, never from the gradebook, which a learner cannot read. A
learner can edit their own copy of the feedback; the page then shows what they wrote (escaped): the
training record comes from the gradebook, not from this page.

The menu's address is ``/hub/user-redirect/hipaa-lab/progress``: on JupyterHub the hub redirects it
to the learner's own server; in ``hipaa-lab lab`` (base URL ``/``) this extension answers it with
a redirect to ``/hipaa-lab/progress``. One setting serves both.
"""

from __future__ import annotations

import ast
import contextlib
import html
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from traitlets.config import Config

__all__ = [
    "FeedbackResult",  # noqa: F822  (made on first use, by __getattr__)
    "ModuleProgress",
    "PAGE_PATH",
    "Part",
    "PassMark",
    "RESULT_ID",
    "Result",
    "TEMPLATE",
    "Verdict",
    "banner_html",
    "configure_feedback",
    "configure_lab",
    "judge",
    "learner_progress",
    "parts_from_notebook",
    "pass_mark_note",
    "pass_threshold",
    "progress_html",
    "read_result",
]

#: The progress page, below the server's base URL.
PAGE_PATH = "hipaa-lab/progress"
#: The feedback template (``templates/hipaa-lab-feedback``): nbgrader's, with the result on top.
TEMPLATE = "hipaa-lab-feedback"
#: The id of the result's element in the feedback HTML.
RESULT_ID = "hipaa-lab-result"
_HUB_REDIRECT = "/hub/user-redirect/" + PAGE_PATH
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# --------------------------------------------------------------------------- the pass mark


def pass_threshold(module: str, curricula: str | Path | None = None) -> float:
    """The share of ``module``'s points that passes it, from the curricula (the shipped file, or
    ``curricula``): the module's own ``pass_threshold``, else the policy's.

    Read where the course's notebooks cannot be listed (a learner's kernel on a hub, the grading
    sandbox), so the file's module names are not checked against them: the trainer's commands
    that load it check them."""
    from hipaa_lab.records.curricula import load_curricula

    return load_curricula(curricula, check_modules=False).threshold(module)


def _points_of(nb: Mapping[str, Any]) -> float:
    return float(
        sum(
            float((c.get("metadata", {}).get("nbgrader") or {}).get("points") or 0)
            for c in nb.get("cells", [])
            if (c.get("metadata", {}).get("nbgrader") or {}).get("grade")
        )
    )


def _config_literals(path: Path) -> dict[str, object]:
    """The ``c.SECTION.NAME = literal`` settings of a traitlets config file, read as text: the
    file is never run (it may be anyone's, above the notebook's folder)."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):  # none, unreadable, or not Python
        return {}
    found: dict[str, object] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target = node.targets[0]
        if (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Attribute)
            and isinstance(target.value.value, ast.Name)
            and target.value.value.id == "c"
        ):
            with contextlib.suppress(ValueError):
                found[f"{target.value.attr}.{target.attr}"] = ast.literal_eval(node.value)
    return found


def _released_notebook(module: str) -> Path | None:
    """``module``'s notebook as released to learners, in nbgrader's exchange
    (``ROOT/COURSE/outbound/MODULE/``), readable by every learner; ``None`` when not at hand.

    The exchange and course are those of an ``nbgrader_config.py`` that a learner's server reads:
    in the notebook's folder or one above it (``hipaa-lab lab``'s ``learner/``, the course) or in
    Jupyter's config path (a hub's learner configuration, ``JUPYTER_CONFIG_PATH``)."""
    from jupyter_core.paths import jupyter_config_path

    here = Path.cwd()
    for folder in [here, *here.parents, *map(Path, jupyter_config_path())]:
        settings = _config_literals(folder / "nbgrader_config.py")
        root, course_id = settings.get("Exchange.root"), settings.get("CourseDirectory.course_id")
        if isinstance(root, str) and isinstance(course_id, str):
            path = Path(root) / course_id / "outbound" / module / f"{module}.ipynb"
            if path.is_file():
                return path
    return None


def _module_points(module: str) -> float | None:
    """The points of ``module``'s notebook, or None when it is not at hand (the points are
    public: nbgrader shows them to the learner). Read from the module as released (what a
    learner may read, on a hub too); without a course, from the package's notebooks."""
    import nbformat

    from hipaa_lab.course.build import find_notebooks
    from hipaa_lab.errors import CourseError

    path = _released_notebook(module)
    if path is None:
        try:
            path = find_notebooks() / module / f"{module}.ipynb"
        except CourseError:  # no notebooks folder: an installed package without them
            return None
        if not os.access(path, os.R_OK):  # missing, or closed to learners (a hub)
            return None
    return _points_of(nbformat.read(path, as_version=4)) or None


def _num(value: float) -> str:
    """A score as people write it: ``16``, ``16.5``, ``16.67``."""
    return f"{round(value, 2):g}"


@dataclass(frozen=True)
class PassMark:
    """A module's pass mark: the share, and the points when known. Shows itself in a notebook."""

    module: str
    threshold: float
    points: float | None = None

    @property
    def pass_points(self) -> float | None:
        return None if self.points is None else round(self.threshold * self.points, 2)

    def __str__(self) -> str:
        share = f"{_num(100 * self.threshold)}%"
        if self.points is None:
            return f"Pass mark for {self.module}: {share} of the module's points."
        return (
            f"Pass mark for {self.module}: {share} of the module's points, that is "
            f"{_num(self.pass_points or 0)} of {_num(self.points)}."
        )

    def _repr_html_(self) -> str:
        return (
            '<div class="hipaa-lab-pass-mark" style="border-left:4px solid #1f6feb;'
            'padding:0.4em 0.8em;background:#f0f6ff">'
            f"<strong>{html.escape(str(self))}</strong> "
            "Your feedback will say whether you passed or not yet, and what to retry. "
            "Written answers count once a trainer has graded them.</div>"
        )


def pass_mark_note(module: str, curricula: str | Path | None = None) -> PassMark:
    """The pass mark of ``module``, for its notebook (``hl.widgets.pass_mark``)."""
    return PassMark(module, pass_threshold(module, curricula), _module_points(module))


# --------------------------------------------------------------------------- the result


class Verdict(str, Enum):
    """Where a graded module stands."""

    PASSED = "passed"
    NOT_YET = "not yet"
    AWAITING_TRAINER = "waiting for a trainer"


def judge(score: float, max_score: float, threshold: float, *, pending: bool) -> Verdict:
    """The verdict: waiting while any answer waits for a trainer; else passed when ``score`` is at
    least ``threshold`` times ``max_score`` (the rule of the training records).

    >>> judge(16, 20, 0.8, pending=False), judge(15.5, 20, 0.8, pending=False)
    (<Verdict.PASSED: 'passed'>, <Verdict.NOT_YET: 'not yet'>)
    >>> judge(20, 20, 0.8, pending=True)
    <Verdict.AWAITING_TRAINER: 'waiting for a trainer'>
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold is a share between 0 and 1, got {threshold!r}")
    if pending:
        return Verdict.AWAITING_TRAINER
    if max_score > 0 and score >= threshold * max_score:
        return Verdict.PASSED
    return Verdict.NOT_YET


@dataclass(frozen=True)
class Part:
    """One graded part of a notebook: a check (a grade cell) or a written answer."""

    grade_id: str
    score: float
    points: float
    written: bool = False
    pending: bool = False  # waits for a trainer: not counted as failed
    about: str = ""  # what the part checks (the grade cell's docstring)
    message: str = ""  # what the check said when it gave less than full points

    @property
    def lost_points(self) -> bool:
        return not self.pending and self.score < self.points


@dataclass(frozen=True)
class Result:
    """A module's graded result as fed back to a learner."""

    module: str
    score: float
    max_score: float
    threshold: float
    parts: tuple[Part, ...] = field(default_factory=tuple)

    @property
    def pass_points(self) -> float:
        return round(self.threshold * self.max_score, 2)

    @property
    def pending(self) -> list[Part]:
        return [p for p in self.parts if p.pending]

    @property
    def to_retry(self) -> list[Part]:
        return [p for p in self.parts if p.lost_points]

    @property
    def verdict(self) -> Verdict:
        return judge(self.score, self.max_score, self.threshold, pending=bool(self.pending))

    @property
    def label(self) -> str:
        """``passed 17/20``, ``not yet 9/20``, ``waiting for a trainer 14/20 so far``."""
        text = f"{self.verdict.value} {_num(self.score)}/{_num(self.max_score)}"
        return text + (" so far" if self.verdict is Verdict.AWAITING_TRAINER else "")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_data(cls, data: Any) -> Result:
        """Rebuild from :meth:`to_json`'s data; ``ValueError`` for anything else."""
        if not isinstance(data, dict):
            raise ValueError("the result is not an object")
        try:
            parts = tuple(
                Part(
                    grade_id=str(p["grade_id"]),
                    score=_finite(p["score"]),
                    points=_finite(p["points"]),
                    written=bool(p.get("written", False)),
                    pending=bool(p.get("pending", False)),
                    about=str(p.get("about", "")),
                    message=str(p.get("message", "")),
                )
                for p in data.get("parts", [])
            )
            return cls(
                module=str(data["module"]),
                score=_finite(data["score"]),
                max_score=_finite(data["max_score"]),
                threshold=_finite(data["threshold"]),
                parts=parts,
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"the result lacks or mistypes {exc}") from None


def _finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"not a number: {value!r}")
    return float(value)


def _docstring(source: str) -> str:
    try:
        doc = ast.get_docstring(ast.parse(source))
    except SyntaxError:
        return ""
    return (doc or "").strip().splitlines()[0] if doc else ""


def _message(cell: Mapping[str, Any]) -> str:
    """The check's own words: the last error's value, else the last stream text."""
    error, stream = "", ""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            error = str(out.get("evalue", ""))
        elif out.get("output_type") == "stream":
            stream = str(out.get("text", ""))
    text = _ANSI.sub("", error or stream).strip()
    return text[:600]


def parts_from_notebook(nb: Mapping[str, Any], pending: Iterable[str] = ()) -> tuple[Part, ...]:
    """The graded parts of a feedback notebook (grade cells carrying ``score`` and ``points``, as
    nbgrader's ``GetGrades`` leaves them); ``pending``: the grade ids a trainer has yet to grade."""
    waiting = set(pending)
    parts = []
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader") or {}
        if not meta.get("grade"):
            continue
        grade_id = str(meta.get("grade_id", ""))
        written = cell.get("cell_type") == "markdown" or bool(meta.get("solution"))
        is_pending = grade_id in waiting
        points = float(meta.get("points") or 0)
        score = float(meta.get("score") or 0)
        lost = not is_pending and score < points
        parts.append(
            Part(
                grade_id=grade_id,
                score=score,
                points=points,
                written=written,
                pending=is_pending,
                about="written answer" if written else _docstring(str(cell.get("source", ""))),
                message=_message(cell) if lost and not written else "",
            )
        )
    return tuple(parts)


_HEADLINES = {
    Verdict.PASSED: ("Passed", "#1a7f37", "#dafbe1"),
    Verdict.NOT_YET: ("Not yet passed", "#9a6700", "#fff8c5"),
    Verdict.AWAITING_TRAINER: ("Not final yet: a trainer has still to grade", "#0550ae", "#ddf4ff"),
}


def banner_html(result: Result) -> str:
    """The result as an HTML block for the top of the feedback page; every text escaped, the
    result itself in ``data-result`` (escaped JSON) for :func:`read_result`."""
    e = html.escape
    headline, colour, background = _HEADLINES[result.verdict]
    share = f"{_num(100 * result.threshold)}%"
    lines = [
        f'<section id="{RESULT_ID}" data-verdict="{e(result.verdict.name.lower())}" '
        f'data-result="{e(result.to_json(), quote=True)}" role="status" '
        f'style="border:2px solid {colour};background:{background};border-radius:6px;'
        'padding:0.8em 1.2em;margin:0 0 1em 0;font-size:15px">',
        f'<h2 style="margin-top:0;color:{colour}">{e(result.module)}: {e(headline)}</h2>',
        f"<p>Score <strong>{_num(result.score)} / {_num(result.max_score)}</strong>"
        f"{' so far' if result.pending else ''}; "
        f"pass mark <strong>{_num(result.pass_points)} / {_num(result.max_score)}</strong> "
        f"({share} of the points).</p>",
    ]
    if result.verdict is Verdict.PASSED:
        lines.append("<p>You passed this module.</p>")
    if result.pending:
        items = "".join(
            f"<li><strong>{e(p.grade_id)}</strong> ({_num(p.points)} "
            f"point{'' if p.points == 1 else 's'})</li>"
            for p in result.pending
        )
        reached = result.score >= result.pass_points
        lines.append(
            "<p>Not graded yet by a trainer, and not counted as failed: the verdict comes once "
            f"they are graded{' (you already have the points for the pass mark)' if reached else ''}"
            f":</p><ul>{items}</ul>"
        )
    retry = result.to_retry
    if retry and result.verdict is not Verdict.PASSED:
        items = "".join(
            f"<li><strong>{e(p.grade_id)}</strong> ({_num(p.score)} / {_num(p.points)})"
            + (f": {e(p.about)}" if p.about else "")
            + (f'<br><span style="color:#57606a">{e(p.message)}</span>' if p.message else "")
            + "</li>"
            for p in retry
        )
        lines.append(
            "<p>What to retry: these parts lost points. Fix them in your notebook, run it "
            f"again from the top and submit again.</p><ul>{items}</ul>"
        )
    elif retry:
        lines.append(
            "<p>Parts that lost points (you passed; worth a look): "
            + ", ".join(f"<strong>{e(p.grade_id)}</strong>" for p in retry)
            + ".</p>"
        )
    lines.append("</section>")
    return "\n".join(lines)


class _ResultFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.data: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if self.data is None and values.get("id") == RESULT_ID:
            self.data = values.get("data-result") or ""


def read_result(page: str) -> Result | None:
    """The :class:`Result` a feedback page carries, or None (feedback made without it, or a
    result that does not read back)."""
    finder = _ResultFinder()
    finder.feed(page)
    finder.close()
    if not finder.data:
        return None
    try:
        return Result.from_data(json.loads(finder.data))
    except ValueError:
        return None


# --------------------------------------------------------------------------- feedback (nbgrader)


def _feedback_classes() -> tuple[type, type]:
    from nbconvert.exporters import HTMLExporter
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import NbGraderPreprocessor
    from traitlets import List, Unicode

    class FeedbackExporter(HTMLExporter):
        """nbgrader's feedback exporter, under its own name, so that the course's template
        (``hipaa-lab-feedback``) is chosen: ``NbGraderAPI.generate_feedback`` sets
        ``HTMLExporter.template_name`` to nbgrader's ``feedback``; a subclass's section wins."""

    class FeedbackResult(NbGraderPreprocessor):  # type: ignore[misc]
        """After ``GetGrades``: the module's :class:`Result` for the banner, in
        ``resources["hipaa_lab"]["banner"]``."""

        curricula = Unicode("", help="curricula file (default: the shipped one)").tag(config=True)
        # nbconvert's HTML exporter configures this on every preprocessor (NbConvertBase);
        # accepted, as nbgrader's GetGrades does, so that feedback logs no warning about it
        display_data_priority = List(Unicode()).tag(config=True)

        def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
            info = resources["nbgrader"]
            with Gradebook(info["db_url"]) as gb:
                submission = gb.find_submission(info["assignment"], info["student"])
                score, most = float(submission.score), float(submission.max_score)
                waiting = [
                    g.name for n in submission.notebooks for g in n.grades if g.needs_manual_grade
                ]
            module = str(info["assignment"])
            result = Result(
                module=module,
                score=score,
                max_score=most,
                threshold=pass_threshold(module, self.curricula or None),
                parts=parts_from_notebook(nb, waiting),
            )
            resources.setdefault("hipaa_lab", {})["banner"] = banner_html(result)
            return nb, resources

    return FeedbackExporter, FeedbackResult


def __getattr__(name: str) -> type:
    if name in ("FeedbackResult", "FeedbackExporter"):
        exporter, result = _feedback_classes()
        globals().update(FeedbackExporter=exporter, FeedbackResult=result)
        return exporter if name == "FeedbackExporter" else result
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def configure_feedback(c: Config, curricula: str | Path | None = None) -> None:
    """Set nbgrader's ``generate_feedback`` to put the learner's result atop the feedback.

    ``c``: the course's ``nbgrader_config.py`` config (after
    :func:`hipaa_lab.course.offline.configure_exporter`, whose template folder holds
    ``hipaa-lab-feedback``).
    """
    import nbgrader
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades

    exporter = __getattr__("FeedbackExporter")
    result = __getattr__("FeedbackResult")
    c.GenerateFeedback.preprocessors = [GetGrades, result, CSSHTMLHeaderPreprocessor]
    c.GenerateFeedback.exporter_class = exporter
    c.FeedbackExporter.template_name = TEMPLATE
    # nbgrader's own template folder, so that ours can extend 'feedback/index.html.j2'; and the
    # bootstrap CSS nbgrader's feedback inlines (GenerateFeedback sets only HTMLExporter's)
    formgrader = Path(nbgrader.__file__).resolve().parent / "server_extensions" / "formgrader"
    c.FeedbackExporter.extra_template_paths = [
        str(formgrader / "static" / "node_modules" / "bootstrap" / "dist" / "css"),
        str(formgrader / "templates"),
    ]
    if curricula is not None:
        c.FeedbackResult.curricula = str(curricula)


# --------------------------------------------------------------------------- the learner's side


@dataclass(frozen=True)
class ModuleProgress:
    """One module as its learner stands: ``status`` is "not fetched", "in progress",
    "submitted", "feedback ready to fetch" or "feedback"; ``result`` and ``feedback`` (paths
    relative to the server's root, one per notebook) once feedback is fetched."""

    module: str
    status: str
    submitted_at: str = ""
    result: Result | None = None
    feedback: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``not fetched``, ``in progress``, ``submitted``, ``feedback: passed 17/20``..."""
        if self.status != "feedback":
            return self.status
        if self.result is None:
            return "feedback: no result in it"
        return f"feedback: {self.result.label}"


def _latest_submission(assignment: Mapping[str, Any]) -> Mapping[str, Any] | None:
    subs = sorted(assignment.get("submissions", []), key=lambda s: str(s.get("timestamp", "")))
    return subs[-1] if subs else None


def _from_listing(listing: Iterable[Mapping[str, Any]], root: Path) -> list[ModuleProgress]:
    released: dict[str, str] = {}
    submitted: dict[str, Mapping[str, Any]] = {}
    for item in listing:
        name = str(item.get("assignment_id", ""))
        if item.get("status") == "submitted":
            sub = _latest_submission(item)
            if sub is not None:
                submitted[name] = sub
        elif item.get("status") in ("released", "fetched"):
            released[name] = str(item["status"])
    out = []
    for name in sorted(set(released) | set(submitted)):
        sub = submitted.get(name)
        if sub is None:
            status = "not fetched" if released[name] == "released" else "in progress"
            out.append(ModuleProgress(name, status))
            continue
        when = str(sub.get("timestamp", ""))
        if not sub.get("has_local_feedback"):
            status = "feedback ready to fetch" if sub.get("has_exchange_feedback") else "submitted"
            out.append(ModuleProgress(name, status, when))
            continue
        pages, results = [], []
        for nb in sub.get("notebooks", []):
            path = nb.get("local_feedback_path")
            if not path:
                continue
            full = Path(path) if Path(path).is_absolute() else root / path
            pages.append(_relative(full, root))
            try:
                results.append(read_result(full.read_text(encoding="utf-8", errors="replace")))
            except OSError:
                results.append(None)
        result = results[0] if results and all(r is not None for r in results) else None
        out.append(ModuleProgress(name, "feedback", when, result, tuple(pages)))
    return out


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return ""  # outside what the server serves: no link


def learner_progress(root_dir: str | Path, course_id: str | None = None) -> list[ModuleProgress]:
    """Each module of the course as the learner whose server serves ``root_dir`` stands, from the
    listing nbgrader's assignment list shows (the exchange and the learner's own folder) and the
    results inside the feedback they fetched. Raises ``RuntimeError`` with nbgrader's message
    when the exchange cannot be listed."""
    from nbgrader.server_extensions.assignment_list.handlers import AssignmentList

    from hipaa_lab.course.build import COURSE_ID

    root = Path(root_dir).resolve()
    manager = AssignmentList()
    manager.root_dir = str(root)
    listing = manager.list_assignments(course_id=course_id or COURSE_ID)
    if not listing.get("success"):
        raise RuntimeError(str(listing.get("value", "the assignment list failed")))
    return _from_listing(listing["value"], root)


def progress_html(modules: Iterable[ModuleProgress], base_url: str = "/") -> str:
    """The progress page: a table of modules, status, score, pass mark and a feedback link."""
    e = html.escape
    rows = []
    for m in modules:
        result = m.result
        score = f"{_num(result.score)} / {_num(result.max_score)}" if result else ""
        mark = f"{_num(result.pass_points)} ({_num(100 * result.threshold)}%)" if result else ""
        verdict = result.verdict.name.lower() if result else m.status.replace(" ", "-")
        links = " ".join(
            f'<a class="view-feedback" href="{e(base_url + "files/" + quote(p), quote=True)}">'
            "view feedback</a>"
            for p in m.feedback
            if p
        )
        hint = {
            "not fetched": "Fetch it in Nbgrader &gt; Assignments.",
            "feedback ready to fetch": "Press Fetch Feedback in Nbgrader &gt; Assignments.",
        }.get(m.status, "")
        rows.append(
            f'<tr class="module" data-module="{e(m.module, quote=True)}" '
            f'data-status="{e(verdict, quote=True)}"><td>{e(m.module)}</td>'
            f'<td class="status">{e(m.label)}</td><td class="score">{e(score)}</td>'
            f'<td class="pass-mark">{e(mark)}</td><td>{links or hint}</td></tr>'
        )
    body = "\n".join(rows) or '<tr><td colspan="5">No module released yet.</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>My progress and feedback</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #1f2328; }}
table {{ border-collapse: collapse; }}
th, td {{ text-align: left; padding: 0.4em 1em; border-bottom: 1px solid #d0d7de; }}
tr[data-status="passed"] td.status {{ color: #1a7f37; font-weight: bold; }}
tr[data-status="not_yet"] td.status {{ color: #9a6700; font-weight: bold; }}
</style></head>
<body><h1>My progress and feedback</h1>
<p>Each module's status. The score is the one in the feedback you fetched; the pass mark is
the course's. Fetch, submit and fetch feedback in <em>Nbgrader &gt; Assignments</em>.</p>
<table><thead><tr><th>Module</th><th>Status</th><th>Score</th><th>Pass mark</th>
<th>Feedback</th></tr></thead>
<tbody>
{body}
</tbody></table></body></html>
"""


# --------------------------------------------------------------------------- the server extension


def _handlers(root_dir: str, base_url: str) -> list[tuple[str, type, dict[str, Any]]]:
    from jupyter_server.base.handlers import APIHandler, JupyterHandler
    from jupyter_server.utils import url_path_join
    from tornado import web

    def listing() -> list[ModuleProgress]:
        return learner_progress(root_dir)

    class ProgressPage(JupyterHandler):
        @web.authenticated
        def get(self) -> None:
            try:
                page = progress_html(listing(), base_url)
            except RuntimeError as exc:
                self.set_status(503)
                page = f"<p>The course's exchange cannot be read: {html.escape(str(exc))}</p>"
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(page)

    class ProgressAPI(APIHandler):
        @web.authenticated
        def get(self) -> None:
            modules = listing()
            self.finish(
                json.dumps(
                    [
                        {
                            "module": m.module,
                            "status": m.status,
                            "label": m.label,
                            "submitted_at": m.submitted_at,
                            "feedback": list(m.feedback),
                            "result": json.loads(m.result.to_json()) if m.result else None,
                            "verdict": m.result.verdict.value if m.result else None,
                        }
                        for m in modules
                    ]
                )
            )

    class HubRedirect(JupyterHandler):
        def get(self) -> None:
            self.redirect(url_path_join(base_url, PAGE_PATH))

    handlers: list[tuple[str, type, dict[str, Any]]] = [
        (url_path_join(base_url, PAGE_PATH), ProgressPage, {}),
        (url_path_join(base_url, "hipaa-lab/api/progress"), ProgressAPI, {}),
    ]
    if base_url == "/":  # not on a hub: answer the hub's address of the page ourselves
        handlers.append((_HUB_REDIRECT, HubRedirect, {}))
    return handlers


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "hipaa_lab.course.progress"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    web_app = server_app.web_app
    web_app.add_handlers(".*$", _handlers(str(server_app.root_dir), web_app.settings["base_url"]))
    server_app.log.info("hipaa-lab: the learner's progress page at %s", PAGE_PATH)


def configure_lab(c: Config) -> None:
    """Enable the progress page in a Jupyter server (``c``: a ``jupyter_server_config.py``
    config). :func:`hipaa_lab.course.offline.configure_server` calls it, since the settings folder
    it sets links the page from the "Course" menu: the course's ``hipaa-lab lab`` and a hub's
    learners get both."""
    extensions = dict(c.ServerApp.get("jpserver_extensions", {}) or {})
    extensions["hipaa_lab.course.progress"] = True
    c.ServerApp.jpserver_extensions = extensions
