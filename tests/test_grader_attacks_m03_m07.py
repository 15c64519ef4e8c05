"""Red-team submissions for modules 4 to 7 that earned marks without doing the work (each
earned them on the graders before their fixes): returning nothing, a scan that never reads a
header, ``None`` everywhere but once, the package's own link signer, and an answer imported by
name before the exercise's rule replaced it; and, sealed only, the answers reached past the
rule: a module reloaded, its source read from disk and exec'd, its compiled copy read from
``__pycache__``, the desk's switch turned off (the answers' modules are withheld from the
sandbox: :mod:`hipaa_lab.course.rules`). In a learner's kernel first (fast), then once through
the sealed autograde (one course, every attack graded in one run per module).

In the same run, the graded copy's outputs: the trainer's demonstrations that use a withheld
answer show a note, not a refusal meant for the learner's code; a learner's own cells that call
one still show the refusal, however they dress as the trainer's."""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import importlib.util
import json
import py_compile
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
from _postgres import fresh_database, postgres_url  # noqa: F401  (a fixture)

from hipaa_lab import course
from hipaa_lab.course import checks_breach as cb
from hipaa_lab.course import checks_safeguards as cs
from hipaa_lab.course import checks_sharing as csh
from hipaa_lab.course import sandbox
from hipaa_lab.course.sealed import WITHHELD_NOTE, _put_outputs, _trainer_cells
from hipaa_lab.course.withheld import refusal
from hipaa_lab.errors import GradingError
from hipaa_lab.safeguards import _desk, sharing

SEEDS = (1, 12345)


@pytest.mark.parametrize("seed", SEEDS)
def test_three_empty_lists_earn_nothing_on_verify_restore(seed: int) -> None:
    # right on the intact backup without looking: that alone was worth a fifth
    with pytest.raises(GradingError, match="intact backup counts only"):
        cs.check_verify_restore(
            lambda manifest, files: {"changed": [], "missing": [], "extra": []}, seed=seed
        )


def _aligned_dicm(image: str) -> list[int]:
    """Every cluster with DICM at its 128th byte, no header read."""
    data = base64.b64decode(image)
    return [o for o in range(0, len(data), cs.CLUSTER) if data[o + 128 : o + 132] == b"DICM"]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_carver_that_reads_no_header_loses_half(seed: int) -> None:
    # it reports the wiped file as a file; 75% precision used to keep all the credit
    credit = cs.check_carve_dicom(_aligned_dicm, seed=seed)
    assert credit.fraction <= 0.5
    assert "wiped file" in credit.message


def test_every_image_holds_one_wiped_file_apart_from_its_files() -> None:
    for seed in range(6):
        image, offsets = cs.raw_image(seed)
        wiped = cs.wiped_offsets(image, offsets)
        assert len(wiped) == 1 and not set(wiped) & set(offsets)


@pytest.mark.parametrize("seed", SEEDS)
def test_none_everywhere_but_once_earns_nothing_on_which_exclusion(seed: int) -> None:
    # half the incidents are near misses: None was right on them, and one odd answer dodged
    # the same-answer rule
    with pytest.raises(GradingError):
        cb.check_which_exclusion(lambda i: None if i["incident"] != 1 else "x", seed=seed)


def test_the_package_signer_refuses_while_link_valid_is_graded() -> None:
    def via_make_link(link: dict[str, Any], user: str, now: str, key: str) -> bool:
        signed = sharing.make_link(link["study_uid"], link["recipient"], link["expires"], key)

        def when(text: str) -> dt.datetime:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))

        return (
            signed["signature"] == link["signature"]
            and user == link["recipient"]
            and when(now) < when(link["expires"])
        )

    with pytest.raises(GradingError, match="make_link is the package's answer"):
        csh.check_link_valid(via_make_link, seed=3)
    # outside a grade it still signs
    link, key = (case := sharing.link_cases(3, 1)[0])["link"], case["key"]
    assert sharing.make_link(link["study_uid"], link["recipient"], link["expires"], key) == link


