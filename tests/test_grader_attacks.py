"""Attacks on the sealed grader through what a learner controls, each asserting that it fails.

tests/test_sealed_grading.py grades the first round of dishonest submissions; these are a second
round, found by red-teaming the grader (its module names which defence each covers):

- the harness's answer forged (the reply pipe, or the harness's own list of outcomes): outputs
  put on grade cells, which the grader then did not run and nbgrader scored full marks
  (defence: outcomes reach only the learner's own code cells, ``sealed._put_outputs``);
- learner Markdown with link reference definitions or entity-obfuscated schemes, which rendered
  as ``javascript:`` links in the feedback and the formgrader (defence: ``escape_markdown``);
- a submitted notebook's own outputs, metadata, kernelspec and attachments (defence: ``Reseal``);
- a 31-bit grading seed found from a study's UID, and with it the answer key (defence: 128-bit
  seeds, ``SealedRun.seed``);
- module 2 outputs that cost the grader minutes and gigabytes to parse, or that declare more
  pixels than the original (defence: ``grading._read_back``'s bounds);
- learner ids that are paths or markup (defence: ``course.submit``'s check);
- a manually graded code answer (grade and solution cell), which the grader ran in its own
  process (defence: only the trainer's tests run in the grader, ``sealed._is_test``);
- a forged reason for a broken notebook carrying terminal escapes to the trainer's log (defence:
  ``sandbox._printable``);
- on a shared exchange (one account per learner): submitting as another learner, and a symlink
  beside the notebook collected as the grader file it points to (defence: collecting with
  ``hipaa_lab.course.exchange.SafeCollect``: folders the learner's account owns, regular files
  only, opened without following links).

Each nbgrader autograde costs seconds: one course per module, every submission graded in one run.
"""

from __future__ import annotations

import html
import io
import json
import re
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pydicom
import pytest
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from pydicom.encaps import encapsulate
from pydicom.uid import RLELossless
from test_sealed_grading import BLANK_FIND_PHI, M01, M02, _digest, grade_m02

from hipaa_lab import course
from hipaa_lab.course import grading, sandbox
from hipaa_lab.course.sandbox import Limits, Sandbox, SandboxBroken
from hipaa_lab.course.sealed import SealedExecute, SealedRun, escape_markdown
from hipaa_lab.studies import PHILevel, context

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sandbox.available() is not None, reason="bubblewrap is not installed"),
]


def _forged(tag: str) -> str:
    """Source of a list of harness outcomes, one for every cell a notebook could have."""
    return (
        f"[{{'index': i, 'stdout': 'FORGED-{tag}', 'stderr': '', 'error': None, 'images': []}}"
        " for i in range(300)]"
    )


#: Markdown that rendered as live script links before escape_markdown refused them.
MARKDOWN_ATTACK = (
    "[click][1], [two] and [three]\n\n"
    "[1]: javascript:alert('e03ref')\n"
    "[two]: JaVa&#115;cript:alert('e03two')\n\n"
    "- [three]: javascript:alert('e03list')\n\n"
    "[four](java&#x73;cript:alert('e03entity')) ![five](data&#58;text/html,alert('e03data'))\n"
    "![six](attachment&#58;missing.svg)\n"
)

M01_ATTACKS: dict[str, dict[str, str]] = {
    # the harness's "ready" answer written by the learner, first, on the reply pipe: an output for
    # every cell, grade cells too
    "e01-forged-ready": {
        "find_phi": BLANK_FIND_PHI + "import json, os, sys\n"
        f"forged = {_forged('e01')}\n"
        "os.write(int(sys.argv[2]), (json.dumps({'ready': True, 'outputs': forged}) + '\\n').encode())\n"
    },
    # the harness's own "ready" answer extended as it is written: the json module of the running
    # harness (__main__, found through its Harness) replaced; the session goes on answering
    "e02-harness-outcomes": {
        "find_phi": BLANK_FIND_PHI + "import gc, json\n"
        "harness = next(o for o in gc.get_objects() if type(o).__name__ == 'Harness')\n"
        "class Json:\n    loads = staticmethod(json.loads)\n"
        "    @staticmethod\n    def dumps(obj, **kw):\n"
        "        if isinstance(obj, dict) and 'outputs' in obj:\n"
        f"            obj['outputs'] += {_forged('e02')}\n"
        "        return json.dumps(obj, **kw)\n"
        "type(harness).run_cells.__globals__['json'] = Json\n"
    },
    # the scanner reloaded inside find_phi: a fresh scan_dataset, not the one the rule replaced
    # (the scanner is withheld from the sandbox while module 1 is graded)
    "e05-reloaded-scanner": {
        "find_phi": "import importlib\nfrom hipaa_lab.deid import scan\n\n\n"
        "def find_phi(ds):\n"
        "    fresh = importlib.reload(scan)\n"
        "    return [f.path for f in fresh.scan_dataset(ds) if f.path]\n"
    },
    # script links in the written answer (and in a Markdown cell the learner adds, below)
    "e03-markdown-links": {"find_phi": BLANK_FIND_PHI, "residual_phi": MARKDOWN_ATTACK},
}

