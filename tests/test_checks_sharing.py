"""Module 7's checks: the request desk and the expiring link, graded on fresh inputs."""

import json
from pathlib import Path

import pytest

from hipaa_lab.course import checks_sharing as cs
from hipaa_lab.course import sandbox
from hipaa_lab.course.checks_audit import own_work
from hipaa_lab.errors import GradingError
from hipaa_lab.safeguards import sharing

MODULE = Path(__file__).resolve().parent.parent / "notebooks" / "m07-sharing-images-safely"


def _solution(grade_id: str):
    """The notebook's reference solution for ``grade_id``, defined as the learner's kernel would."""
    nb = json.loads((MODULE / f"{MODULE.name}.ipynb").read_text())
    source = next("".join(c["source"]) for c in nb["cells"] if c["id"] == grade_id)
    namespace: dict = {}
    exec("import datetime as dt, hashlib, hmac\n" + source, namespace)  # noqa: S102 - our own notebook
    return namespace[grade_id]


def _learner(who: str, name: str):
    learners = json.loads((MODULE / "simulated-learners.json").read_text())
    namespace: dict = {}
    exec(learners[who][name], namespace)  # noqa: S102 - our own simulated learners
    return namespace[name]


REFUSE = {"allowed": False, "basis": "none", "minimum_necessary": False, "due": None}


def test_the_reference_decide_earns_full_marks_on_every_seed():
    decide = _solution("decide")
    for seed in range(300):
        assert cs.check_decide(decide, seed=seed).fraction == 1.0, seed


def test_the_reference_link_valid_earns_full_marks_on_every_seed():
    link_valid = _solution("link_valid")
    for seed in range(300):
        assert cs.check_link_valid(link_valid, seed=seed).fraction == 1.0, seed


def test_refusing_everything_or_allowing_everything_earns_nothing():
    with pytest.raises(GradingError, match="fresh request cards right"):
        cs.check_decide(lambda request: dict(REFUSE), seed=4)
    allow = {"allowed": True, "basis": "treatment", "minimum_necessary": False, "due": None}
    with pytest.raises(GradingError):
        cs.check_decide(lambda request: dict(allow), seed=4)
    with pytest.raises(GradingError, match="misjudged"):
        cs.check_link_valid(lambda *args: True, seed=4)
    with pytest.raises(GradingError, match="misjudged"):
        cs.check_link_valid(lambda *args: False, seed=4)


def test_the_simulated_learners_fall_where_they_should():
    for seed in (1, 2, 3):
        assert 0 < cs.check_decide(_learner("partial", "decide"), seed=seed).fraction < 1
        assert 0 < cs.check_link_valid(_learner("partial", "link_valid"), seed=seed).fraction < 1
        with pytest.raises(GradingError):
            cs.check_decide(_learner("hardcoded", "decide"), seed=seed)
        with pytest.raises(GradingError):
            cs.check_link_valid(_learner("hardcoded", "link_valid"), seed=seed)


def test_a_wrong_due_date_is_named_without_the_right_one():
    decide = _solution("decide")

    def off_by_one(request):
        answer = decide(request)
        if answer["due"]:
            answer["due"] = answer["due"][:-1] + ("0" if answer["due"][-1] != "0" else "1")
        return answer

    credit = cs.check_decide(off_by_one, seed=5)
    message = credit.message
    assert 0 < credit.fraction < 1
    assert "due date" in message and "from a patient" in message
    right = {sharing.decide_request(c)["due"] for c in sharing.request_cards(5, cs.DECK_PER_KIND)}
    assert not any(d and d in message for d in right)


def test_a_return_that_is_not_a_decision_is_explained():
    with pytest.raises(GradingError, match="must return a dict"):
        cs.check_decide(lambda request: True, seed=1)
    with pytest.raises(GradingError, match="no due"):
        cs.check_decide(
            lambda request: {"allowed": True, "basis": "baa", "minimum_necessary": True}, seed=1
        )
    with pytest.raises(GradingError, match="True or False"):
        cs.check_link_valid(lambda *args: "yes", seed=1)


def test_an_unwritten_function_says_so():
    def decide(request):
        raise NotImplementedError()

    with pytest.raises(GradingError, match="not written yet"):
        cs.check_decide(decide, seed=1)


def test_the_package_refuses_to_decide_while_the_learner_decides():
    with pytest.raises(GradingError, match="package's answer"):
        cs.check_decide(sharing.decide_request, seed=2)
    with pytest.raises(GradingError, match="package's answer"):
        cs.check_link_valid(sharing.verify_link, seed=2)
    card = sharing.request_cards(2)[0]
    assert sharing.decide_request(card)  # and answers again afterwards
    with own_work("find_inappropriate"):
        assert sharing.decide_request(card)  # another exercise's function: no rule
    with own_work("decide"), pytest.raises(GradingError):
        sharing.decide_request(card)


def test_the_graded_cards_are_fresh_for_each_seed():
    ids = {c["id"] for c in sharing.request_cards(1, cs.DECK_PER_KIND)}
    assert ids.isdisjoint(c["id"] for c in sharing.request_cards(2, cs.DECK_PER_KIND))
    assert len(ids) == cs.DECK_PER_KIND * len(sharing.KINDS)


@pytest.mark.slow
@pytest.mark.skipif(sandbox.available() is not None, reason="bubblewrap is not installed")
def test_in_the_sandbox_decide_may_not_ask_the_package_either():
    source = (
        "from hipaa_lab.safeguards import sharing\n"
        "def decide(request):\n"
        "    return sharing.decide_request(request)\n"
        "def by_package(request):\n"
        "    return sharing.decide_request(request)\n"
    )
    card = sharing.request_cards(3)[0]
    with sandbox.Sandbox([(0, source)]) as box:
        with pytest.raises(GradingError, match="package's answer"):
            sandbox.SandboxFunction(box, "decide")(card)
        assert sandbox.SandboxFunction(box, "by_package")(card) == sharing.decide_request(card)
