"""Module 3's graded exercise: an access policy, checked against the hospital's requirements.

The learner watches the PACS decide requests under the main hospital's shipped ``policy.csv``, then
writes the policy of the hospital's outpatient imaging centre, whose requirements (stated in the
notebook, in plain words) differ from that file for every role. They start from
:data:`FLAWED_POLICY` (one realistic mistake for each role).

**The reference is the trainer's, never the package's.** The centre's requirements as rules live
only in the course's source notebook, in the grade cell's hidden test (nbgrader removes it from the
released notebook; the hub closes the source notebooks to learners, and the grading sandbox never
sees them). Nothing a learner can import or read holds the answer: copying the shipped
``policy.csv`` earns nothing, since every role's requirements differ from it.

Two ways to run a policy:

- :func:`try_access_policy` prints the visible scenarios (:data:`VISIBLE_SCENARIOS`, each with the
  decision the centre's requirements give it) as a table: who, expected, what the policy decided;
- :func:`check_access_policy` grades. Given the trainer's ``reference`` (the hidden test), it asks
  **fresh hidden requests** (:func:`hidden_scenarios`): for every role, operation and purpose, no
  facts and every fact; for every rule of the reference *and of the learner's policy*, the fewest
  facts that satisfy it and each near miss one fact short; the visible requests; and random
  draws. Their seed comes from the course secret and the submission in the sealed autograde. As
  policies are unions of conjunctions of facts, a policy that differs from the reference on any
  request differs on one of the fewest-facts requests of a rule of one of them, so the check is
  exact, not a sample. Credit is the share of the seven roles whose every request is decided as
  required. Without a reference (a learner's kernel) it checks the visible scenarios only, as
  practice, and says so.

Which facts a request can carry: ``deidentified`` only with an export (the PACS sets it when
de-identified copies are asked for); the others with any operation.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING

from hipaa_lab.errors import GradingError, PolicyError
from hipaa_lab.safeguards.policy import (
    ANY,
    AccessPolicy,
    Condition,
    Operation,
    Purpose,
    Role,
    Rule,
)

if TYPE_CHECKING:
    from hipaa_lab.course.grading import Credit

__all__ = [
    "FLAWED_POLICY",
    "MOST_POLICY_TEXT",
    "MOST_RULES",
    "SEED_PURPOSE",
    "Scenario",
    "VISIBLE_SCENARIOS",
    "check_access_policy",
    "every_request",
    "hidden_scenarios",
    "try_access_policy",
]

#: What the learner starts from: the centre's requirements with one realistic mistake for each
#: role (the released notebook's answer cell holds this text).
FLAWED_POLICY = """\
# p, ROLE, ACTION, PURPOSE, CONDITION   (CONDITION: any, or facts joined by &)
p, radiologist, query, treatment, care_team
p, radiologist, query, treatment, worklist
p, radiologist, read, treatment, care_team
p, radiologist, read, treatment, worklist
p, radiologist, read, treatment, break_glass
p, radiologist, export, treatment, care_team
p, radiologist, export, treatment, break_glass
p, technologist, query, treatment, worklist
p, technologist, read, treatment, worklist
p, technologist, read, treatment, care_team
p, technologist, read, treatment, break_glass
p, referring_physician, query, treatment, care_team
p, referring_physician, read, treatment, any
p, referring_physician, export, treatment, care_team
p, front_desk, query, treatment, any
p, front_desk, read, treatment, any
p, billing, query, payment, any
p, pacs_admin, query, operations, any
p, pacs_admin, read, operations, any
p, pacs_admin, export, operations, any
p, researcher, query, research, approved
p, researcher, read, research, approved
p, researcher, export, research, approved
"""


def _facts_of(operation: str) -> tuple[str, ...]:
    """The facts a request of ``operation`` can carry (``deidentified`` only on an export)."""
    return tuple(
        c.value
        for c in Condition
        if c is not Condition.DEIDENTIFIED or operation == Operation.EXPORT.value
    )


@dataclass(frozen=True)
class Scenario:
    """One request: who asks (in words), their role, what, for which purpose, with which facts,
    and whether the centre's requirements allow it."""

    who: str
    role: str
    operation: str
    purpose: str
    facts: frozenset[str]
    expected: bool

    @property
    def request(self) -> tuple[str, str, str, frozenset[str]]:
        return (self.role, self.operation, self.purpose, self.facts)

    def describe(self) -> str:
        held = " & ".join(sorted(self.facts)) or "none"
        return f"{self.role} {self.operation} for {self.purpose} (facts: {held})"


