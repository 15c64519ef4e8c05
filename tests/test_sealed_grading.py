"""Sealed grading against dishonest learners: every attack its own submission, graded in one run
beside honest learners.

The attacks are those a learner with only the released notebook tried on the in-kernel grader,
and more of their kind. Each must score no more than the honest work it contains (here: none), the
honest learners' grades must not change (they are graded once alone, then again beside the
attackers: the same submission gets the same studies and the same grade), every learner must be
graded, and nothing outside a learner's own submission may change.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest
from _postgres import fresh_database, postgres_url  # noqa: F401  (a fixture)

from hipaa_lab import course
from hipaa_lab.course.sandbox import Limits
from hipaa_lab.course.sealed import SealedExecute

if TYPE_CHECKING:
    import pandas as pd

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
M01 = "m01-phi-in-images"
M02 = "m02-deidentifying-images"

BLANK_FIND_PHI = "def find_phi(ds):\n    raise NotImplementedError()\n"


def m01_attacks(course_dir: Path) -> dict[str, dict[str, str]]:
    """Learner id -> {answer cell: text}. None of them holds any honest work."""
    where = str(course_dir)
    return {
        # os._exit once the grader would run: in-kernel, this stopped the whole autograde run
        "a01-exit": {"find_phi": "import os\nos._exit(0)\n"},
        # later cells (the grade cells) turned into no-ops by IPython's input transformers
        "a02-transformer": {
            "find_phi": BLANK_FIND_PHI
            + "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])\n"
        },
        # the checks replaced by ones that always pass
        "a03-replace-checks": {
            "find_phi": BLANK_FIND_PHI + "import hipaa_lab.grading as g\n"
            "for name in dir(g):\n"
            "    if name.startswith('check_'):\n"
            "        setattr(g, name, lambda *a, **k: None)\n"
            "hl.grading.check_find_phi = hl.grading.check_choice = lambda *a, **k: None\n"
        },
        # the answer key read from the grader's frames while find_phi runs
        "a04-read-frames": {
            "find_phi": "import sys\n"
            "def find_phi(ds):\n"
            "    frame, found = sys._getframe(1), []\n"
            "    while frame is not None:\n"
            "        for value in frame.f_locals.values():\n"
            "            if isinstance(value, tuple) and value and hasattr(value[0], 'path'):\n"
            "                found += [e.path for e in value]\n"
            "        frame = frame.f_back\n"
            "    return found\n"
        },
        # the grading seed fixed, and an answer written for that seed
        "a05-fix-seed": {
            "find_phi": "import hipaa_lab.grading as g, secrets, random\n"
            "g._grading_seed = lambda: 7\n"
            "secrets.randbelow = lambda n: 7\n"
            "random.seed(7)\n"
            "def find_phi(ds):\n"
            "    return []\n"
        },
        # a str subclass equal to everything, for every quiz answer
        "a06-str-equal-to-all": {
            "find_phi": BLANK_FIND_PHI,
            "q1": "class Any(str):\n    def __eq__(self, other): return True\n"
            "    def __hash__(self): return 0\n"
            "    def strip(self): return self\n    def lower(self): return self\n"
            "answer_q1 = Any('z')\n",
            "q2": "answer_q2 = answer_q1\n",
            "q3": "answer_q3 = answer_q1\n",
        },
        # another learner's submitted notebook rewritten, the gradebook given full marks, code
        # planted in the course configuration, the model solution copied into the feedback
        "a07-course-folder": {
            # the learner's own SQL, run in the sandbox: the injection is the attack
            "find_phi": BLANK_FIND_PHI + f"import glob, sqlite3\nroot = {where!r}\n"  # noqa: S608
            "for path in glob.glob(root + '/submitted/*/*/*.ipynb'):\n"
            "    try: open(path, 'w').write('{}')\n"
            "    except OSError as e: print('no:', type(e).__name__)\n"
            "try:\n"
            "    db = sqlite3.connect(root + '/gradebook.db')\n"
            "    db.execute('update grade set auto_score = 0')\n"
            "    db.commit()\n"
            "except Exception as e: print('no:', type(e).__name__)\n"
            "try: open(root + '/nbgrader_config.py', 'a').write('\\nimport os; os.system(\"touch /tmp/owned\")\\n')\n"
            "except OSError as e: print('no:', type(e).__name__)\n"
            "for path in glob.glob(root + '/source/*/*.ipynb') + glob.glob(root + '/submitted/*/*/*.ipynb'):\n"
            "    print(open(path).read())\n"
            "print(open(root + '/.hipaa-lab-secret').read())\n"
        },
        # script stored for the trainer's formgrader page and the feedback
        "a08-stored-script": {
            "find_phi": BLANK_FIND_PHI + "from IPython.display import HTML, Javascript, display\n"
            "display(HTML('<script>alert(\"a08\")</script>'))\n"
            "display(Javascript('alert(\"a08js\")'))\n",
            "residual_phi": "<script>alert('a08md')</script> [click](javascript:alert('a08link'))",
        },
        # a find_phi that reports everything it is shown, through a list that claims to hold all
        "a09-contains-all": {
            "find_phi": "class All(list):\n"
            "    def __contains__(self, item): return True\n"
            "    def __iter__(self): return iter([])\n"
            "def find_phi(ds):\n"
            "    return All()\n"
        },
        # the harness itself patched to answer every tag path of every data set
        "a10-patch-harness": {
            "find_phi": BLANK_FIND_PHI + "import hipaa_lab.course.harness as h\n"
            "h.Harness._call = staticmethod(\n"
            "    lambda f, kind, ds, out: {'paths': [p for p, _ in hl.iter_elements(ds)]})\n"
        },
        # a hang: the notebook never finishes
        "a11-hang": {"find_phi": "import time\nwhile True:\n    time.sleep(1)\n"},
    }


def _extra_grade_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """An added grade cell worth 100 points that always passes, and a grade cell emptied."""
    nb = copy.deepcopy(nb)
    meta = {
        "nbgrader": {
            "grade": True,
            "grade_id": "bonus",
            "locked": True,
            "points": 100,
            "schema_version": 3,
            "solution": False,
            "task": False,
        }
    }
    nb.cells.append(nbformat.v4.new_code_cell("pass", metadata=meta))
    for cell in list(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "find_phi_names":
            cell.source = "pass"
            twin = copy.deepcopy(cell)
            nb.cells.append(twin)
    return nb


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory, postgres_url):  # noqa: F811  (the fixture imported above)
    """Honest learners graded alone; then again beside every attacker, in one run, two at a
    time (``jobs=2``, a PostgreSQL gradebook): attackers are graded while honest learners are."""
    saved = SealedExecute.limits
    SealedExecute.limits = Limits(wall_seconds=30)  # the hang costs this much, once
    try:
        root = tmp_path_factory.mktemp("sealed")
        course_dir = course.build(root / "course", db_url=fresh_database(postgres_url))
        course.release(course_dir, [M01])
        released = course.released_notebook(course_dir, M01)
        source = course.source_notebook(course_dir, M01)
        learners = json.loads((ROOT / "notebooks" / M01 / "simulated-learners.json").read_text())
        honest = {
            "h-correct": course.simulate_submission(released, source, "correct"),
            "h-partial": course.simulate_submission(released, source, learners["partial"]),
        }
        # an honest learner who writes a helper in the cell meant for trying things
        helper = course.simulate_submission(
            released, source, {"find_phi": "def find_phi(ds):\n    return helper(ds)\n"}
        )
        try_cell = next(c for c in helper.cells if "Try it on the CT slice" in c.source)
        try_cell.source = (
            "def helper(ds):\n"
            "    return [p for p, e in hl.iter_elements(ds) if e.VR in ('PN', 'DA')]\n"
        )
        honest["h-helper"] = helper
        for who, nb in honest.items():
            course.submit(course_dir, who, M01, nb)
        alone = course.autograde(course_dir, M01, jobs=2)
        first = course.scores(course_dir).set_index("learner")
        honest_files = {who: _digest(course_dir / "submitted" / who / M01) for who in honest}
        config = (course_dir / "nbgrader_config.py").read_bytes()
        for who, answers in m01_attacks(course_dir).items():
            course.submit(
                course_dir, who, M01, course.simulate_submission(released, source, answers)
            )
        course.submit(course_dir, "a12-extra-grade-cell", M01, _extra_grade_cell(released))
        broken = course_dir / "submitted" / "a13-not-a-notebook" / M01
        course.submit(course_dir, "a13-not-a-notebook", M01, released)
        (broken / f"{M01}.ipynb").write_text("{ not json")
        together = course.autograde(course_dir, M01, jobs=2)
        second = course.scores(course_dir).set_index("learner")
        course.feedback(course_dir, M01, [o.learner for o in together if o.graded])
        yield {
            "dir": course_dir,
            "alone": alone,
            "together": together,
            "first": first,
            "second": second,
            "honest_files": honest_files,
            "config": config,
            "source": source,
        }
    finally:
        SealedExecute.limits = saved


def test_every_learner_is_graded_or_given_a_reason(graded):
    outcomes = {o.learner: o for o in graded["together"]}
    assert len(outcomes) == 16
    assert not outcomes["a13-not-a-notebook"].graded
    assert outcomes["a13-not-a-notebook"].reason
    assert all(o.graded for who, o in outcomes.items() if who != "a13-not-a-notebook")


def test_honest_grades_do_not_change(graded):
    first, second = graded["first"], graded["second"]
    for who in ("h-correct", "h-partial", "h-helper"):
        assert second.loc[who, "auto_score"] == first.loc[who, "auto_score"]
    assert second.loc["h-helper", "auto_score"] > 0  # its helper, in a try cell, was run
    assert second.loc["h-correct", "auto_score"] == second.loc["h-correct", "max_auto_score"]
    assert 0 < second.loc["h-partial", "auto_score"] < second.loc["h-partial", "max_auto_score"]


@pytest.mark.parametrize(
    "who",
    [*(f"a{n:02d}" for n in range(1, 13))],
)
def test_no_attack_scores_more_than_its_honest_work(graded, who):
    scores = graded["second"]
    learner = next(name for name in scores.index if name.startswith(who))
    row = scores.loc[learner]
    assert row["auto_score"] == 0, learner
    assert row["max_score"] == graded["second"].loc["h-correct", "max_score"], learner


def test_nothing_outside_a_submission_changes(graded):
    course_dir = graded["dir"]
    for who, digest in graded["honest_files"].items():
        assert _digest(course_dir / "submitted" / who / M01) == digest
    assert (course_dir / "nbgrader_config.py").read_bytes() == graded["config"]
    assert not Path("/tmp/owned").exists()


def test_no_feedback_holds_what_the_learner_could_not_see(graded):
    course_dir = graded["dir"]
    secret_lines = {line for line in course.solution_lines(graded["source"]) if len(line) > 25}
    course_secret = (course_dir / ".hipaa-lab-secret").read_text().strip()
    for html in (course_dir / "feedback").rglob("*.html"):
        text = html.read_text()
        if html.parts[-3].startswith("a"):
            leaked = [line for line in secret_lines if line in text]
            assert not leaked, (html, leaked[:3])
        assert course_secret not in text


def test_feedback_and_formgrader_show_no_learner_script(graded):
    course_dir = graded["dir"]
    autograded = nbformat.read(
        course_dir / "autograded" / "a08-stored-script" / M01 / f"{M01}.ipynb", as_version=4
    )
    # code shows as (escaped) source; what renders as HTML is Markdown and outputs
    rendered = json.dumps(
        [c.source for c in autograded.cells if c.cell_type == "markdown"]
        + [c.get("outputs", []) for c in autograded.cells]
    )
    assert "<script" not in rendered
    assert "javascript:" not in rendered
    kinds = {
        key
        for cell in autograded.cells
        for o in cell.get("outputs", [])
        for key in o.get("data", {})
    }
    assert kinds <= {"text/plain", "image/png"}
    html = (course_dir / "feedback" / "a08-stored-script" / M01 / f"{M01}.html").read_text()
    # the attacker's code shows as escaped source; no tag, handler or link of theirs is live
    assert "<script>alert" not in html
    assert not re.search(r"href=.javascript|<script[^>]*>[^<]*a08", html, re.IGNORECASE)
    assert "&lt;script&gt;alert('a08md')" in html  # the Markdown answer, shown as text


def test_the_reason_is_recorded_for_the_trainer(graded):
    course_dir = graded["dir"]

    def grade_outputs(who: str) -> str:
        nb = nbformat.read(course_dir / "autograded" / who / M01 / f"{M01}.ipynb", as_version=4)
        return json.dumps(
            [
                c.outputs
                for c in nb.cells
                if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
            ]
        )

    assert "exited" in grade_outputs("a01-exit")
    assert "out of time" in grade_outputs("a11-hang")


def test_a_regrade_gives_the_same_grade_and_no_false_alarm(graded):
    """The same submission, graded a third time: the same studies, the same score; and the
    trainer's log does not warn "checksum has changed" for cells nobody touched (nbgrader did,
    for grade cells with hidden tests)."""
    from hipaa_lab.course.build import _api, _venv_on_path

    course_dir = graded["dir"]
    with _venv_on_path():
        result = _api(course_dir).autograde(M01, "h-partial", force=True, create=True)
    assert result["success"], result["log"]
    assert "has changed" not in result["log"]
    assert "changed locked cell" not in result["log"]
    again = course.scores(course_dir).set_index("learner")
    assert again.loc["h-partial", "auto_score"] == graded["first"].loc["h-partial", "auto_score"]


M02_CLASS_SWAP = """import pydicom