def test_an_answer_imported_by_name_before_the_call_still_refuses() -> None:
    # ``from hipaa_lab.ledger import check_chain`` at the top of the cell kept the original: a
    # default argument is the same capture. check_chain earned full marks, plan a third
    from hipaa_lab import ledger
    from hipaa_lab.course import checks_audit as cau
    from hipaa_lab.safeguards import breach

    def find_tampered(lines: list[str], check_chain: Any = ledger.check_chain) -> Any:
        return check_chain([(i, line.encode(), None) for i, line in enumerate(lines)]).first_bad

    def plan_notices(card: dict[str, Any], plan: Any = breach.plan) -> dict[str, Any]:
        p = plan(cb.card_facts(card), as_of=dt.date.fromisoformat(card["today"]))
        recipients = [n.to_json() for n in p.recipients]
        return {
            "notification_required": p.notification_required,
            "recipients": [
                {k: v for k, v in r.items() if k in ("who", "state", "deadline")}
                for r in recipients
            ],
        }

    with pytest.raises(GradingError, match="in 0 of 3"):
        cau.check_find_tampered(find_tampered, seed=5)
    with pytest.raises(GradingError, match="right on 0 of"):
        cb.check_plan_notices(plan_notices, seed=5)


def test_the_desks_basis_refuses_while_decide_is_graded() -> None:
    # decide_request refused, but its _basis (the rule that allows the request) did not: with it,
    # access_due and _MINIMUM_NECESSARY, decide earned full marks
    def decide(request: dict[str, Any]) -> dict[str, Any]:
        basis = _desk._basis(request)
        allowed = basis is not sharing.Basis.NONE
        return {
            "allowed": allowed,
            "basis": basis.value,
            "minimum_necessary": allowed and basis in _desk._MINIMUM_NECESSARY,
            "due": sharing.access_due(request["received"], request["extension_notice"]).isoformat()
            if basis is sharing.Basis.RIGHT_OF_ACCESS
            else None,
        }

    with pytest.raises(GradingError, match="_basis is the package's answer"):
        csh.check_decide(decide, seed=5)


def test_a_policy_of_thousands_of_rules_is_refused_before_it_is_tried() -> None:
    """Each hidden request of module 3 is decided by trying every rule of the learner's policy,
    in the grader's process: 40,000 rules (1.7 MB of the 16 MiB a sandboxed answer may hold) cost
    it 68 s, and the time grows with the rules. Defence: a policy of more than MOST_RULES rule
    lines (the centre's requirements take about twenty) or MOST_POLICY_TEXT characters earns
    nothing, untried."""
    from hipaa_lab.course import checks_access as ca

    rules = [line for line in ca.FLAWED_POLICY.splitlines() if line.startswith("p,")]
    many = "\n".join(rules[i % len(rules)] for i in range(1000)) + "\n"
    with pytest.raises(GradingError, match="1000 rule lines"):
        ca.check_access_policy(many, reference=ca.FLAWED_POLICY, seed=1)
    assert (
        ca.check_access_policy(ca.FLAWED_POLICY, reference=ca.FLAWED_POLICY, seed=1).fraction == 1
    )
    padded = ca.FLAWED_POLICY + "#" * ca.MOST_POLICY_TEXT
    with pytest.raises(GradingError, match="characters are accepted"):
        ca.check_access_policy(padded, reference=ca.FLAWED_POLICY, seed=1)


def test_a_huge_quiz_answer_is_named_in_a_few_words() -> None:
    """A quiz answer or an option name of 16 MiB (plain data from the sandbox) was repeated whole
    in the grade cell's error, the graded notebook and the feedback the trainer opens."""
    from hipaa_lab.course import grading

    for check in (
        lambda: grading.check_choice("x" * 1_000_000, "abcd"),
        lambda: grading.check_options(["x" * 1_000_000]),
    ):
        with pytest.raises(GradingError) as raised:
            check()
        assert len(str(raised.value)) < 400  # the options listed, and a few words


