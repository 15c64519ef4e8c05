"""Module 6's checks: scenario cards against breach.plan, the exclusions, and plan's refusal."""

import copy
import datetime as dt
import json
from pathlib import Path

import pytest

from hipaa_lab.course import checks_breach as cb
from hipaa_lab.course import sandbox
from hipaa_lab.course.grading import SEALED
from hipaa_lab.course.sealed import SealedRun
from hipaa_lab.errors import GradingError
from hipaa_lab.safeguards import breach

MODULE = "m06-when-something-goes-wrong"
LEARNERS = Path(__file__).resolve().parent.parent / "notebooks" / MODULE / "simulated-learners.json"


def plan_notices(card):
    """The reference: the notebook's solution, written from the rule, not from breach.plan."""
    none = {"notification_required": False, "recipients": []}
    if card["exclusion"]:
        return none
    if card["encrypted"] and not card["key_compromised"]:
        return none
    assessment = card["risk_assessment"]
    if assessment and all(risk == "low" for risk in assessment.values()):
        return none
    found = dt.date.fromisoformat(card["discovered"])
    due = found + dt.timedelta(days=60)
    if card["business_associate"]:
        recipients = [{"who": "covered_entity", "deadline": due}]
    else:
        recipients = [{"who": "individuals", "deadline": due}]
        for state, n in card["affected"].items():
            if n > 500:
                recipients.append({"who": "media", "state": state, "deadline": due})
        if sum(card["affected"].values()) >= 500:
            recipients.append({"who": "hhs", "deadline": due})
        else:
            year_end = dt.date(found.year, 12, 31)
            recipients.append({"who": "hhs", "deadline": year_end + dt.timedelta(days=60)})
    law = card["law_enforcement"]
    if law:
        if law["statement"] == "written":
            end = dt.date.fromisoformat(law["delay_until"])
        else:
            end = dt.date.fromisoformat(law["made"]) + dt.timedelta(days=30)
        for r in recipients:
            r["deadline"] = max(r["deadline"], end)
    for r in recipients:
        r["deadline"] = r["deadline"].isoformat()
    return {"notification_required": True, "recipients": recipients}


def which_exclusion(incident):
    if incident["further_use_or_disclosure"]:
        return None
    if incident["event"] == "access":
        needed = ("by_workforce", "unintentional", "good_faith", "within_scope")
        return "unintentional_access" if all(incident[k] for k in needed) else None
    if (
        incident["by_workforce"]
        and incident["unintentional"]
        and incident["recipient_authorized_same_entity"]
    ):
        return "inadvertent_disclosure"
    if not incident["recipient_could_retain"]:
        return "unable_to_retain"
    return None


def _learner(who, name):
    namespace = {}
    exec(json.loads(LEARNERS.read_text())[who][name], namespace)  # noqa: S102 - our own fixture
    return namespace[name]


def test_the_reference_earns_full_marks_on_every_seed():
    for seed in range(250):
        assert cb.check_plan_notices(plan_notices, seed=seed).fraction == 1.0, seed
        assert cb.check_which_exclusion(which_exclusion, seed=seed).fraction == 1.0, seed


def test_every_draw_holds_the_boundary_cards():
    for seed in range(40):
        cards = cb.scenario_cards(seed)
        assert len(cards) == cb.CARDS
        assert [c["card"] for c in cards] == list(range(1, cb.CARDS + 1))
        counts = [n for c in cards for n in c["affected"].values()]
        assert 500 in counts and 501 in counts
        assert any(c["discovered"].endswith("-12-31") for c in cards)
        assert any(c["business_associate"] for c in cards)
        kinds = [(c["law_enforcement"] or {}).get("statement") for c in cards]
        assert "written" in kinds and "oral" in kinds
        plans = [cb.expected_notices(c) for c in cards]
        assert sum(not p["notification_required"] for p in plans) >= 3
        deadlines = [r["deadline"] for p in plans for r in p["recipients"]]
        assert any(d.endswith("-02-29") for d in deadlines)  # the annual log in a leap year
        media = [r for p in plans for r in p["recipients"] if r["who"] == "media"]
        assert media and all(r["state"] for r in media)