SVG = "PHN2ZyBvbmxvYWQ9ImFsZXJ0KCdlMDRhJykiLz4="  # <svg onload="alert('e04a')"/>


def _with_own_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A notebook whose file carries outputs, metadata and attachments the learner wrote."""
    nb.metadata["kernelspec"] = {"name": "evil", "display_name": "e04k", "language": "python"}
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {"m": {"model_name": "HTMLModel", "state": {"value": "<b>e04w</b>"}}}
        }
    }
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("grade"):  # a grade cell that already "passed", with partial credit
            cell.outputs = [
                nbformat.v4.new_output(
                    "execute_result", data={"text/plain": "2"}, execution_count=1
                )
            ]
        elif meta.get("grade_id") == "find_phi":
            cell.outputs = [
                nbformat.v4.new_output(
                    "display_data",
                    data={
                        "text/html": "<script>alert('e04o')</script>",
                        "application/javascript": "alert('e04js')",
                    },
                )
            ]
    added = nbformat.v4.new_markdown_cell("![x](attachment:evil.svg) e04 added")
    added["attachments"] = {"evil.svg": {"image/svg+xml": SVG}}
    nb.cells.append(added)
    return nb


@pytest.fixture(scope="module")
def m01(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One honest learner and every module-1 attacker, graded in one run; feedback for all."""
    saved = SealedExecute.limits
    SealedExecute.limits = Limits(wall_seconds=60)
    try:
        course_dir = course.build(tmp_path_factory.mktemp("attacks") / "course")
        course.release(course_dir, [M01])
        released = course.released_notebook(course_dir, M01)
        source = course.source_notebook(course_dir, M01)
        for who, answers in M01_ATTACKS.items():
            nb = course.simulate_submission(released, source, answers)
            if who == "e03-markdown-links":
                nb.cells.append(nbformat.v4.new_markdown_cell(MARKDOWN_ATTACK))
            course.submit(course_dir, who, M01, nb)
        course.submit(
            course_dir,
            "e04-own-outputs",
            M01,
            _with_own_outputs(course.simulate_submission(released, source, "blank")),
        )
        # graded last, so that an attacker's failure that stopped the run would show here
        course.submit(
            course_dir, "z-honest", M01, course.simulate_submission(released, source, "correct")
        )
        outcomes = course.autograde(course_dir, M01)
        scores = course.scores(course_dir).set_index("learner")
        feedback = course.feedback(course_dir, M01)
        honest = _digest(course_dir / "submitted" / "z-honest")
        yield {
            "honest": honest,
            "dir": course_dir,
            "outcomes": outcomes,
            "scores": scores,
            "feedback": feedback,
            "released": released,
        }
    finally:
        SealedExecute.limits = saved


def _autograded(course_dir: Path, who: str, module: str = M01) -> nbformat.NotebookNode:
    nb: nbformat.NotebookNode = nbformat.read(
        course_dir / "autograded" / who / module / f"{module}.ipynb", as_version=4
    )
    return nb


def _grade_outputs(nb: nbformat.NotebookNode) -> str:
    return json.dumps(
        [
            c.get("outputs", [])
            for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
        ]
    )


def _feedback(course_dir: Path, who: str, module: str = M01) -> str:
    return (course_dir / "feedback" / who / module / f"{module}.html").read_text()


