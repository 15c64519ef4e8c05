"""Sealed autograding: learner code runs only in the sandbox; the grader keeps the key and the seed.

Two nbgrader preprocessors replace the in-kernel steps of ``nbgrader autograde``
(:func:`configure` puts them in a course's configuration, so the formgrader's Autograde button
uses them too):

:class:`Reseal` (first of the sanitising steps)
    rebuilds the submitted notebook from the released one: every locked cell is the trainer's
    (hidden tests included, so nbgrader has no reason to warn about checksums), every answer cell
    holds only the learner's text, cells the learner added are kept as plain cells that can never
    be grade cells, notebook metadata is the release's, and learners' Markdown is escaped so that
    it shows as text, never as a script, in the formgrader and in feedback.

:class:`SealedExecute` (instead of nbgrader's ``Execute``)
    runs the learner's code cells in a :class:`~hipaa_lab.course.sandbox.Sandbox` (which withholds
    the modules holding the answers of the exercises its grade cells name:
    :func:`~hipaa_lab.course.rules.withheld_modules`) and copies what they printed and showed (plain text and PNG images only) into the notebook; then runs each
    grade cell *here*, in the trusted grader, where the learner's names are either plain data read
    back from the sandbox or handles that make the sandbox run a function on studies the grader
    makes. A grade cell's result becomes its output: a number of points (partial credit), a short
    message, or an error saying what to fix. A notebook that crashes, hangs or exits gets zero for
    what it did not answer, with the reason, and grading goes on.

    The trainer's own cells (a locked demonstration, or a cell to try things in that the learner
    left as released; known from the release, never from the submission) that used a withheld
    answer, or failed on a name such a cell did not get to set, show :data:`WITHHELD_NOTE`
    instead of the refusal, which is meant for the learner's code: ``breach.plan``'s
    demonstration cannot run while ``plan_notices`` is graded.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import copy
import hashlib
import hmac
import io
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import nbformat
from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

from hipaa_lab.course.rules import withheld_modules
from hipaa_lab.course.sandbox import (
    Limits,
    Sandbox,
    SandboxBroken,
    SandboxFunction,
    SandboxUnavailable,
)
from hipaa_lab.course.withheld import refusal
from hipaa_lab.errors import CourseError, GradingError

__all__ = [
    "NotPlainValue",
    "Reseal",
    "SECRET_FILE",
    "SealedExecute",
    "SealedRun",
    "WITHHELD_NOTE",
    "configure",
    "course_secret",
    "escape_markdown",
]

#: The course secret (never released): seeds of graded studies derive from it.
SECRET_FILE = ".hipaa-lab-secret"  # noqa: S105 - the name of the file, not a secret
_DATASET_LOAD = re.compile(r"""datasets\.load\(\s*["']([A-Za-z0-9_-]+)["']""")
#: A link's or an image's destination that is not plainly a web page, an e-mail address or a place
#: in the page: the Markdown renderer decodes entities in it (``java&#115;cript:`` is
#: ``javascript:``, even once ``&`` is escaped), so only a literal safe start is let through
_UNSAFE_LINK = re.compile(r"\]\((?!\s*(?:https?://|mailto:|#))\s*", re.IGNORECASE)
#: A cell's error when a name it reads was never set
_NAME_ERROR = re.compile(r"NameError: name '(\w+)' is not defined")
#: What a trainer's cell shows in the graded copy when it used an answer withheld from the
#: sandbox, or missed a name such a cell sets (lines short enough for the feedback's output box)
WITHHELD_NOTE = (
    "Not run while your notebook was graded: this example uses the answers of this\n"
    "assignment, which grading keeps out of reach. In your own notebook it runs as usual.\n"
)


def course_secret(course_dir: Path) -> bytes:
    """The course's secret, made on first use (readable by the trainer's account only)."""
    path = Path(course_dir) / SECRET_FILE
    if not path.is_file():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())


def configure(c: Any) -> None:
    """Put the sealed steps in an nbgrader configuration (``nbgrader_config.py`` calls this)."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        LimitOutput,
        OverwriteCells,
        OverwriteKernelspec,
        SaveAutoGrades,
    )

    c.Autograde.sanitize_preprocessors = [
        Reseal,
        ClearOutput,
        DeduplicateIds,
        OverwriteKernelspec,
        OverwriteCells,
        CheckCellMetadata,
    ]
    c.Autograde.autograde_preprocessors = [
        SealedExecute,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]


# ====================================================================== Reseal


def escape_markdown(text: str) -> str:
    """Learner Markdown made inert: HTML shows as text and links go only to web pages (or are
    marked ``#unsafe-link:``, a place in the page); link reference definitions define nothing.

    >>> escape_markdown('<script>alert(1)</script> [x](javascript:alert(1)) a & b')
    '&lt;script&gt;alert(1)&lt;/script&gt; [x](#unsafe-link:alert(1)) a &amp; b'
    """
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # no link reference definitions (``[1]: javascript:...``, in a list item too): `]\:` shows
    # as `]:` and defines nothing, so `[text][1]` stays text
    text = text.replace("]:", "]\\:")
    return _UNSAFE_LINK.sub("](#unsafe-link:", text).replace(
        "#unsafe-link:javascript:", "#unsafe-link:"
    )


def _grade_id(cell: NotebookNode) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) else None


def _text(source: object) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return ""


def _plain_cell(cell: NotebookNode) -> NotebookNode | None:
    """A cell the learner added, kept as their own text only (never a grade cell)."""
    source = _text(cell.get("source"))
    if cell.get("cell_type") == "code":
        return cast(NotebookNode, nbformat.v4.new_code_cell(source))
    if cell.get("cell_type") == "markdown":
        return cast(NotebookNode, nbformat.v4.new_markdown_cell(escape_markdown(source)))
    return None


def _released(root: Path, info: dict[str, Any]) -> NotebookNode:
    """The released notebook being graded (``info``: the nbgrader resources' names)."""
    path = root / "release" / info["assignment"] / f"{info['notebook']}.ipynb"
    if not path.is_file():
        raise CourseError(f"{path} is missing: release {info['assignment']} again")
    return cast(NotebookNode, nbformat.read(path, as_version=4))


class Reseal(NbGraderPreprocessor):  # type: ignore[misc]
    """Rebuild a submission from the released notebook and the learner's answers only."""

    def preprocess(
        self, nb: NotebookNode, resources: ResourcesDict
    ) -> tuple[NotebookNode, ResourcesDict]:
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        release = _released(Path(self.config.CourseDirectory.root), info)
        with Gradebook(info["db_url"]) as gb:
            source = {
                c.name: c.source
                for c in gb.find_notebook(info["notebook"], info["assignment"]).source_cells
            }
        released = {_grade_id(c): c for c in release.cells if _grade_id(c)}
        unnamed = {c.get("id") for c in release.cells if not _grade_id(c) and c.get("id")}
        answers: dict[str, str] = {}
        edited: dict[str, str] = {}
        added: dict[str | None, list[NotebookNode]] = {}
        previous: str | None = None
        for cell in nb.cells:
            gid = _grade_id(cell)
            if gid is not None and gid in released and gid not in answers and gid not in added:
                ours = released[gid]
                previous = gid
                if utils.is_locked(ours):
                    if _text(cell.get("source")) not in (ours.source, source.get(gid)):
                        self.log.warning("the learner changed locked cell %s: it is restored", gid)
                    added.setdefault(gid, [])
                else:
                    answers[gid] = _text(cell.get("source"))
                continue
            if gid is None and cell.get("id") in unnamed:
                # a released cell nbgrader does not name: the header's (kept as released), or a
                # cell to try things in (the learner's text, as they may define helpers there)
                edited[cell["id"]] = _text(cell.get("source"))
                continue
            plain = _plain_cell(cell)
            if plain is not None:
                added.setdefault(previous, []).append(plain)
        cells = list(added.get(None, []))
        for ours in release.cells:
            new = copy.deepcopy(ours)
            gid = _grade_id(ours)
            if gid is not None and utils.is_locked(ours) and gid in source:
                new.source = source[gid]
            editable = not utils.is_locked(new) and new.metadata.get("editable", True) is not False
            if gid is None and new.cell_type == "code" and new.get("id") in edited and editable:
                new.source = edited[new["id"]]
            if gid in answers:
                text = answers[gid]
                new.source = escape_markdown(text) if new.cell_type == "markdown" else text
            new.pop("attachments", None)
            if new.cell_type == "code":
                new.outputs, new.execution_count = [], None
            cells.append(new)
            if gid is not None:
                cells.extend(added.get(gid, []))
        nb.cells = cells
        nb.metadata = copy.deepcopy(release.metadata)
        return nb, resources


# ====================================================================== SealedExecute


class NotPlainValue:
    """A learner's name that holds something other than plain data; any use of it fails."""

    def __init__(self, name: str, kind: str) -> None:
        self._name, self._kind = name, kind

    def __repr__(self) -> str:
        return f"<{self._name}: a {self._kind}, not plain data>"

    def __getattr__(self, attr: str) -> Any:
        raise GradingError(
            f"{self._name} must be plain data (a str, a number, a list of str...), "
            f"not a {self._kind}"
        )


@dataclass
class SealedRun:
    """One submission being graded: where seeds come from and what was already run."""

    secret: bytes
    assignment: str
    digest: str
    """A hash of the learner's own cells: the same work always gets the same studies."""
    cache: dict[Any, Any] = field(default_factory=dict)

    def seed(self, purpose: str) -> int:
        """The studies' seed for ``purpose``: 128 bits, so that no learner's code can find it.

        The studies show values derived from their seed (UIDs are name-based UUIDs of it): with
        a 31-bit seed, a ``find_phi`` could try every seed on one study's UID within the sandbox's
        time (hashing is fast, and the sandbox has a C compiler), then make the same studies and
        read their answer key.
        """
        message = f"{self.assignment}\0{self.digest}\0{purpose}".encode()
        return int.from_bytes(hmac.new(self.secret, message, hashlib.sha256).digest()[:16])


def learner_digest(nb: NotebookNode) -> str:
    """A hash of every cell the learner could write (answers and added cells)."""
    own = [
        [c.cell_type, _text(c.source)]
        for c in nb.cells
        if not (utils.is_locked(c) or (utils.is_grade(c) and not utils.is_solution(c)))
    ]
    return hashlib.sha256(json.dumps(own).encode()).hexdigest()


def _trainer_cells(nb: NotebookNode, release: NotebookNode) -> set[int]:
    """The code cells of ``nb`` (a resealed submission) that run the trainer's code as released:
    a locked cell that is not a test, or a cell to try things in that the learner left as it was.

    Known by the released cell of the same id (:class:`Reseal` keeps the release's ids and gives
    the cells a learner adds fresh ones), never by the submission's metadata; a locked cell's
    text is the trainer's (:class:`Reseal` restores it), an editable one's must be the release's.
    """
    released = {
        c["id"]: c
        for c in release.cells
        if c.cell_type == "code" and c.get("id") and not (utils.is_grade(c) or utils.is_solution(c))
    }
    return {
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        and (ours := released.get(c.get("id"))) is not None
        and (utils.is_locked(ours) or _text(c.source) == _text(ours.source))
    }


def _refused(outcome: Any, withheld: Iterable[str]) -> bool:
    """Whether a cell's run was refused a withheld answer (its error, or a message it printed)."""
    said = f"{outcome.stdout}\n{outcome.stderr}\n{outcome.error or ''}"
    return any(refusal(module) in said for module in withheld)


def _names_set(source: str) -> set[str]:
    """The names a cell's code sets (assigns, defines or imports), anywhere in it."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).partition(".")[0] for a in node.names}
    return names


def _put_outputs(
    nb: NotebookNode,
    outcomes: Iterable[Any],
    own: set[int],
    trainers: set[int],
    withheld: Iterable[str],
) -> None:
    """Each outcome's outputs on its cell, for the cells in ``own`` only, once each (the learner's
    code can write the harness's answer itself: a grade cell that has outputs is not run again,
    see ``SealedExecute._grade_cells``, and nbgrader gives full marks to one without an error).

    A trainer's cell refused a withheld answer shows :data:`WITHHELD_NOTE`, and so does a later
    trainer's cell that failed on a name such a cell did not get to set (module 7's practice
    links, signed by the withheld signer, that the cell to try ``link_valid`` in reads).
    """
    unset: set[str] = set()
    for outcome in outcomes:
        if outcome.index not in own:
            continue
        own.discard(outcome.index)
        cell = nb.cells[outcome.index]
        missing = _NAME_ERROR.match(outcome.error or "")
        if outcome.index in trainers and (
            _refused(outcome, withheld) or (missing is not None and missing[1] in unset)
        ):
            unset |= _names_set(cell.source)
            cell.outputs = [_stream(WITHHELD_NOTE)]
        else:
            cell.outputs = _cell_outputs(outcome)


def _imports(nb: NotebookNode) -> dict[str, Any]:
    """The names the locked cells import (``hl`` and the like), imported here, in the grader."""
    namespace: dict[str, Any] = {"__builtins__": builtins, "__name__": "__grader__"}
    for cell in nb.cells:
        if cell.cell_type != "code" or not utils.is_locked(cell) or utils.is_grade(cell):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                exec(compile(ast.Module([node], []), "<locked imports>", "exec"), namespace)  # noqa: S102 - trainer's code, from the gradebook
    return namespace


def _free_names(tree: ast.Module) -> set[str]:
    loaded = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    stored = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)
    }
    return loaded - stored - set(dir(builtins))


def _graded_names(nb: NotebookNode) -> set[str]:
    """The free names of the notebook's grade cells (the trainer's tests): the learner's
    functions they grade among them, which :data:`~hipaa_lab.course.rules.RULES` maps to the
    modules withheld from the sandbox."""
    names: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and _is_test(cell):
            try:
                names |= _free_names(ast.parse(cell.source))
            except SyntaxError:
                continue
    return names


def _stream(text: str) -> NotebookNode:
    return cast(NotebookNode, nbformat.v4.new_output("stream", name="stdout", text=text))


def _error_line(ename: str, message: str) -> NotebookNode:
    """An error output of one line, the message (no traceback)."""
    return cast(
        NotebookNode,
        nbformat.v4.new_output("error", ename=ename, evalue=message, traceback=[message]),
    )


def _error(exc: BaseException) -> NotebookNode:
    message = str(exc).strip() or type(exc).__name__
    ename = type(exc).__name__ if isinstance(exc, AssertionError) else "GradingError"
    if not isinstance(exc, AssertionError):
        message = f"{type(exc).__name__}: {message}"
    return _error_line(ename, message)


def _datasets_for(nb: NotebookNode, cache_root: Path) -> Path:
    """Build the datasets the notebook's locked cells load, for the sandbox to read (never to write)."""
    from hipaa_lab.studies import catalogue

    # only the trainer's cells choose what the grader builds: a learner's cell that loads another
    # dataset finds it missing in the sandbox (the catalogue's big ones take minutes to build)
    names = sorted(
        {
            m
            for c in nb.cells
            if c.cell_type == "code" and utils.is_locked(c)
            for m in _DATASET_LOAD.findall(c.source)
        }
    )
    cache_root.mkdir(parents=True, exist_ok=True)
    old = os.environ.get("HIPAA_LAB_CACHE")
    os.environ["HIPAA_LAB_CACHE"] = str(cache_root)
    try:
        for name in names:
            try:
                catalogue.load(name)
            except Exception as exc:
                raise CourseError(f"dataset {name!r} for the sandbox: {exc}") from exc
    finally:
        if old is None:
            os.environ.pop("HIPAA_LAB_CACHE")
        else:
            os.environ["HIPAA_LAB_CACHE"] = old
    for path in [cache_root, *cache_root.rglob("*")]:  # readable by the sandbox's own user
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    return cache_root


