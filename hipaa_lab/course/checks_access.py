"""Module 3's graded exercise: an access policy, checked against the hospital's requirements.

The learner is given :data:`FLAWED_POLICY` (one realistic mistake for each role) and the hospital's
requirements in plain words (:data:`REQUIREMENTS`), and edits the policy until it decides requests
as the requirements do. :data:`REFERENCE_RULES` are those requirements as rules: the module's
reference, once, here. They are the rules of the shipped ``policy.csv`` (a test holds the two
together), so the PACS a learner watches and the exercise agree.

Two ways to run a policy against scenarios:

- :func:`try_access_policy` prints the visible scenarios (:data:`VISIBLE_SCENARIOS`) as a table:
  who, expected, what the policy decided;
- :func:`check_access_policy` grades on **hidden scenarios made fresh** (:func:`hidden_scenarios`):
  for every role, operation and purpose, the requests each requirement allows with the fewest
  facts, the near misses one fact short, no facts and every fact, and random draws. In the sealed
  autograde their seed comes from the course secret and the submission; in a learner's kernel a
  new one is drawn each time (practice). Credit is the share of the seven roles whose every hidden
  request is decided as required, so a policy that allows everything, or nothing, earns nothing
  (every role may do something and may not do something else).

Which facts a request can carry: ``deidentified`` only with an export (the PACS sets it when
de-identified copies are asked for); the others with any operation.
"""

from __future__ import annotations

import functools
import random
import secrets
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
    holds,
)

if TYPE_CHECKING:
    from hipaa_lab.course.grading import Credit

__all__ = [
    "FLAWED_POLICY",
    "REFERENCE_RULES",
    "REQUIREMENTS",
    "SEED_PURPOSE",
    "Scenario",
    "VISIBLE_SCENARIOS",
    "check_access_policy",
    "every_request",
    "hidden_scenarios",
    "required",
    "try_access_policy",
]

#: The hospital's requirements, one sentence a role, as module 3 states them to the learner.
REQUIREMENTS: dict[str, str] = {
    "radiologist": (
        "for treatment, may query and read the studies of their own patients (care team) and of "
        "their section's worklist, and read any study under break-glass; may export for "
        "treatment only their own patients' studies; may read their worklist's studies for "
        "operations (peer review); nothing else"
    ),
    "technologist": (
        "for treatment, may query and read the studies of their worklist and of their own "
        "patients, and read any study under break-glass; never exports; nothing else"
    ),
    "referring_physician": (
        "for treatment, may query, read and export only their own patients' studies (care team), "
        "and read any study under break-glass; nothing else"
    ),
    "front_desk": (
        "may query any patient for treatment (scheduling) and for operations (registration); "
        "never reads or exports images"
    ),
    "billing": "may query any patient for payment; never reads or exports images",
    "pacs_admin": (
        "may query and read any study for operations (fixing misfiled studies); never exports"
    ),
    "researcher": (
        "for research, may query with an approval (IRB or privacy board waiver) on file, and "
        "export only with that approval and only de-identified copies; never reads in the PACS"
    ),
}

#: The requirements as rules ``(role, operation, purpose, condition)``: the module's reference.
REFERENCE_RULES: tuple[tuple[str, str, str, str], ...] = (
    ("radiologist", "query", "treatment", "care_team"),
    ("radiologist", "query", "treatment", "worklist"),
    ("radiologist", "read", "treatment", "care_team"),
    ("radiologist", "read", "treatment", "worklist"),
    ("radiologist", "read", "treatment", "break_glass"),
    ("radiologist", "export", "treatment", "care_team"),
    ("radiologist", "read", "operations", "worklist"),
    ("technologist", "query", "treatment", "worklist"),
    ("technologist", "query", "treatment", "care_team"),
    ("technologist", "read", "treatment", "worklist"),
    ("technologist", "read", "treatment", "care_team"),
    ("technologist", "read", "treatment", "break_glass"),
    ("referring_physician", "query", "treatment", "care_team"),
    ("referring_physician", "read", "treatment", "care_team"),
    ("referring_physician", "read", "treatment", "break_glass"),
    ("referring_physician", "export", "treatment", "care_team"),
    ("front_desk", "query", "treatment", "any"),
    ("front_desk", "query", "operations", "any"),
    ("billing", "query", "payment", "any"),
    ("pacs_admin", "query", "operations", "any"),
    ("pacs_admin", "read", "operations", "any"),
    ("researcher", "query", "research", "approved"),
    ("researcher", "export", "research", "approved & deidentified"),
)