def _s(who: str, expected: bool, role: str, operation: str, purpose: str, *facts: str) -> Scenario:
    return Scenario(who, role, operation, purpose, frozenset(facts), expected)


ALLOW, REFUSE = True, False

#: The scenarios a learner sees and runs (:func:`try_access_policy`), with the decision the
#: centre's requirements give each (a test holds them to the trainer's reference); grading asks
#: others as well.
VISIBLE_SCENARIOS: tuple[Scenario, ...] = (
    _s("radiologist opens a CT on her section's worklist", ALLOW, "radiologist", "read", "treatment", "worklist"),
    _s("radiologist sends her patient's CT to the patient's surgeon", ALLOW, "radiologist", "export", "treatment", "care_team", "worklist"),
    _s("radiologist, break-glass on, exports a study to a USB stick", REFUSE, "radiologist", "export", "treatment", "break_glass"),
    _s("radiologist peer-reviews a colleague's read on the worklist", REFUSE, "radiologist", "read", "operations", "worklist"),
    _s("radiologist opens a worklist study for her own research", REFUSE, "radiologist", "read", "research", "worklist"),
    _s("technologist checks a scan on the CT worklist", ALLOW, "technologist", "read", "treatment", "worklist"),
    _s("technologist opens a patient she scanned last month, now off the worklist", REFUSE, "technologist", "read", "treatment", "care_team"),
    _s("technologist burns a CD of a worklist study for the patient", REFUSE, "technologist", "export", "treatment", "worklist"),
    _s("technologist, break-glass on, opens a study", ALLOW, "technologist", "read", "treatment", "break_glass"),
    _s("referring physician opens her own patient's MR", ALLOW, "referring_physician", "read", "treatment", "care_team"),
    _s("referring physician opens a patient who is not hers", REFUSE, "referring_physician", "read", "treatment"),
    _s("referring physician, break-glass on, opens a patient who is not hers", REFUSE, "referring_physician", "read", "treatment", "break_glass"),
    _s("front desk looks up tomorrow's appointments", ALLOW, "front_desk", "query", "treatment"),
    _s("front desk opens a patient's images to answer a question", REFUSE, "front_desk", "read", "treatment"),
    _s("front desk searches the archive to register a new patient", REFUSE, "front_desk", "query", "operations"),
    _s("billing finds the study it bills for", ALLOW, "billing", "query", "payment"),
    _s("billing looks up last quarter's studies for a claims audit", ALLOW, "billing", "query", "operations"),
    _s("billing opens the images to code a claim", REFUSE, "billing", "read", "payment"),
    _s("PACS admin opens a misfiled study to fix it", ALLOW, "pacs_admin", "read", "operations"),
    _s("PACS admin exports identifiable studies to a vendor's laptop", REFUSE, "pacs_admin", "export", "operations"),
    _s("PACS admin attaches de-identified copies to a vendor's service ticket", ALLOW, "pacs_admin", "export", "operations", "deidentified"),
    _s("researcher with an IRB waiver exports de-identified copies", ALLOW, "researcher", "export", "research", "approved", "deidentified"),
    _s("researcher with an IRB waiver exports identifiable studies", REFUSE, "researcher", "export", "research", "approved"),
    _s("researcher with no approval searches the archive", REFUSE, "researcher", "query", "research"),
    _s("researcher with an IRB waiver opens images in the research viewer", ALLOW, "researcher", "read", "research", "approved"),
)  # fmt: skip