def test_everyone_is_graded_and_the_honest_learner_keeps_full_marks(m01: Any) -> None:
    assert all(o.graded for o in m01["outcomes"]), m01["outcomes"]
    scores = m01["scores"]
    assert scores.loc["z-honest", "auto_score"] == scores.loc["z-honest", "max_auto_score"] > 0
    assert {p.parts[-3] for p in m01["feedback"]} == {*M01_ATTACKS, "e04-own-outputs", "z-honest"}


@pytest.mark.parametrize("who", ["e01-forged-ready", "e02-harness-outcomes"])
def test_forged_harness_outcomes_do_not_reach_grade_cells(m01: Any, who: str) -> None:
    """Defence: SealedExecute puts an outcome only on a code cell it sent to the sandbox, once.
    Before, a grade cell given any output was not run, and nbgrader scored it full marks."""
    assert m01["scores"].loc[who, "auto_score"] == 0
    outputs = _grade_outputs(_autograded(m01["dir"], who))
    assert "FORGED" not in outputs
    assert "could not be graded" in outputs or "not written yet" in outputs


def test_a_reloaded_scanner_earns_nothing_on_find_phi(m01: Any) -> None:
    """The scanner and the de-identifier are withheld from the sandbox while module 1 is graded
    (:mod:`hipaa_lab.course.rules`): reloading the scanner, past the rule that only replaces its
    names, finds names that refuse, with one sentence. Before, it earned find_phi's points."""
    assert m01["scores"].loc["e05-reloaded-scanner", "auto_score"] == 0
    outputs = _grade_outputs(_autograded(m01["dir"], "e05-reloaded-scanner"))
    assert "hipaa_lab.deid.scan holds an answer of this assignment" in outputs


def test_learner_markdown_renders_no_script_link(m01: Any) -> None:
    """Defence: escape_markdown (reference definitions and entity-obfuscated destinations), end
    to end: in the feedback, no link or image of the learner's goes anywhere but #unsafe-link,
    and every learner's feedback is written."""
    page = _feedback(m01["dir"], "e03-markdown-links")
    targets = [html.unescape(t) for t in re.findall(r"""(?:href|src)\s*=\s*"([^"]*)""", page)]
    live = [t for t in targets if "alert(" in t and not t.startswith("#")]
    assert not live, live
    assert "e03ref" in page  # the answer is shown, as text
    assert (m01["dir"] / "feedback" / "z-honest").is_dir()


def test_a_notebooks_own_outputs_metadata_and_attachments_are_dropped(m01: Any) -> None:
    """Defence: Reseal rebuilds the notebook from the release (metadata, kernelspec, locked cells
    without outputs) and the learner's text only (no attachment, no output)."""
    course_dir = m01["dir"]
    assert m01["scores"].loc["e04-own-outputs", "auto_score"] == 0
    nb = _autograded(course_dir, "e04-own-outputs")
    assert nb.metadata == m01["released"].metadata
    assert not any("attachments" in c for c in nb.cells)
    text = json.dumps(nb) + _feedback(course_dir, "e04-own-outputs")
    for marker in ("e04o", "e04js", "e04w", "e04k", SVG):
        assert marker not in text, marker
    assert "e04 added" in text  # the learner's own Markdown is kept, as text


# ---------------------------------------------------------------------- without nbgrader


@pytest.mark.parametrize(
    "markdown",
    [
        "[a][1]\n\n[1]: javascript:alert(1)",
        "[a][1]\n\n   [1]:\n  javascript:alert(1)",
        "- [1]: javascript:alert(1)\n\n[1]",
        "[a\\]b]: javascript:alert(1)\n\n[a\\]b]",
        "[a](JaVa&#115;cript:alert(1))",
        "[a](java&#x73;cript:alert(1))",
        "[a](&#106;avascript:alert(1))",
        "[a](\n  javascript:alert(1))",
        "![a](data&#58;text/html,alert(1))",
        "![a](attachment&#58;x.svg)",
        "[a](vbscript:alert(1)) [b](file:///etc/passwd)",
        # a file the learner submitted beside the notebook: nbgrader copies it into autograded/,
        # which the formgrader serves (text/html, the trainer's origin) for relative links
        "[my figure](figure.html)",
    ],
)
def test_escaped_markdown_has_no_live_link(markdown: str) -> None:
    """Defence: escape_markdown, through the renderer nbconvert uses for feedback and the
    formgrader. Each of these rendered a live javascript:, data: or attachment: target before."""
    rendered = markdown2html_mistune(escape_markdown(markdown))
    for target in re.findall(r"""(?:href|src)\s*=\s*"([^"]*)""", rendered):
        target = html.unescape(target)
        assert target.startswith("#unsafe-link:"), (markdown, rendered)