#: What the learner starts from: the reference with one realistic mistake for each role.
FLAWED_POLICY = """\
# p, ROLE, ACTION, PURPOSE, CONDITION   (CONDITION: any, or facts joined by &)
p, radiologist, query, treatment, care_team
p, radiologist, query, treatment, worklist
p, radiologist, read, treatment, care_team
p, radiologist, read, treatment, worklist
p, radiologist, read, treatment, break_glass
p, radiologist, export, treatment, care_team
p, radiologist, export, treatment, break_glass
p, radiologist, read, operations, worklist
p, technologist, query, treatment, worklist
p, technologist, query, treatment, care_team
p, technologist, read, treatment, worklist
p, technologist, read, treatment, care_team
p, technologist, read, treatment, break_glass
p, technologist, export, treatment, worklist
p, referring_physician, query, treatment, any
p, referring_physician, read, treatment, any
p, referring_physician, read, treatment, break_glass
p, referring_physician, export, treatment, care_team
p, front_desk, query, treatment, any
p, front_desk, query, operations, any
p, front_desk, read, treatment, any
p, billing, query, payment, any
p, billing, read, payment, any
p, pacs_admin, query, operations, any
p, pacs_admin, read, operations, any
p, pacs_admin, export, operations, any
p, researcher, query, research, approved
p, researcher, export, research, any
"""


def _facts_of(operation: str) -> tuple[str, ...]:
    """The facts a request of ``operation`` can carry (``deidentified`` only on an export)."""
    return tuple(
        c.value
        for c in Condition
        if c is not Condition.DEIDENTIFIED or operation == Operation.EXPORT.value
    )


def required(role: str, operation: str, purpose: str, facts: frozenset[str]) -> bool:
    """Whether the hospital's requirements allow the request (the module's reference).

    >>> required("front_desk", "read", "treatment", frozenset({"care_team"}))
    False
    >>> required("researcher", "export", "research", frozenset({"approved", "deidentified"}))
    True
    """
    return any(
        rule[:3] == (role, operation, purpose) and holds(facts, rule[3]) for rule in REFERENCE_RULES
    )


@dataclass(frozen=True)
class Scenario:
    """One request: who asks (in words), their role, what, for which purpose, with which facts."""

    who: str
    role: str
    operation: str
    purpose: str
    facts: frozenset[str] = frozenset()

    @property
    def expected(self) -> bool:
        """Whether the hospital's requirements allow it."""
        return required(self.role, self.operation, self.purpose, self.facts)

    def describe(self) -> str:
        held = " & ".join(sorted(self.facts)) or "none"
        return f"{self.role} {self.operation} for {self.purpose} (facts: {held})"


def _s(who: str, role: str, operation: str, purpose: str, *facts: str) -> Scenario:
    return Scenario(who, role, operation, purpose, frozenset(facts))


#: The scenarios a learner sees and runs (:func:`try_access_policy`); grading uses others.
VISIBLE_SCENARIOS: tuple[Scenario, ...] = (
    _s("CT radiologist opens a CT on the section's worklist", "radiologist", "read", "treatment", "worklist"),
    _s("radiologist opens her own patient's CT, on her worklist too", "radiologist", "read", "treatment", "care_team", "worklist"),
    _s("radiologist sends her patient's CT to the patient's surgeon", "radiologist", "export", "treatment", "care_team", "worklist"),
    _s("radiologist, break-glass on, exports a trauma CT to a USB stick", "radiologist", "export", "treatment", "break_glass"),
    _s("radiologist peer-reviews a colleague's read on the worklist", "radiologist", "read", "operations", "worklist"),
    _s("radiologist opens a worklist study for her own research", "radiologist", "read", "research", "worklist"),
    _s("CT technologist checks a scan on the CT worklist", "technologist", "read", "treatment", "worklist"),
    _s("technologist burns a CD of a worklist study for the patient", "technologist", "export", "treatment", "worklist"),
    _s("technologist, break-glass on, opens a trauma study", "technologist", "read", "treatment", "break_glass"),
    _s("technologist opens a neighbour's study (not worklist, not care team)", "technologist", "read", "treatment"),
    _s("referring physician opens her own patient's MR", "referring_physician", "read", "treatment", "care_team"),
    _s("referring physician opens a patient who is not hers", "referring_physician", "read", "treatment"),
    _s("referring physician, break-glass on, opens an unknown ED patient's CT", "referring_physician", "read", "treatment", "break_glass"),
    _s("front desk looks up tomorrow's appointments", "front_desk", "query", "operations"),
    _s("front desk opens a patient's images to answer a question", "front_desk", "read", "treatment"),
    _s("billing finds the study it bills for", "billing", "query", "payment"),
    _s("billing opens the images to code a claim", "billing", "read", "payment"),
    _s("PACS admin opens a misfiled study to fix it", "pacs_admin", "read", "operations"),
    _s("PACS admin exports studies to a vendor's laptop", "pacs_admin", "export", "operations"),
    _s("researcher with an IRB waiver exports de-identified copies", "researcher", "export", "research", "approved", "deidentified"),
    _s("researcher with no approval exports identifiable studies", "researcher", "export", "research"),
    _s("researcher with an IRB waiver opens images in the PACS", "researcher", "read", "research", "approved"),
)  # fmt: skip