def test_cards_are_plain_data_and_the_same_for_the_same_seed():
    cards = cb.scenario_cards(3)
    assert json.loads(json.dumps(cards)) == cards == cb.scenario_cards(3)
    assert cb.scenario_cards(4) != cards
    for c in cards:
        assert c["discovered"] in c["story"]
        assert all(str(n) in c["story"] for n in c["affected"].values()) or c["kind"] in (
            "cd_wrong_patient",
            "coworker_snooping",
            "wrong_study_good_faith",
            "fax_destroyed",
        )


def test_the_fields_say_what_the_planner_decides():
    cards = {c["kind"]: c for s in range(5) for c in cb.scenario_cards(s)}
    for kind in ("encrypted_laptop", "wrong_study_good_faith", "fax_destroyed"):
        assert cb.expected_notices(cards[kind])["notification_required"] is False, kind
    for kind in ("lost_laptop", "key_on_note", "cd_wrong_patient", "coworker_snooping"):
        assert cb.expected_notices(cards[kind])["notification_required"] is True, kind
    ba = cb.expected_notices(cards["business_associate"])
    assert [r["who"] for r in ba["recipients"]] == ["covered_entity"]


def test_one_wrong_deadline_costs_that_card_and_is_named_without_the_answer():
    def late_leap(card):
        answer = plan_notices(card)
        for r in answer["recipients"]:
            if r["deadline"].endswith("-02-29") and r["who"] == "hhs":
                r["deadline"] = r["deadline"][:5] + "03-01"
        return answer

    credit = cb.check_plan_notices(late_leap, seed=5)
    assert credit.fraction < 1
    assert "the deadline for hhs" in credit.message
    assert "-02-29" not in credit.message and "-03-01" not in credit.message


def test_media_for_500_and_for_a_total_over_500_are_wrong():
    def total_media(card):
        answer = plan_notices(card)
        if answer["notification_required"] and not card["business_associate"]:
            total = sum(card["affected"].values())
            answer["recipients"] = [r for r in answer["recipients"] if r["who"] != "media"]
            if total >= 500:
                state = max(card["affected"], key=card["affected"].get)
                answer["recipients"].append(
                    {
                        "who": "media",
                        "state": state,
                        "deadline": answer["recipients"][0]["deadline"],
                    }
                )
        return answer

    credit = cb.check_plan_notices(total_media, seed=2)
    assert 0 < credit.fraction < 1
    assert "500 residents of one State" in credit.message
    assert "that is not due" in credit.message


def test_never_notifying_earns_nothing_and_blank_says_not_written():
    with pytest.raises(GradingError, match="never requires notification"):
        cb.check_plan_notices(
            lambda card: {"notification_required": False, "recipients": []}, seed=1
        )

    def blank(card):
        raise NotImplementedError()

    with pytest.raises(GradingError, match="not written yet"):
        cb.check_plan_notices(blank, seed=1)


def test_a_malformed_answer_is_explained():
    credit_error = None
    try:
        cb.check_plan_notices(lambda card: ["individuals"], seed=1)
    except GradingError as exc:
        credit_error = str(exc)
    assert credit_error and "must return a dict" in credit_error


def test_plan_refuses_while_the_learners_function_runs_and_only_then():
    def cheat(card):
        facts = cb.card_facts(card)
        return breach.plan(facts, as_of=dt.date.fromisoformat(card["today"])).to_json()

    plan = breach.plan
    with pytest.raises(GradingError, match="work it out yourself"):
        cb.check_plan_notices(cheat, seed=1)
    assert breach.plan is plan and cb.expected_notices(cb.scenario_cards(1)[0])

    def via_helper(card):
        return cb.expected_notices(card)

    with pytest.raises(GradingError, match="work it out yourself"):
        cb.check_plan_notices(via_helper, seed=1)


def test_the_learner_gets_a_copy_of_the_card():
    def vandal(card):
        answer = plan_notices(card)
        card["affected"].clear()
        card["discovered"] = "never"
        return answer

    assert cb.check_plan_notices(vandal, seed=8).fraction == 1.0