def _needed(condition: str) -> frozenset[str]:
    """The facts a rule's condition needs (none for ``any``)."""
    return frozenset() if condition == ANY else frozenset(p.strip() for p in condition.split("&"))


def hidden_scenarios(
    reference: AccessPolicy, seed: int, learner: Iterable[Rule] = (), draws: int = 6
) -> list[Scenario]:
    """Fresh requests for every role, operation and purpose (no two alike), decided by
    ``reference``.

    For each: no facts and every fact; the visible scenarios' facts; for each rule of
    ``reference`` and of ``learner``, the fewest facts that satisfy it and each near miss one
    fact short of them (or one fact short of every fact); then ``draws`` random sets of facts
    from ``seed``.
    """
    rng = random.Random(seed)  # noqa: S311 - which requests to ask, not a secret (the seed is one)
    rules = [*reference.rules, *learner]
    made: list[Scenario] = []
    for role in Role:
        for operation in Operation:
            for purpose in Purpose:
                key = (role.value, operation.value, purpose.value)
                universe = frozenset(_facts_of(operation.value))
                sets = {frozenset(), universe}
                sets.update(s.facts for s in VISIBLE_SCENARIOS if s.request[:3] == key)
                for rule in rules:
                    if rule.fields()[:3] != key:
                        continue
                    needed = _needed(rule.condition) & universe
                    sets.add(needed)
                    sets.update(needed - {fact} for fact in needed)
                    sets.update(universe - {fact} for fact in needed)
                for _ in range(draws):
                    sets.add(frozenset(f for f in sorted(universe) if rng.random() < 0.5))
                made.extend(
                    Scenario("hidden", *key, facts, reference.decide(*key, facts).allowed)
                    for facts in sorted(sets, key=lambda s: (len(s), sorted(s)))
                )
    rng.shuffle(made)
    return made


#: The most rule lines a learner's policy may hold (the centre's requirements take about twenty),
#: and the most characters in all. Each hidden request is decided by trying every rule: a policy
#: of 40,000 rules (1.7 MB; a sandboxed answer may be 16 MiB) cost the grader 68 s in its own
#: process, and time grows with the number of rules.
MOST_RULES = 200
MOST_POLICY_TEXT = 64 * 2**10