def test_escaped_markdown_keeps_web_links() -> None:
    rendered = markdown2html_mistune(
        escape_markdown("[a](https://example.org/x) [b]( mailto:a@example.org) [c](#top) a]: b")
    )
    assert 'href="https://example.org/x"' in rendered
    assert 'href="mailto:a@example.org"' in rendered and 'href="#top"' in rendered
    assert "a]: b" in rendered


def test_a_grading_seed_is_out_of_reach_of_a_search() -> None:
    """The attack: a find_phi that tries every seed until a study's FrameOfReferenceUID (a
    name-based UUID of its seed) matches, then makes the same studies and reads their answer
    key. Over 31 bits that is ~20 CPU-minutes of Python (minutes of C, split over processes),
    inside the sandbox's limits. Shown here on a window; the defence: 128-bit seeds."""
    seed = 1_000_003
    modality, instances = grading._fresh_studies(seed)[0]
    dataset, entries = instances[0]
    level = int(PHILevel.NESTED)
    found = next(
        s
        for s in range(seed - 5000, seed + 5000)
        if f"2.25.{uuid.uuid5(context._UID_NAMESPACE, f'{s}:{modality}:{level}:frame').int}"
        == dataset.FrameOfReferenceUID
    )
    again = grading._fresh_studies(found)[0][1][0][1]
    assert {e.path for e in again} == {e.path for e in entries}  # the answer key, remade

    run = SealedRun(b"\x01" * 32, M01, "0" * 64)
    bits = [run.seed(p).bit_length() for p in ("find_phi", "prepare", *map(str, range(40)))]
    assert min(bits) >= 96, bits


def _rle_frame(rows: int, columns: int, segments: int) -> bytes:
    """One RLE Lossless frame of zeros, 64 times smaller than what it decodes to."""
    segment = b"\x81\x00" * (rows * columns // 128)  # PackBits: 128 copies of 0, each
    offsets = [64 + i * len(segment) for i in range(segments)]
    header = segments.to_bytes(4, "little") + b"".join(o.to_bytes(4, "little") for o in offsets)
    return header.ljust(64, b"\0") + segment * segments


def _original() -> tuple[pydicom.Dataset, int]:
    made = grading._fresh_instances(4242)
    original = next(m[3] for m in made if m[1] == "CT")
    return original, len(grading.dataset_bytes(original))


def test_an_output_declaring_more_pixels_than_its_input_is_not_decoded() -> None:
    """A compressed image a few bytes long can declare gigabytes (RLE: 64 times; JPEG-LS or
    JPEG 2000 of one colour: far more; NumberOfFrames: any multiple), and the grader decoded it,
    in its own process, to compare it with the original. Defence: grading._read_back refuses
    pixels that would decode larger than the original's, or whose size the header hides."""
    original, size = _original()
    bomb = pydicom.dcmread(io.BytesIO(grading.dataset_bytes(original)))
    rows = columns = 1024  # 2 MiB once decoded here, 16 times the original
    bomb.Rows, bomb.Columns = rows, columns
    bomb.file_meta.TransferSyntaxUID = RLELossless
    bomb.PixelData = encapsulate([_rle_frame(rows, columns, 2)])
    bomb["PixelData"].VR = "OB"
    bomb["PixelData"].is_undefined_length = True

    def read_back(ds: pydicom.Dataset) -> tuple[pydicom.Dataset | None, str | None]:
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=False)
        return grading._read_back({"kept": True, "output": buffer.getvalue()}, "CT", original, size)

    buffer = io.BytesIO()
    bomb.save_as(buffer, enforce_file_format=False)
    assert len(buffer.getvalue()) < size  # smaller than its input: the size bound lets it by
    result, error = read_back(bomb)
    assert result is None and error and "larger than the original" in error
    del bomb.Rows
    result, error = read_back(bomb)
    assert result is None and error and "none the grader can read" in error
    # the original itself, as an honest prepare may keep it, is read back
    kept, error = read_back(pydicom.dcmread(io.BytesIO(grading.dataset_bytes(original))))
    assert kept is not None and error is None