def hidden_scenarios(seed: int, draws: int = 6) -> list[Scenario]:
    """Fresh scenarios for every role, operation and purpose (no two alike).

    For each: no facts and every fact; for each requirement, the fewest facts that allow it and
    each near miss one fact short of them; then ``draws`` random sets of facts from ``seed``.
    """
    rng = random.Random(seed)  # noqa: S311 - which requests to ask, not a secret (the seed is one)
    made: list[Scenario] = []
    for role in Role:
        for operation in Operation:
            for purpose in Purpose:
                key = (role.value, operation.value, purpose.value)
                universe = _facts_of(operation.value)
                sets = {frozenset(), frozenset(universe)}
                for rule in REFERENCE_RULES:
                    if rule[:3] != key:
                        continue
                    needed = (
                        frozenset()
                        if rule[3] == ANY
                        else frozenset(p.strip() for p in rule[3].split("&"))
                    )
                    sets.add(needed)
                    sets.update(needed - {fact} for fact in needed)
                    sets.update(frozenset(universe) - {fact} for fact in needed)
                for _ in range(draws):
                    sets.add(frozenset(f for f in universe if rng.random() < 0.5))
                made.extend(
                    Scenario("hidden", *key, facts)
                    for facts in sorted(sets, key=lambda s: (len(s), sorted(s)))
                )
    rng.shuffle(made)
    return made


def _policy(policy: object) -> AccessPolicy:
    """The learner's policy text, loaded as the PACS loads one; a grading error if it cannot be."""
    if not isinstance(policy, str):
        raise GradingError(
            "my_policy must be the policy's text, a string of lines such as "
            f"'p, billing, query, payment, any'; it is {type(policy).__name__}"
        )
    try:
        return AccessPolicy(policy, policy_source="my_policy")
    except PolicyError as exc:
        raise GradingError(f"the PACS cannot use this policy: {exc}") from None


def _decided(policy: AccessPolicy, scenario: Scenario) -> bool:
    return policy.decide(
        scenario.role, scenario.operation, scenario.purpose, scenario.facts
    ).allowed


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
        f"\n{right} of {len(rows)} visible scenarios decided as the hospital requires. "
        "Grading asks other requests, made fresh: meet the requirements, not just these rows."
    )


#: The course's seed purpose for the hidden scenarios of module 3.
SEED_PURPOSE = "access-policy"


def check_access_policy(policy: object, seed: int | None = None) -> Credit:
    """Credit for each role whose every fresh hidden request ``policy`` decides as required.

    Parameters
    ----------
    policy
        The learner's policy text (``p, ROLE, ACTION, PURPOSE, CONDITION`` lines).
    seed
        The hidden scenarios' seed; by default the sealed run's (from the course secret and the
        submission), or, in a learner's kernel, a new one each time (practice).

    Raises
    ------
    GradingError
        When no role is right, or the policy is not text or cannot be loaded (naming the line).
    """
    from hipaa_lab.course.grading import SEALED, _credit

    loaded = _policy(policy)
    run = SEALED.get()
    practice = seed is None and run is None
    if seed is None:
        seed = run.seed(SEED_PURPOSE) if run is not None else secrets.randbelow(2**31)
    scenarios = hidden_scenarios(seed)
    wrong: dict[str, Scenario] = {}  # each role's wrong request with the fewest facts
    got: dict[str, bool] = {}
    for scenario in scenarios:
        decision = _decided(loaded, scenario)
        if decision == scenario.expected:
            continue
        before = wrong.get(scenario.role)
        if before is None or len(scenario.facts) < len(before.facts):
            wrong[scenario.role], got[scenario.role] = scenario, decision
    roles = [r.value for r in Role]
    met = len(roles) - len(wrong)
    on = " (practice requests, drawn afresh each time)" if practice else ""
    message = (
        f"{met} of {len(roles)} roles decided as the hospital requires on {len(scenarios)} "
        f"fresh requests{on}."
    )
    for role in roles:
        if role in wrong:
            s = wrong[role]
            did = "allows" if got[role] else "refuses"
            must = "refuse" if got[role] else "allow"
            message += (
                f"\n  - {role}: your policy {did} {s.describe()}; the hospital would {must} it"
            )
    return _credit(met / len(roles), message)


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