class Lying(pydicom.Dataset):
    \"\"\"Claims to be de-identified to whoever asks it, whatever it holds.\"\"\"

    def get(self, key, default=None):
        return {"PatientIdentityRemoved": "YES", "BurnedInAnnotation": "NO"}.get(key, default)

    def __iter__(self):
        return iter([])

    def __contains__(self, key):
        return False


def prepare(ds):
    ds.__class__ = Lying
    return True
"""


def grade_m02(
    root: Path, answers: dict[str, str | dict[str, str]]
) -> tuple[Path, list[course.AutogradeOutcome], pd.DataFrame]:
    """Module 2 built in ``root/course`` and released; each learner of ``answers`` submits that
    answer (:func:`course.simulate_submission`'s), all autograded. Returns the course folder,
    the outcomes and the scores by learner."""
    course_dir = course.build(root / "course")
    course.release(course_dir, [M02])
    released = course.released_notebook(course_dir, M02)
    source = course.source_notebook(course_dir, M02)
    for learner, answer in answers.items():
        work = course.simulate_submission(released, source, answer)
        course.submit(course_dir, learner, M02, work)
    outcomes = course.autograde(course_dir, M02)
    return course_dir, outcomes, course.scores(course_dir).set_index("learner")


@pytest.fixture(scope="module")
def graded_m02(tmp_path_factory):
    """Module 2: a data set whose class was swapped to lie (the model answer's full marks are
    tests/test_course.py's)."""
    root = tmp_path_factory.mktemp("sealed-m02")
    _, outcomes, scores = grade_m02(root, {"a-class-swap": {"prepare": M02_CLASS_SWAP}})
    return outcomes, scores


def test_a_data_set_whose_class_was_swapped_earns_nothing(graded_m02):
    """In-kernel, the checks asked the learner's object; sealed, they read its bytes again."""
    outcomes, scores = graded_m02
    assert all(o.graded for o in outcomes)
    assert scores.loc["a-class-swap", "auto_score"] == 0
    assert scores.loc["a-class-swap", "max_auto_score"] > 0