class SealedExecute(NbGraderPreprocessor):  # type: ignore[misc]
    """Run learner cells in the sandbox and grade cells in the grader (see the module)."""

    limits = Limits()

    def preprocess(
        self, nb: NotebookNode, resources: ResourcesDict
    ) -> tuple[NotebookNode, ResourcesDict]:
        from hipaa_lab.course import grading

        root = Path(self.config.CourseDirectory.root)
        assignment = resources["nbgrader"]["assignment"]
        run = SealedRun(course_secret(root), assignment, learner_digest(nb))
        trainers = _trainer_cells(nb, _released(root, resources["nbgrader"]))
        cache = _datasets_for(nb, root / ".sandbox-datasets")
        # every code cell but the trainer's tests: a manually graded code answer (grade and
        # solution) is the learner's code, run in the sandbox, never here
        learner = [
            (i, c.source)
            for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and not _is_test(c)
        ]
        namespace = _imports(nb)
        withheld = withheld_modules(_graded_names(nb))
        token = grading.SEALED.set(run)
        try:
            with Sandbox(
                learner, cache_dir=cache, limits=self.limits, withheld=withheld
            ) as sandbox:
                _put_outputs(nb, sandbox.outcomes, {i for i, _ in learner}, trainers, withheld)
                self._grade_cells(nb, namespace, sandbox, None)
        except SandboxBroken as exc:
            self.log.warning("%s: %s", resources["nbgrader"].get("student"), exc)
            self._grade_cells(nb, namespace, None, str(exc))
        except SandboxUnavailable:
            raise
        except Exception as exc:  # a backstop: whatever one notebook does, the others are graded
            self.log.error(
                "%s: the sandbox failed: %s: %s",
                resources["nbgrader"].get("student"),
                type(exc).__name__,
                exc,
            )
            self._grade_cells(
                nb, namespace, None, f"the grader could not run it ({type(exc).__name__})"
            )
        finally:
            grading.SEALED.reset(token)
        return nb, resources

    def _grade_cells(
        self,
        nb: NotebookNode,
        namespace: dict[str, Any],
        sandbox: Sandbox | None,
        broken: str | None,
    ) -> None:
        for cell in nb.cells:
            if cell.cell_type != "code" or not _is_test(cell) or cell.get("outputs"):
                continue
            if sandbox is None or sandbox.broken:
                reason = broken or (sandbox.broken if sandbox else "") or "not run"
                cell.outputs = [
                    _error(GradingError(f"your notebook could not be graded: {reason}"))
                ]
                continue
            cell.outputs = self._grade_cell(cell, namespace, sandbox)

    def _grade_cell(
        self, cell: NotebookNode, namespace: dict[str, Any], sandbox: Sandbox
    ) -> list[NotebookNode]:
        from hipaa_lab.course.grading import Credit

        try:
            tree = ast.parse(cell.source)
        except SyntaxError as exc:
            return [_error(exc)]
        scope = dict(namespace)
        wanted = sorted(_free_names(tree) - set(scope))
        try:
            for name, answer in sandbox.values(wanted).items():
                if "function" in answer:
                    scope[name] = SandboxFunction(sandbox, name)
                elif "value" in answer:
                    scope[name] = answer["value"]
                elif "not_plain" in answer:
                    scope[name] = NotPlainValue(name, str(answer["not_plain"]))
                else:
                    return [
                        _error(
                            GradingError(
                                f"{name} is not defined in your notebook: write it in its "
                                "answer cell, and make sure that cell runs without an error"
                            )
                        )
                    ]
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(tree, "<grade cell>", "exec"), scope)  # noqa: S102 - trainer's code, from the gradebook
                value = (
                    eval(compile(ast.Expression(last.value), "<grade cell>", "eval"), scope)  # noqa: S307 - as above
                    if last is not None
                    else None
                )
        except SandboxBroken as exc:
            return [_error(GradingError(f"your notebook could not be graded: {exc}"))]
        except Exception as exc:
            return [_error(exc)]
        outputs = [_stream(printed.getvalue())] if printed.getvalue() else []
        if isinstance(value, Credit):
            points = float(cell.metadata.nbgrader["points"])
            outputs.append(_stream(value.message + "\n"))
            outputs.append(
                nbformat.v4.new_output(
                    "execute_result",
                    data={"text/plain": f"{round(value.fraction * points, 2)}"},
                    execution_count=None,
                )
            )
        return outputs


