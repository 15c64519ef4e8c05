"""Red-team submissions for modules 4 to 7 that earned marks without doing the work (each
earned them on the graders before their fixes): returning nothing, a scan that never reads a
header, ``None`` everywhere but once, the package's own link signer, and an answer imported by
name before the exercise's rule replaced it; and, sealed only, the answers reached past the
rule: a module reloaded, its source read from disk and exec'd, its compiled copy read from
``__pycache__``, the desk's switch turned off (the answers' modules are withheld from the
sandbox: :mod:`hipaa_lab.course.rules`). In a learner's kernel first (fast), then once through
the sealed autograde (one course, every attack graded in one run per module)."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import importlib.util
import py_compile
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