def _policy(policy: object) -> AccessPolicy:
    """The learner's policy text, loaded as the PACS loads one; a grading error if it cannot be."""
    if not isinstance(policy, str):
        raise GradingError(
            "my_policy must be the policy's text, a string of lines such as "
            f"'p, billing, query, payment, any'; it is {type(policy).__name__}"
        )
    rules = sum(
        1 for line in policy.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
    if rules > MOST_RULES or len(policy) > MOST_POLICY_TEXT:
        raise GradingError(
            f"my_policy holds {rules} rule lines and {len(policy)} characters: the centre's "
            f"requirements take a few dozen lines (at most {MOST_RULES} rules and "
            f"{MOST_POLICY_TEXT} characters are accepted)"
        )
    try:
        return AccessPolicy(policy, policy_source="my_policy")
    except PolicyError as exc:
        raise GradingError(f"the PACS cannot use this policy: {exc}") from None


def _reference(reference: object) -> AccessPolicy:
    """The trainer's reference policy; an error naming the course (not the learner) if unusable."""
    if not isinstance(reference, str):
        raise GradingError(
            f"the course's reference policy must be text; it is {type(reference).__name__} "
            "(a trainer's error in the grade cell's hidden test)"
        )
    try:
        return AccessPolicy(reference, policy_source="the course's reference policy")
    except PolicyError as exc:
        raise GradingError(f"the course's reference policy cannot be loaded: {exc}") from None


def _decided(policy: AccessPolicy, scenario: Scenario) -> bool:
    return policy.decide(*scenario.request).allowed


def try_access_policy(policy: str) -> None:
    """Print how ``policy`` decides the visible scenarios: who, expected, got, right or wrong.

    An unusable policy prints what is wrong with it, line by line.
    """
    try:
        loaded = _policy(policy)
    except GradingError as exc:
        print(exc)
        return
    rows = [
        (s.who, s.expected, _decided(loaded, s), ", ".join(sorted(s.facts)) or "-")
        for s in VISIBLE_SCENARIOS
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'scenario':{width}}  {'facts':30}  expected  got      ")
    word = {True: "allow", False: "refuse"}
    for who, expected, got, facts in rows:
        mark = "" if expected == got else "   <-- wrong"
        print(f"{who:{width}}  {facts:30}  {word[expected]:8}  {word[got]:7}{mark}")
    right = sum(r[1] == r[2] for r in rows)
    print(
        f"\n{right} of {len(rows)} visible scenarios decided as the centre requires. "
        "Grading asks other requests, made fresh: meet the requirements, not just these rows."
    )


#: The course's seed purpose for the hidden scenarios of module 3.
SEED_PURPOSE = "access-policy"


def _credit_by_role(loaded: AccessPolicy, scenarios: list[Scenario], asked: str) -> Credit:
    """Credit for each role whose every scenario ``loaded`` decides as expected."""
    from hipaa_lab.course.grading import _credit

    wrong: dict[str, Scenario] = {}  # each role's wrong request with the fewest facts
    for scenario in scenarios:
        if _decided(loaded, scenario) == scenario.expected:
            continue
        before = wrong.get(scenario.role)
        if before is None or len(scenario.facts) < len(before.facts):
            wrong[scenario.role] = scenario
    roles = [r.value for r in Role]
    met = len(roles) - len(wrong)
    message = f"{met} of {len(roles)} roles decided as the centre requires on {asked}."
    for role in roles:
        if role in wrong:
            s = wrong[role]
            did, must = ("allows", "refuse") if not s.expected else ("refuses", "allow")
            message += f"\n  - {role}: your policy {did} {s.describe()}; the centre would {must} it"
    return _credit(met / len(roles), message)


def check_access_policy(
    policy: object, reference: str | None = None, seed: int | None = None
) -> Credit:
    """Credit for each role whose every request ``policy`` decides as the centre requires.

    Parameters
    ----------
    policy
        The learner's policy text (``p, ROLE, ACTION, PURPOSE, CONDITION`` lines).
    reference
        The centre's requirements as a policy: the trainer's, from the grade cell's hidden test.
        Without it, only the visible scenarios are checked (practice in a learner's kernel); in
        the sealed autograde a check without a reference earns nothing and says why (the cell's
        hidden test, which follows, gives the grade).
    seed
        The hidden requests' seed; by default the sealed run's (from the course secret and the
        submission), else a fixed one.

    Raises
    ------
    GradingError
        When no role is right, or the policy is not text or cannot be loaded (naming the line).
    """
    from hipaa_lab.course import grading

    loaded = _policy(policy)
    run = grading.SEALED.get()
    if reference is None:
        if run is not None:  # never graded on the visible rows: the hidden test gives the grade
            return grading.Credit(0.0, "no reference policy: the grade comes from the hidden test")
        return _credit_by_role(
            loaded,
            list(VISIBLE_SCENARIOS),
            f"the {len(VISIBLE_SCENARIOS)} visible requests (practice: grading asks fresh ones)",
        )
    centre = _reference(reference)
    if seed is None:
        seed = run.seed(SEED_PURPOSE) if run is not None else 0
    scenarios = hidden_scenarios(centre, seed, loaded.rules)
    return _credit_by_role(loaded, scenarios, f"{len(scenarios)} fresh requests")


@functools.cache
def _combinations_of(universe: tuple[str, ...]) -> tuple[frozenset[str], ...]:
    """Every set of facts from ``universe`` (for tests and tables)."""
    return tuple(frozenset(c) for n in range(len(universe) + 1) for c in combinations(universe, n))


def every_request() -> list[tuple[str, str, str, frozenset[str]]]:
    """Every request a scenario can make: role, operation, purpose and set of facts."""
    return [
        (role.value, op.value, purpose.value, facts)
        for role in Role
        for op in Operation
        for purpose in Purpose
        for facts in _combinations_of(_facts_of(op.value))
    ]