def test_the_simulated_learners_fall_where_they_should():
    for seed in (1, 2, 3):
        partial = cb.check_plan_notices(_learner("partial", "plan_notices"), seed=seed)
        assert 0 < partial.fraction < 1
        with pytest.raises(GradingError):
            cb.check_plan_notices(_learner("hardcoded", "plan_notices"), seed=seed)
        try:  # the visible incidents' answers: partial at best (now, mostly nothing)
            hardcoded = cb.check_which_exclusion(
                _learner("hardcoded", "which_exclusion"), seed=seed
            ).fraction
        except GradingError:
            hardcoded = 0.0
        assert hardcoded < 1
        partial = cb.check_which_exclusion(_learner("partial", "which_exclusion"), seed=seed)
        assert 0 < partial.fraction < 1


def test_the_hardcoded_answers_are_right_on_the_visible_cards(capsys):
    cards = cb.scenario_cards(cb.VISIBLE_SEED)
    example = next(c for c in cards if "501 residents" in c["title"])
    assert _learner("hardcoded", "plan_notices")(example) == cb.expected_notices(example)
    incidents = cb.incident_narratives(cb.VISIBLE_SEED)
    cb.try_which_exclusion(_learner("hardcoded", "which_exclusion"), incidents)
    assert f"{len(incidents)} of {len(incidents)} right" in capsys.readouterr().out


def test_each_draw_of_incidents_holds_every_exclusion_and_near_misses():
    for seed in range(30):
        incidents = cb.incident_narratives(seed)
        answers = [cb._exclusion_of(i) for i in incidents]
        assert len(incidents) == cb.NARRATIVES
        assert set(answers) == {
            "unintentional_access",
            "inadvertent_disclosure",
            "unable_to_retain",
            None,
        }
        assert json.loads(json.dumps(incidents)) == incidents


def test_which_exclusion_messages_and_same_answer():
    def ignore_further(incident):
        return which_exclusion({**incident, "further_use_or_disclosure": False})

    results = [cb.check_which_exclusion(ignore_further, seed=s) for s in range(10)]
    short = [r for r in results if r.fraction < 1]
    assert short and all("found an exclusion where a condition fails" in r.message for r in short)
    with pytest.raises(GradingError, match="same answer"):
        cb.check_which_exclusion(lambda incident: None, seed=1)
    odd = cb.check_which_exclusion(
        lambda i: "exclusion 1" if i["incident"] == 1 else which_exclusion(i), seed=1
    )
    assert "answer one of" in odd.message
    assert cb.check_which_exclusion(lambda i: str(which_exclusion(i)), seed=1).fraction == 1.0


def test_the_sealed_run_grades_on_its_own_seed_and_practice_on_new_ones():
    run = SealedRun(secret=b"k" * 32, assignment=MODULE, digest="d")
    token = SEALED.set(run)
    try:
        a = cb.grade_plan_notices(plan_notices, seed=run.seed("breach-cards"))
        assert a.right() == cb.CARDS
    finally:
        SEALED.reset(token)
    practice = cb.check_plan_notices(copy.copy(plan_notices))
    assert "practice cards" in practice.message


def test_plot_deadlines_draws_each_notice():
    import matplotlib

    matplotlib.use("Agg")
    cards = cb.scenario_cards(cb.VISIBLE_SEED)
    for card in cards:
        ax = cb.plot_deadlines(card)
        expected = len(cb.expected_notices(card)["recipients"])
        assert len([t for t in ax.texts if ": 20" in t.get_text()]) == expected
        import matplotlib.pyplot as plt

        plt.close(ax.figure)


@pytest.mark.slow
@pytest.mark.skipif(sandbox.available() is not None, reason="bubblewrap is not installed")
def test_in_the_sandbox_plan_refuses_too():
    source = (
        "import datetime as dt\n"
        "from hipaa_lab.safeguards import breach\n"
        "def plan_notices(card):\n"
        "    facts = breach.BreachFacts(discovered=dt.date.fromisoformat(card['discovered']),\n"
        "                               affected=card['affected'])\n"
        "    return breach.plan(facts, as_of=dt.date.fromisoformat(card['today'])).to_json()\n"
        "def helper(card):\n"
        "    return plan_notices(card)['notification_required']\n"
    )
    card = next(c for c in cb.scenario_cards(1) if c["kind"] == "lost_laptop")
    with sandbox.Sandbox([(0, source)]) as box:
        with pytest.raises(GradingError, match="work it out yourself"):
            sandbox.SandboxFunction(box, "plan_notices")(card)
        assert sandbox.SandboxFunction(box, "helper")(card) is True  # the rule is plan_notices'
