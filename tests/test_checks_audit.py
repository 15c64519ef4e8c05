"""Module 4's checks: credit per kind of planted access, decoys and precision; the edited line."""

import pytest

from hipaa_lab.course import checks_audit as ca
from hipaa_lab.course import sandbox
from hipaa_lab.errors import GradingError
from hipaa_lab.safeguards.audit import AuditTrail
from hipaa_lab.safeguards.workday import Finding, generate

SEED = 11  # the fresh day each check makes from it, here and in the oracle below


@pytest.fixture(scope="module")
def key():
    staff, patients = ca.REVIEW_SIZE
    return generate(SEED, staff=staff, patients=patients).key()


def lines_of(key, *kinds):
    return [r["line"] for r in key["planted"] if not kinds or r["kind"] in kinds]


def decoy_lines(key, what):
    return [r["line"] for r in key["decoys"] if r["what"] == what]


def reviewer(lines):
    """A reviewer that reports ``lines``, whatever the log (and checks what it is given)."""

    def find_inappropriate(events, context):
        assert [e["line"] for e in events] == list(range(1, len(events) + 1))
        assert {"staff", "patients", "research_approvals", "emergency_arrivals"} <= set(context)
        return list(lines)

    return find_inappropriate


def test_a_perfect_reviewer_earns_full_credit(key):
    credit = ca.check_find_inappropriate(reviewer(lines_of(key)), seed=SEED)
    assert credit.fraction == 1.0
    assert "found" in credit.message and "100%" in credit.message


def test_every_kind_is_planted_with_its_decoys(key):
    score = ca.score_review(lines_of(key), key)
    assert set(score.planted) == {f.value for f in Finding}
    assert set(score.decoys) == set(ca.DECOY_KINDS.values())


def test_reporting_everything_earns_nothing(key):
    every = range(1, key["events"] + 1)
    with pytest.raises(GradingError, match="lines it reported are planted"):
        ca.check_find_inappropriate(reviewer(every), seed=SEED)


def test_reporting_nothing_earns_nothing():
    with pytest.raises(GradingError, match="reported nothing"):
        ca.check_find_inappropriate(reviewer([]), seed=SEED)


@pytest.mark.parametrize("kind", [f.value for f in Finding])
def test_missing_one_kind_loses_that_kinds_share(key, kind):
    kept = [r["line"] for r in key["planted"] if r["kind"] != kind]
    credit = ca.check_find_inappropriate(reviewer(kept), seed=SEED)
    assert credit.fraction == pytest.approx(5 / 6, abs=0.01)
    assert ca._KIND_NAMES[kind] in credit.message