def test_an_output_much_larger_than_its_input_is_not_parsed() -> None:
    """Tiny elements by the million: 3.4 MiB of one-element items cost the grader 14 s and
    640 MB to scan; the sandbox accepts 64 MiB a file, 1 GiB a run, with no time limit in the
    grader. Defence: grading._read_back refuses an output much larger than its input, unread."""
    original, size = _original()
    grown = pydicom.dcmread(io.BytesIO(grading.dataset_bytes(original)))
    item = pydicom.Dataset()
    item.CodeValue = "1"
    grown.ContentSequence = [item] * (2 * size // 18)
    buffer = io.BytesIO()
    grown.save_as(buffer, enforce_file_format=True)
    result, error = grading._read_back(
        {"kept": True, "output": buffer.getvalue()}, "CT", original, size
    )
    assert result is None and error and "larger than the grader accepts" in error


#: Capitals, a comma and a word: a family name and a given name to the scanner, which looked back
#: before each for a code object's owner (its time grew with the square of the text's length,
#: until the scanner was mended: tests/test_scan.py).
NAME_LIKE = "AB" + ", Cd "


def test_an_output_holding_long_text_is_not_scanned() -> None:
    """The scanner's patterns took time that grew with the square of a value's length: one UT
    value filling the room the size bound leaves (99,000 characters of :data:`NAME_LIKE` on a CT
    instance) cost the grader 104 s (a loaded machine), in its own process with no time limit,
    for each of a submission's 16 instances (larger inputs leave more room), while every other
    learner waited. Defence: grading._read_back refuses, unscanned, an output with a value longer
    than any of its input's (and than VALUE_FLOOR), or more text in all than its input's and
    TEXT_GROWTH."""
    original, size = _original()
    room = grading._output_limit(size) - size - 2000

    def read_back(ds: pydicom.Dataset) -> tuple[pydicom.Dataset | None, str | None]:
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=False)
        assert len(buffer.getvalue()) <= grading._output_limit(size)  # the size bound lets it by
        return grading._read_back({"kept": True, "output": buffer.getvalue()}, "CT", original, size)

    long_text = pydicom.dcmread(io.BytesIO(grading.dataset_bytes(original)))
    long_text.TextValue = (NAME_LIKE * (room // 7))[:room]
    result, error = read_back(long_text)
    assert result is None and error and "longer than any of the original's" in error
    # as many values as fit, each as long as the floor: more text in all than the input holds
    many = pydicom.dcmread(io.BytesIO(grading.dataset_bytes(original)))
    block = many.private_block(0x0029, "HIPAA LAB RED TEAM", create=True)
    for offset in range(room // (grading.VALUE_FLOOR + 16)):
        block.add_new(offset, "UT", (NAME_LIKE * 147)[: grading.VALUE_FLOOR])
    result, error = read_back(many)
    assert result is None and error and "more text than the grader accepts" in error


# ---------------------------------------------------------------------- module 2, end to end

M02_TINY_ELEMENTS = """import pydicom


def prepare(ds):
    item = pydicom.Dataset()
    item.CodeValue = "1"
    ds.ContentSequence = [item] * 40_000  # ~0.7 MiB of one-element items
    return True
"""


M02_LONG_TEXT = """def prepare(ds):
    ds.TextValue = (("AB" + ", Cd ") * 9000)[:60_000]  # the scanner's time grows with it
    return True
"""


@pytest.fixture(scope="module")
def m02(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The model answer and a grader-exhausting prepare, graded in one run."""
    saved = SealedExecute.limits
    SealedExecute.limits = Limits(wall_seconds=120)
    try:
        yield _graded_m02(tmp_path_factory)
    finally:
        SealedExecute.limits = saved


def _graded_m02(tmp_path_factory: pytest.TempPathFactory) -> Any:
    answers = {
        "e10-tiny-elements": {"prepare": M02_TINY_ELEMENTS},
        "e11-long-text": {"prepare": M02_LONG_TEXT},
        "z-honest": "correct",
    }
    return grade_m02(tmp_path_factory.mktemp("attacks-m02"), answers)


def test_module2_bounds_keep_the_model_answer_and_refuse_the_flood(m02: Any) -> None:
    """The output bounds, wired end to end: the model answer (whose outputs are read back) keeps
    full marks; outputs swollen with tiny elements are refused unread, outputs holding a long
    text are refused unscanned, and both earn nothing."""
    course_dir, outcomes, scores = m02
    assert all(o.graded for o in outcomes), outcomes
    assert scores.loc["z-honest", "auto_score"] == scores.loc["z-honest", "max_auto_score"] > 0
    assert scores.loc["e10-tiny-elements", "auto_score"] == 0
    outputs = _grade_outputs(_autograded(course_dir, "e10-tiny-elements", M02))
    assert "larger than the grader accepts" in outputs
    assert scores.loc["e11-long-text", "auto_score"] == 0
    outputs = _grade_outputs(_autograded(course_dir, "e11-long-text", M02))
    assert "longer than any of the original's" in outputs


def test_learner_ids_that_are_paths_or_markup_are_refused(m01: Any) -> None:
    """Defence: course.submit's check of the learner id (a folder name, a gradebook key, text in
    the formgrader and the feedback)."""
    nb = m01["released"]
    for who in ("../z-honest", "a/b", ".hidden", "x'; drop", "<img src=x onerror=alert(1)>", "é"):
        with pytest.raises(ValueError, match="learner id"):
            course.submit(m01["dir"], who, M01, nb)
    assert _digest(m01["dir"] / "submitted" / "z-honest") == m01["honest"]
    assert sorted(p.name for p in (m01["dir"] / "submitted").iterdir()) == sorted(
        [*M01_ATTACKS, "e04-own-outputs", "z-honest"]
    )


def test_a_forged_reason_carries_no_terminal_escapes() -> None:
    """The reason a notebook could not be run goes to the trainer's terminal (autograde's log):
    a learner who writes it themselves could send escape sequences (rewrite the log, set the
    clipboard: OSC 52). Defence: sandbox._printable."""
    forged = "\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGU=\x07\x1b[2K\rall graded\x1b[8m"
    cell = (
        "import json, os, sys\n"
        f"os.write(int(sys.argv[2]), (json.dumps({{'broken': {forged!r}}}) + '\\n').encode())\n"
        "os._exit(0)\n"
    )
    with pytest.raises(SandboxBroken) as raised, Sandbox([(0, cell)]):
        pass
    reason = str(raised.value)
    assert "all graded" in reason  # the learner's text is kept, made inert
    assert not any(ord(c) < 32 and c not in "\n\t" for c in reason), repr(reason)


M09 = "m09-manual-code"


def _manual_code_module(folder: Path) -> Path:
    """A module with a manually graded code answer (nbgrader's grade and solution cell), an
    autograded answer and its test."""

    def meta(gid: str, *, grade: bool, solution: bool, locked: bool) -> dict[str, Any]:
        m: dict[str, Any] = {"grade_id": gid, "grade": grade, "solution": solution}
        m.update(locked=locked, schema_version=3, task=False)
        if grade:
            m["points"] = 1
        return {"nbgrader": m}

    cells = [
        nbformat.v4.new_markdown_cell(
            "Explain, in code.", metadata=meta("intro", grade=False, solution=False, locked=True)
        ),
        nbformat.v4.new_code_cell(
            "### BEGIN SOLUTION\nprint('model answer')\n### END SOLUTION",
            metadata=meta("explain", grade=True, solution=True, locked=False),
        ),
        nbformat.v4.new_code_cell(
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
            metadata=meta("double", grade=False, solution=True, locked=False),
        ),
        nbformat.v4.new_code_cell(
            "assert double(2) == 4",
            metadata=meta("double_check", grade=True, solution=False, locked=True),
        ),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    (folder / M09).mkdir(parents=True)
    nbformat.write(nb, folder / M09 / f"{M09}.ipynb")
    return folder


def test_a_manually_graded_code_answer_never_runs_in_the_grader(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """nbgrader's "manually graded answer" code cell is a grade cell that holds the learner's
    code: the grader ran every grade cell itself, so the learner's code ran in the trainer's
    process (the course secret, the gradebook, every learner's work). Defence: SealedExecute
    runs only the trainer's tests (grade, not solution) in the grader; such a cell runs in the
    sandbox and waits for a trainer's grade."""
    root = tmp_path_factory.mktemp("manual-code")
    course_dir = course.build(root / "course", _manual_code_module(root / "notebooks"))
    course.release(course_dir, [M09])
    released = course.released_notebook(course_dir, M09)
    source = course.source_notebook(course_dir, M09)
    planted = course_dir / "planted-by-learner"
    explain = (
        f"open({str(planted)!r}, 'w').write('in the grader')\n"
        f"print(open({str(course_dir / '.hipaa-lab-secret')!r}).read())\n"
    )
    nb = course.simulate_submission(released, source, {"explain": explain}, base="correct")
    course.submit(course_dir, "e20-manual-code", M09, nb)
    (outcome,) = course.autograde(course_dir, M09)
    assert outcome.graded, outcome
    assert not planted.exists()
    secret = (course_dir / ".hipaa-lab-secret").read_text().strip()
    autograded = _autograded(course_dir, "e20-manual-code", M09)
    assert secret not in json.dumps(autograded)
    scores = course.scores(course_dir).set_index("learner")
    assert scores.loc["e20-manual-code", "auto_score"] == 1  # the honest answer's test passed
    explain_cell = next(c for c in autograded.cells if "planted-by-learner" in c.source)
    assert "Error" in json.dumps(explain_cell.outputs)  # it ran, in the sandbox, and failed there


def test_a_learner_cannot_submit_as_another(m01: Any) -> None:
    """The attack (a shared exchange, one Unix account per learner): write
    ``inbound/VICTIM+MODULE+LATER-TIMESTAMP+x`` yourself; ``course collect`` takes it as the
    victim's newest submission, and the next autograde grades it for the victim."""
    import os

    from hipaa_lab.course.build import COURSE_ID
    from hipaa_lab.course.sandbox import SANDBOX_USER, _sandbox_user

    course_dir, victim = m01["dir"], "e04-own-outputs"
    before = _digest(course_dir / "submitted" / victim)
    forged = (
        course_dir
        / "exchange"
        / COURSE_ID
        / "inbound"
        / (f"{victim}+{M01}+2099-01-01 00:00:00.000000 UTC+x")
    )
    forged.mkdir(parents=True)
    nbformat.write(m01["released"], forged / f"{M01}.ipynb")
    account = _sandbox_user()  # someone other than the victim owns the folder
    if account is not None:
        for path in (forged, *forged.iterdir()):
            os.chown(path, *account)
    assert victim != SANDBOX_USER
    course.collect(course_dir, M01)
    assert _digest(course_dir / "submitted" / victim) == before


def test_a_file_linked_into_a_submission_is_not_collected(m01: Any) -> None:
    """The attack (a shared exchange): submit, beside the notebook, a symlink to the course
    secret (or the gradebook, a source notebook); collect copies what it points to into the
    learner's submission, autograde into autograded/ (which the formgrader serves), feedback
    into what the learner fetches."""
    import os

    from hipaa_lab.course.build import COURSE_ID

    course_dir, who = m01["dir"], "e21-linked-file"
    inbound = course_dir / "exchange" / COURSE_ID / "inbound"
    forged = inbound / f"{who}+{M01}+2099-01-02 00:00:00.000000 UTC+y"
    forged.mkdir(parents=True)
    nbformat.write(m01["released"], forged / f"{M01}.ipynb")
    os.symlink(course_dir / ".hipaa-lab-secret", forged / "notes.txt")
    course.collect(course_dir, M01)
    secret = (course_dir / ".hipaa-lab-secret").read_text().strip()
    collected = course_dir / "submitted" / who
    assert not any(
        secret in p.read_text(errors="replace") for p in collected.rglob("*") if p.is_file()
    )