def test_huge_answers_are_not_kept_until_the_grade_is_done() -> None:
    """A sandboxed function's answer may be 16 MiB of JSON, and the checks kept each one (or a
    sentence per item of it) until the submission's grade was done: at a quarter of that limit,
    which_exclusion's 6 answers kept 585 MiB in the grader and plan_notices' 14 cards 771 MiB (a
    million unknown recipients a card), some 5 GiB at the limit for one learner of module 6.
    Defence: grading.kept_answer (a few words for a list or a long text), at most 10 problems a
    card, and a verify_restore list longer than the backup is refused unkept."""
    many = 50_000
    exclusions = cb.grade_which_exclusion(lambda incident: [{}] * many, seed=5)
    assert all(a == f"<a list of {many} items>" for a in exclusions.answers), exclusions.answers[0]
    from hipaa_lab.course.grading import ANSWER_TEXT, kept_answer

    assert kept_answer("none") == "none" and kept_answer("x" * (ANSWER_TEXT + 1)).startswith("<")

    def plan_notices(card: dict[str, Any]) -> dict[str, Any]:
        return {"notification_required": True, "recipients": [{"who": 1}] * many}

    cards = cb.grade_plan_notices(plan_notices, seed=5)
    assert max(len(p) for p in cards.problems) <= 10
    assert any(q.startswith("unknown recipient 1 ") for p in cards.problems for q in p)

    def decide(request: dict[str, Any]) -> dict[str, Any]:
        basis = ["treatment"] * many
        return {"allowed": True, "basis": basis, "minimum_necessary": True, "due": "x" * many}

    desk = csh.grade_decide(decide, seed=5)
    assert all(g["basis"] == f"<a list of {many} items>" for g in desk.got if isinstance(g, dict))
    assert all(
        g["due"] == f"<a text of {many} characters>" for g in desk.got if isinstance(g, dict)
    )

    def verify_restore(manifest: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
        return {"changed": [f"f{i}" for i in range(many)], "missing": [], "extra": []}

    restore = cs.grade_verify_restore(verify_restore, seed=5)
    assert all(isinstance(a, str) and "the backup has only" in a for a in restore.answers)


# --------------------------------------------------------------------------- sealed

#: A plan ``p`` in ``plan_notices``'s answer shape: both planner attacks end with it.
_AS_NOTICES = (
    "    keep = ('who', 'state', 'deadline')\n"
    "    return {'notification_required': p.notification_required, 'recipients': [\n"
    "        {k: v for k, v in n.to_json().items() if k in keep}\n"
    "        for n in p.recipients]}\n"
)
M03, M04, M05, M06, M07 = (
    "m03-who-may-see-this-study",
    "m04-reading-the-audit-log",
    "m05-safeguards-in-practice",
    "m06-when-something-goes-wrong",
    "m07-sharing-images-safely",
)
#: module -> learner -> (the answer cells it replaces, the grade cell they attack, the share of
#: that cell's points the attack may keep). Every other answer is the model solution.
SEALED_ATTACKS: dict[str, dict[str, tuple[dict[str, str], str, float]]] = {
    M03: {
        # the main hospital's shipped policy, which was the exercise's answer: the centre's
        # requirements differ from it for every role, and the reference is the trainer's only
        "x-copied-policy-csv": (
            {
                "my_policy": "from hipaa_lab.safeguards.policy import default_policy_path\n\n"
                "my_policy = default_policy_path().read_text(encoding='utf-8')\n"
            },
            "my_policy_check",
            0.0,
        ),
    },
    M04: {
        # the ledger's (and the chain check's) source read from disk and exec'd: a check_chain
        # no rule replaced
        "x-exec-ledger-source": (
            {
                "find_tampered": "import importlib.util\n\n\n"
                "def find_tampered(lines):\n"
                "    rows = [(i, line.encode(), None) for i, line in enumerate(lines)]\n"
                "    ns = {}\n"
                "    for name in ('hipaa_lab.ledger', 'hipaa_lab._chaincheck'):\n"
                "        spec = importlib.util.find_spec(name)\n"
                "        if spec is not None:\n"
                "            with open(spec.origin) as f:\n"
                "                ns = {'__name__': name, **ns}\n"
                "                exec(compile(f.read(), spec.origin, 'exec'), ns)\n"
                "    return ns['check_chain'](rows).first_bad\n"
            },
            "find_tampered_check",
            0.0,
        ),
        "x-imported-check-chain": (
            {
                "find_tampered": "from hipaa_lab.ledger import check_chain\n\n\n"
                "def find_tampered(lines):\n"
                "    rows = [(i, line.encode(), None) for i, line in enumerate(lines)]\n"
                "    return check_chain(rows).first_bad\n"
            },
            "find_tampered_check",
            0.0,
        ),
    },
    M05: {
        # the carver's compiled copy read from __pycache__ and marshal-loaded (the fixture
        # compiles the package's modules, as an installed package ships them): its carve runs
        # outside the rule's replaced names
        "x-carver-from-pyc": (
            {
                "carve_dicom": "import base64, importlib.util, marshal\n\n\n"
                "def carve_dicom(image):\n"
                "    for name in ('hipaa_lab.safeguards._carving', 'hipaa_lab.safeguards.media'):\n"
                "        spec = importlib.util.find_spec(name)\n"
                "        if spec is None:\n"
                "            continue\n"
                "        with open(importlib.util.cache_from_source(spec.origin), 'rb') as f:\n"
                "            code = marshal.loads(f.read()[16:])\n"
                "        ns = {'__name__': name}\n"
                "        exec(code, ns)\n"
                "        found = ns['carve'](base64.b64decode(image))\n"
                "        return [c.offset for c in found]\n"
            },
            "carve_dicom_check",
            0.0,
        ),
        "x-empty-restore": (
            {
                "verify_restore": "def verify_restore(manifest, files):\n"
                "    return {'changed': [], 'missing': [], 'extra': []}\n"
            },
            "verify_restore_check",
            0.0,
        ),
        "x-aligned-carve": (
            {
                "carve_dicom": "import base64\n\n\ndef carve_dicom(image):\n"
                "    data = base64.b64decode(image)\n"
                "    return [o for o in range(0, len(data), 2048)\n"
                "            if data[o + 128:o + 132] == b'DICM']\n"
            },
            "carve_dicom_check",
            0.5,
        ),
    },
    M06: {
        "x-imported-plan": (
            {
                "plan_notices": "import datetime as dt\n"
                "from hipaa_lab.course.checks_breach import card_facts\n"
                "from hipaa_lab.safeguards.breach import plan\n\n\n"
                "def plan_notices(card):\n"
                "    p = plan(card_facts(card), as_of=dt.date.fromisoformat(card['today']))\n"
                + _AS_NOTICES
            },
            "plan_notices_check",
            0.0,
        ),
        # breach reloaded inside the call: fresh plan and helpers, none of them the rule's
        "x-reloaded-plan": (
            {
                "plan_notices": "import datetime as dt\nimport importlib\n"
                "from hipaa_lab.safeguards import breach\n\n\n"
                "def plan_notices(card):\n"
                "    from hipaa_lab.course import checks_breach\n"
                "    fresh = importlib.reload(breach)\n"
                "    facts = importlib.reload(checks_breach).card_facts(card)  # fresh classes\n"
                "    p = fresh.plan(facts, as_of=dt.date.fromisoformat(card['today']))\n"
                + _AS_NOTICES
            },
            "plan_notices_check",
            0.0,
        ),
        "x-none-but-once": (
            {
                "which_exclusion": "def which_exclusion(incident):\n"
                "    return None if incident['incident'] != 1 else 'x'\n"
            },
            "which_exclusion_check",
            0.0,
        ),
    },
    M07: {
        # the desk's switch turned off (in one cell, before decide is defined), then the desk's
        # own answer: it was full marks while the answer was in the sandbox (red team)
        "x-switch-off-desk": (
            {
                "decide": "from hipaa_lab.safeguards import sharing as _s\n\n\n"
                "def decide(request):\n"
                "    _s._REFUSING = False\n"
                "    return _s.decide_request(request)\n"
            },
            "decide_check",
            0.0,
        ),
        "x-make-link": (
            {
                "link_valid": "import datetime as dt\n"
                "from hipaa_lab.safeguards import sharing as _s\n\n\n"
                "def link_valid(link, user, now, key):\n"
                "    sig = _s.make_link(link['study_uid'], link['recipient'], link['expires'],"
                " key)\n"
                "    w = lambda t: dt.datetime.fromisoformat(t.replace('Z', '+00:00'))\n"
                "    return (sig['signature'] == link['signature'] and user == link['recipient']"
                " and w(now) < w(link['expires']))\n"
            },
            "link_valid_check",
            0.0,
        ),
    },
}


#: The M07 learner whose own cells call the desk's withheld answers dressed as the trainer's.
DRESSED = "x-dressed-as-trainer"
DESK_REFUSAL = refusal("hipaa_lab.safeguards._desk")


def _grade_id(cell: nbformat.NotebookNode) -> str | None:
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return gid if isinstance(gid, str) else None


def _dressed_as_trainer(correct: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``correct`` whose answer cell ``decide`` calls the desk and says, in its metadata, that it
    is a locked demonstration; with a cell added after it that calls the signer, carrying the
    links demonstration's id and locked metadata (the real one's id changed, and ``MINE``
    printed in its text); and whose cell to try ``decide`` in is edited (the learner's now)."""
    nb = copy.deepcopy(correct)
    locked = {"nbgrader": {"grade": False, "locked": True, "solution": False, "schema_version": 3}}
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        if _grade_id(cell) == "decide":
            cell.source = (
                "from hipaa_lab.safeguards import sharing as _s\n\n\n"
                "def decide(request):\n    return _s.decide_request(request)\n\n\n"
                "decide(cards[0])\n"
            )
            cell.metadata["nbgrader"].update(locked=True, solution=False)
            cell.metadata.update(editable=False, deletable=False)
            cells.append(
                nbformat.v4.new_code_cell(
                    "sharing.make_link('2.25.1', 'dr.okafor', 'soon', '5a' * 32)",
                    metadata={**copy.deepcopy(locked), "editable": False},
                )
            )
            cells[-1]["id"] = "m07-links-demo"
        elif _grade_id(cell) == "m07-links-demo":
            cell["id"] = "x-moved-aside"
            cell.source = "print('MINE')\n" + cell.source
        elif "sharing.try_decide(decide, cards)" in cell.source:
            cell.source = "# mine\nsharing.try_decide(decide, cards)\n"
    nb.cells = cells
    return nb


def _points(nb: nbformat.NotebookNode, grade_id: str) -> float:
    return next(
        float(c.metadata.nbgrader["points"])
        for c in nb.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id
    )


@contextlib.contextmanager
def _compiled(modules: tuple[str, ...]) -> Iterator[list[Path]]:
    """``modules`` compiled into their ``__pycache__``, as an installed package ships them (the
    tests run with ``PYTHONDONTWRITEBYTECODE``); the copies made are removed after."""
    made = []
    try:
        for name in modules:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                continue
            pyc = Path(importlib.util.cache_from_source(spec.origin))
            if not pyc.exists():
                py_compile.compile(spec.origin, cfile=str(pyc), doraise=True)
                made.append(pyc)
        yield made
    finally:
        for pyc in made:
            pyc.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def sealed_scores(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[pd.DataFrame, Path]]:
    """Each module's right answer and its attackers, graded two at a time on a PostgreSQL
    gradebook of the session's server (``jobs=2``, as tests/test_sealed_grading.py grades the
    first round): the same sealed grading of each submission, in about two thirds of the time
    on two cores (the one-at-a-time path is graded against attacks by
    tests/test_grader_attacks.py). Without a PostgreSQL server, one at a time on SQLite."""
    try:
        db_url: str | None = fresh_database(request.getfixturevalue("postgres_url"))
    except pytest.skip.Exception:  # no server could start: grade all the same, one at a time
        db_url = None
    jobs = 1 if db_url is None else 2
    course_dir = course.build(tmp_path_factory.mktemp("redteam") / "course", db_url=db_url)
    course.release(course_dir, list(SEALED_ATTACKS))
    with _compiled(("hipaa_lab.safeguards.media", "hipaa_lab.safeguards._carving")):
        for module, attacks in SEALED_ATTACKS.items():
            released = course.released_notebook(course_dir, module)
            source = course.source_notebook(course_dir, module)
            correct = course.simulate_submission(released, source, "correct")
            course.submit(course_dir, "correct", module, correct)
            for who, (answers, _, _) in attacks.items():
                work = course.simulate_submission(released, source, answers, base="correct")
                course.submit(course_dir, who, module, work)
            if module == M07:
                course.submit(course_dir, DRESSED, module, _dressed_as_trainer(correct))
            assert all(o.graded for o in course.autograde(course_dir, module, jobs=jobs))
    yield course.scores(course_dir).set_index(["learner", "module"]), course_dir


@pytest.mark.slow
@pytest.mark.skipif(sandbox.available() is not None, reason="bubblewrap is not installed")
@pytest.mark.parametrize(
    ("module", "who"), [(m, w) for m, attacks in SEALED_ATTACKS.items() for w in attacks]
)
def test_sealed_attacks_keep_no_more_than_their_share(
    sealed_scores: tuple[pd.DataFrame, Path], module: str, who: str
) -> None:
    scores, course_dir = sealed_scores
    _, cell, share = SEALED_ATTACKS[module][who]
    points = _points(course.source_notebook(course_dir, module), cell)
    full = scores.loc[("correct", module), "auto_score"]
    assert full == scores.loc[("correct", module), "max_auto_score"]
    # the graded inputs are fresh each build: a share is a ceiling (the carver may lose more)
    assert scores.loc[(who, module), "auto_score"] <= full - points * (1 - share) + 1e-9


# --------------------------------------------------------------------------- the graded copy


def _autograded(course_dir: Path, who: str, module: str) -> nbformat.NotebookNode:
    nb: nbformat.NotebookNode = nbformat.read(
        course_dir / "autograded" / who / module / f"{module}.ipynb", as_version=4
    )
    return nb


def _cell(nb: nbformat.NotebookNode, text: str) -> nbformat.NotebookNode:
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and text in c.source]
    return cell


def test_the_trainers_cells_are_known_from_the_release_not_the_submission() -> None:
    """A released cell's id, not the submission's metadata: locked (not a test), or editable and
    left as released."""
    meta = {"nbgrader": {"grade": False, "locked": True, "solution": False, "grade_id": "demo"}}
    answer = {"nbgrader": {"grade": False, "locked": False, "solution": True, "grade_id": "f"}}
    test = {"nbgrader": {"grade": True, "locked": True, "solution": False, "grade_id": "f_check"}}
    release = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("demo()", id="demo", metadata=meta),
            nbformat.v4.new_code_cell("try_f(f)", id="try"),
            nbformat.v4.new_code_cell("def f(): ...", id="f", metadata=answer),
            nbformat.v4.new_code_cell("check(f)", id="f_check", metadata=test),
        ]
    )
    graded = copy.deepcopy(release)
    graded.cells[2].metadata = copy.deepcopy(meta)  # the answer says it is locked
    assert _trainer_cells(graded, release) == {0, 1}
    graded.cells[1].source = "try_f(f)  # mine"
    graded.cells.append(nbformat.v4.new_code_cell("demo()", metadata=copy.deepcopy(meta)))
    assert _trainer_cells(graded, release) == {0}