def test_half_of_a_kind_earns_half_its_share(key):
    export = lines_of(key, "bulk_export")
    kept = [n for n in lines_of(key) if n not in export[: len(export) // 2]]
    score = ca.score_review(kept, key)
    assert score.recall("bulk_export") == pytest.approx(1 - (len(export) // 2) / len(export))
    assert score.fraction() == pytest.approx((5 + score.recall("bulk_export")) / 6)


@pytest.mark.parametrize("what", sorted(ca.DECOY_KINDS))
def test_reporting_a_kinds_decoys_costs_that_kind(key, what):
    kind = ca.DECOY_KINDS[what]
    decoys = decoy_lines(key, what)
    assert decoys
    score = ca.score_review(lines_of(key) + decoys, key)
    assert score.recall(kind) == 1.0
    assert score.kind_score(kind) == 0.0
    assert score.fraction() <= 5 / 6 + 1e-9
    credit = ca.check_find_inappropriate(reviewer(lines_of(key) + decoys), seed=SEED)
    assert "look-alikes" in credit.message and ca._KIND_NAMES[kind] in credit.message


def test_the_visible_days_key_falls_short_on_a_fresh_day():
    staff, patients = ca.REVIEW_SIZE
    visible = generate(4, staff=staff, patients=patients).key()
    with pytest.raises(GradingError):
        ca.check_find_inappropriate(reviewer(lines_of(visible)), seed=SEED)


@pytest.mark.parametrize("returned", ["12, 13", {12: "vip"}, [12, "13"], [12.0], None, [True]])
def test_an_answer_that_is_not_line_numbers_is_refused(returned):
    with pytest.raises(GradingError, match="find_inappropriate must return"):
        ca.check_find_inappropriate(lambda events, context: returned, seed=SEED)


def test_a_function_not_written_yet_says_so():
    def find_inappropriate(events, context):
        raise NotImplementedError()

    with pytest.raises(GradingError, match="not written yet"):
        ca.check_find_inappropriate(find_inappropriate, seed=SEED)


def test_practice_runs_draw_a_new_day_and_say_so(key):
    with pytest.raises(GradingError, match="practice logs"):
        ca.check_find_inappropriate(reviewer(lines_of(key)))  # another day: the oracle is wrong


# --------------------------------------------------------------------------- the edited line


@pytest.fixture(scope="module")
def log():
    staff, patients = ca.TAMPER_SIZE
    return ca.log_lines(generate(SEED, staff=staff, patients=patients).events)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_tamper_edits_one_entrys_content_and_the_chain_breaks_on_the_next_line(log, tmp_path, seed):
    from hipaa_lab.ledger import Entry

    edited, n = ca.tamper(log, seed)
    assert 1 < n < len(log)
    assert [i for i, (a, b) in enumerate(zip(log, edited, strict=True), 1) if a != b] == [n]
    before, after = Entry.from_data(log[n - 1]), Entry.from_data(edited[n - 1])
    assert (before.index, before.prev, before.time) == (after.index, after.prev, after.time)
    assert before.body["user"] != after.body["user"] and before.body["role"] == after.body["role"]
    trail = AuditTrail(tmp_path / "edited.jsonl")
    trail.path.write_text("\n".join(edited) + "\n")
    result = trail.verify()
    assert not result.ok and result.first_bad == n - 1  # verify looks one line further


def exact(lines):
    """The model answer: the line before the first broken link."""
    import hashlib

    for n in range(2, len(lines) + 1):
        if (
            lines[n - 1].rsplit('"prev":"', 1)[1][:64]
            != hashlib.sha256(lines[n - 2].encode()).hexdigest()
        ):
            return n - 1
    return None


def test_the_edited_line_earns_full_credit():
    assert ca.check_find_tampered(exact, seed=SEED).fraction == 1.0


def test_the_line_where_the_chain_breaks_is_not_the_edited_line():
    with pytest.raises(GradingError, match="the line after the edited one"):
        ca.check_find_tampered(lambda lines: exact(lines) + 1, seed=SEED)


def test_right_on_some_logs_earns_that_share():
    answers = iter([True, False, True])

    def sometimes(lines):
        return exact(lines) if next(answers) else 1

    credit = ca.check_find_tampered(sometimes, seed=SEED)
    assert credit.fraction == pytest.approx(2 / ca.TAMPER_LOGS, abs=0.01)


def test_the_package_verify_refuses_while_find_tampered_runs(log, tmp_path):
    def by_verify(lines):
        trail = AuditTrail(tmp_path / "copy.jsonl")
        trail.path.write_text("\n".join(lines) + "\n")
        return trail.verify().first_bad + 1

    with pytest.raises(GradingError, match="check the links itself"):
        ca.check_find_tampered(by_verify, seed=SEED)
    trail = AuditTrail(tmp_path / "after.jsonl")  # and verify works again afterwards
    trail.path.write_text("\n".join(log) + "\n")
    assert trail.verify().ok


@pytest.mark.parametrize("returned", ["12", 12.0, None, [12]])
def test_find_tampered_must_return_one_integer(returned):
    with pytest.raises(GradingError, match="one line number"):
        ca.check_find_tampered(lambda lines: returned, seed=SEED)


def test_own_work_is_nothing_for_other_functions():
    from hipaa_lab import ledger

    verify = ledger.FileLedger.verify
    with ca.own_work("find_inappropriate"):
        assert ledger.FileLedger.verify is verify
    with ca.own_work("find_tampered"):
        assert ledger.FileLedger.verify is not verify
    assert ledger.FileLedger.verify is verify


@pytest.mark.slow
@pytest.mark.skipif(sandbox.available() is not None, reason="bubblewrap is not installed")
def test_in_the_sandbox_find_tampered_may_not_call_verify_either(log):
    source = (
        "import pathlib, tempfile\n"
        "from hipaa_lab.safeguards.audit import AuditTrail\n"
        "def find_tampered(lines):\n"
        "    trail = AuditTrail(pathlib.Path(tempfile.mkdtemp()) / 'copy.jsonl')\n"
        "    trail.path.write_text('\\n'.join(lines) + '\\n')\n"
        "    return trail.verify().first_bad + 1\n"
        "def by_verify(lines):\n"
        "    return find_tampered(lines)\n"
    )
    edited, n = ca.tamper(log, 3)
    with sandbox.Sandbox([(0, source)]) as box:
        with pytest.raises(GradingError, match="check the links itself"):
            sandbox.SandboxFunction(box, "find_tampered")(edited)
        assert (
            sandbox.SandboxFunction(box, "by_verify")(edited) == n
        )  # the rule is find_tampered's alone