def _is_test(cell: NotebookNode) -> bool:
    """A trainer's grade cell (autograder tests): run in the grader. A grade cell that is also a
    solution cell holds the learner's answer, graded by hand."""
    return bool(utils.is_grade(cell)) and not utils.is_solution(cell)


def _cell_outputs(outcome: Any) -> list[NotebookNode]:
    """What one learner cell printed and showed: text and PNG images, nothing that could run."""
    import base64
    import binascii

    outputs = []
    text = outcome.stdout + (outcome.stderr and f"\n[standard error]\n{outcome.stderr}")
    if text.strip():
        outputs.append(_stream(text))
    if outcome.error and outcome.error not in text:  # one line (a traceback is in the text)
        outputs.append(_error_line(outcome.error.partition(":")[0], outcome.error))
    for png in outcome.images:
        try:
            raw = base64.b64decode(png, validate=True)
        except (binascii.Error, ValueError):
            continue
        if raw.startswith(b"\x89PNG\r\n\x1a\n"):
            outputs.append(nbformat.v4.new_output("display_data", data={"image/png": png}))
    return outputs


@contextlib.contextmanager
def sealed(run: SealedRun) -> Iterator[SealedRun]:
    """Grade as the sealed autograde does (tests use this to call checks with a sandbox)."""
    from hipaa_lab.course import grading

    token = grading.SEALED.set(run)
    try:
        yield run
    finally:
        grading.SEALED.reset(token)