def test_a_trainers_cell_that_misses_what_a_refused_one_sets_shows_the_note() -> None:
    """Only the trainer's cells, and only a name a refused trainer's cell sets: a learner's
    cell, or a missing name the refused cell does not set, shows its error."""
    cells = ["cases = sign()\nshow(cases)", "for c in cases: ...", "print(cases)", "print(other)"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    missing = [f"NameError: name '{n}' is not defined" for n in ("cases", "cases", "other")]
    outcomes = [
        sandbox.CellOutcome(0, "", "", f"GradingError: {DESK_REFUSAL}", []),
        *(sandbox.CellOutcome(i, "", "", error, []) for i, error in enumerate(missing, 1)),
    ]
    _put_outputs(nb, outcomes, {0, 1, 2, 3}, {0, 1, 3}, ["hipaa_lab.safeguards._desk"])
    note = [nbformat.v4.new_output("stream", text=WITHHELD_NOTE)]
    assert [c.outputs == note for c in nb.cells] == [True, True, False, False]
    assert nb.cells[2].outputs[0].evalue == missing[1]


@pytest.mark.slow
@pytest.mark.skipif(sandbox.available() is not None, reason="bubblewrap is not installed")
@pytest.mark.parametrize("module", list(SEALED_ATTACKS))
def test_the_model_answers_graded_copy_shows_no_error(
    sealed_scores: tuple[pd.DataFrame, Path], module: str
) -> None:
    """Modules 4 to 7's demonstrations call answers withheld while their module is graded: the
    refusal, meant for a learner's code, said "work it out yourself" under the trainer's cells
    (and module 7's cell to try ``link_valid`` in, whose practice links the withheld signer
    makes, failed on a missing name). Under the model answer, no cell shows an error."""
    _, course_dir = sealed_scores
    nb = _autograded(course_dir, "correct", module)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = json.dumps(outputs)
    assert "holds an answer of this assignment" not in text and "Traceback" not in text


@pytest.mark.slow
@pytest.mark.skipif(sandbox.available() is not None, reason="bubblewrap is not installed")
def test_the_trainers_demonstrations_show_a_note_not_the_refusal(
    sealed_scores: tuple[pd.DataFrame, Path],
) -> None:
    """Module 7's links demonstration, and the cells to try ``decide`` and ``link_valid`` in, say
    why they did not run; so does the feedback page."""
    _, course_dir = sealed_scores
    nb = _autograded(course_dir, "correct", M07)
    note = [nbformat.v4.new_output("stream", text=WITHHELD_NOTE)]
    for text in ("sharing.make_link(", "sharing.try_decide(decide, cards)", "in practice_cases:"):
        assert _cell(nb, text).outputs == note, text
    assert course.feedback(course_dir, M07, ["correct"])
    page = (course_dir / "feedback" / "correct" / M07 / f"{M07}.html").read_text()
    assert "holds an answer of this assignment" not in page
    assert WITHHELD_NOTE.splitlines()[0] in page
    # an error's message wraps in its box (the learner's, a check's): a style of our template
    assert re.search(r"div\.output_error pre \{ white-space: pre-wrap; word-break: normal;", page)


@pytest.mark.slow
@pytest.mark.skipif(sandbox.available() is not None, reason="bubblewrap is not installed")
def test_a_learners_own_refusal_shows_however_the_cell_is_dressed(
    sealed_scores: tuple[pd.DataFrame, Path],
) -> None:
    """The refusal is meant for the learner's code: it shows under their answer cell whose
    metadata says locked, under a cell they added with a demonstration's id and locked metadata,
    and under the cell to try things in that they edited. The locked demonstration they changed
    is the trainer's again (its text restored: the note, nothing of theirs)."""
    _, course_dir = sealed_scores
    nb = _autograded(course_dir, DRESSED, M07)
    for text in ("decide(cards[0])", "'dr.okafor', 'soon'", "# mine"):
        outputs = _cell(nb, text).outputs
        errors = [o for o in outputs if o.output_type == "error"]  # wraps in the feedback
        assert errors and errors[-1].evalue.startswith(f"GradingError: {DESK_REFUSAL}"), text
    (demo,) = [c for c in nb.cells if _grade_id(c) == "m07-links-demo"]
    release = course.released_notebook(course_dir, M07)
    assert demo.source == next(c.source for c in release.cells if _grade_id(c) == "m07-links-demo")
    assert demo.outputs == [nbformat.v4.new_output("stream", text=WITHHELD_NOTE)]
    assert "MINE" not in json.dumps([c.get("outputs", []) for c in nb.cells])
