"""Module 6's checks: when something goes wrong, who must be told, and by when.

Two exercises, both graded on **fresh incidents made at grading time** (from the sealed run's
secret seed, or a new seed drawn for practice in a learner's kernel), never on the ones the
notebook shows, so an answer copied from a visible card does not pass. What crosses to the
learner's function is plain data: one dict per incident.

- :func:`check_plan_notices`: ``plan_notices(card)`` gets a scenario card
  (:func:`scenario_cards`) and returns ``{"notification_required": bool, "recipients": [{"who",
  "state" (media only), "deadline"}]}``. Credit is the share of :data:`CARDS` fresh cards fully
  right (the verdict, each recipient, each deadline) against
  :func:`hipaa_lab.safeguards.breach.plan`. Every draw holds the boundary cards (exactly 500
  residents of one State, 501, a discovery on 31 December, an annual log due on 29 February, a
  business associate, a written and an oral law-enforcement delay) and the cards on which no
  notice is due (an exclusion, encryption with its key safe, a low-probability risk assessment).
  While the learner's function runs, :func:`~hipaa_lab.safeguards.breach.plan` refuses to do the
  work (:func:`no_plan`, applied here and, through the harness, in the sandbox).
- :func:`check_which_exclusion`: ``which_exclusion(incident)`` gets an incident's facts and
  returns the exclusion of 45 CFR 164.402 (definition of breach, paragraph (1)(i)-(iii)) that
  applies, or ``None``, on :data:`NARRATIVES` fresh incidents: one for each exclusion and near
  misses that fail one condition. Credit is the share of the incidents an exclusion covers
  answered right times the share of the near misses answered right (``None`` everywhere but
  once earns nothing).

Every name, place, date and number here is synthetic.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hipaa_lab.course._breach_key import _exclusion_of, expected_notices
from hipaa_lab.course.grading import PRACTICE, Credit, _credit, _one_run, kept_answer
from hipaa_lab.course.rules import call_learner, own_work
from hipaa_lab.course.sandbox import SandboxFunction
from hipaa_lab.errors import GradingError
from hipaa_lab.safeguards import breach
from hipaa_lab.safeguards.breach import BreachFacts, Exclusion, Factor, RiskAssessment

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "CARDS",
    "NARRATIVES",
    "VISIBLE_SEED",
    "card_facts",
    "check_plan_notices",
    "check_which_exclusion",
    "expected_notices",
    "incident_narratives",
    "no_plan",
    "plot_deadlines",
    "scenario_cards",
    "try_plan_notices",
    "try_which_exclusion",
]

#: How many fresh cards ``plan_notices`` is graded on (the boundary cards and a few more).
CARDS = 14
#: How many fresh incidents ``which_exclusion`` is graded on.
NARRATIVES = 6
#: The seed of the cards and incidents the notebook shows (grading never uses it).
VISIBLE_SEED = 6

_YEARS = tuple(range(2025, 2032))
_STATES = ("NY", "NJ", "PA", "CT", "MA", "OH", "TX", "CA", "FL", "IL", "PR", "DC", "VT", "GU")
_MODALITIES = ("CT", "MR", "ultrasound", "mammography", "X-ray", "PET-CT")


def _a(word: str) -> str:
    return ("an " if word[0] in "AEIOUaeiou" or word in ("MR", "X-ray") else "a ") + word


_FIRST = (
    "Avery",
    "Jordan",
    "Riley",
    "Casey",
    "Morgan",
    "Quinn",
    "Harper",
    "Rowan",
    "Sage",
    "Emery",
)
_LAST = ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Brightwater", "Castellano", "Novak", "Ferris")
_SITES = ("Northgate Imaging", "Lakeview Radiology", "Harbor Point Hospital", "Elm Street Clinic")
_VENDORS = ("NimbusPACS", "CloudRead", "Stratus Imaging Cloud")


def _name(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def _iso(day: dt.date) -> str:
    return day.isoformat()


def _day(rng: random.Random, year: int | None = None) -> dt.date:
    year = rng.choice(_YEARS) if year is None else year
    return dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(365))


def _counts(
    rng: random.Random, *, states: int = 1, each: tuple[int, int] = (2, 400)
) -> dict[str, int]:
    chosen = rng.sample(_STATES, states)
    return {s: rng.randint(*each) for s in chosen}


def _words(affected: Mapping[str, int]) -> str:
    parts = [f"{n} in {s}" for s, n in sorted(affected.items())]
    total = sum(affected.values())
    return f"{total} patient(s), residents of: " + ", ".join(parts)


# --------------------------------------------------------------------------- the cards


@dataclass
class _Card:
    kind: str
    title: str
    story: str
    discovered: dt.date
    affected: dict[str, int]
    encrypted: bool = False
    key_compromised: bool = False
    business_associate: bool = False
    exclusion: str | None = None
    risk_assessment: dict[str, str] | None = None
    law_enforcement: dict[str, str] | None = None
    extra_days: int = 3
    notes: list[str] = field(default_factory=list)

    def plain(self, number: int) -> dict[str, Any]:
        oral = (self.law_enforcement or {}).get("made")
        latest = max(self.discovered, dt.date.fromisoformat(oral) if oral else self.discovered)
        today = latest + dt.timedelta(days=self.extra_days)
        return {
            "card": number,
            "kind": self.kind,
            "title": self.title,
            "story": " ".join([self.story, *self.notes]),
            "today": _iso(today),
            "discovered": _iso(self.discovered),
            "affected": dict(sorted(self.affected.items())),
            "encrypted": self.encrypted,
            "key_compromised": self.key_compromised,
            "business_associate": self.business_associate,
            "exclusion": self.exclusion,
            "risk_assessment": self.risk_assessment,
            "law_enforcement": self.law_enforcement,
        }


def _lost_laptop(rng: random.Random, affected: dict[str, int], found: dt.date) -> _Card:
    who, modality = _name(rng), rng.choice(_MODALITIES)
    return _Card(
        "lost_laptop",
        "a lost laptop, not encrypted",
        f"{who}, a PACS administrator, took a laptop home with {modality} studies exported for a "
        f"teaching file (names, dates of birth, record numbers, images): {_words(affected)}. The "
        f"laptop was left on a train; its disk was not encrypted. The loss was discovered on "
        f"{_iso(found)}.",
        found,
        affected,
    )


def _usb_stick(rng: random.Random, affected: dict[str, int], found: dt.date) -> _Card:
    who = _name(rng)
    return _Card(
        "usb_stick",
        "a USB stick of exported studies, not encrypted",
        f"{who}, a research coordinator, copied identifiable studies of {_words(affected)} to a "
        "personal USB stick, which was not encrypted, and lost it at a conference. The loss was "
        f"discovered on {_iso(found)}.",
        found,
        affected,
    )


def _encrypted_laptop(rng: random.Random, affected: dict[str, int], found: dt.date) -> _Card:
    who = _name(rng)
    return _Card(
        "encrypted_laptop",
        "a stolen laptop, encrypted, key safe",
        f"{who}'s laptop was stolen from a car on {_iso(found)}. It held exported studies of "
        f"{_words(affected)}. Its disk was encrypted with a validated full-disk encryption product "
        "(AES-256, as NIST SP 800-111 describes); the passphrase was never written down and the "
        "recovery key is held by IT on a separate server, not compromised.",
        found,
        affected,
        encrypted=True,
    )


def _key_on_note(rng: random.Random, affected: dict[str, int], found: dt.date) -> _Card:
    who = _name(rng)
    return _Card(
        "key_on_note",
        "an encrypted laptop, passphrase on a sticky note",
        f"{who}'s encrypted laptop was stolen from the reading room on {_iso(found)}, the day it "
        f"was discovered. A sticky note with the disk passphrase was on the lid. It held studies "
        f"of {_words(affected)}.",
        found,
        affected,
        encrypted=True,
        key_compromised=True,
    )


def _cd_wrong_patient(rng: random.Random, affected: dict[str, int], found: dt.date) -> _Card:
    affected = {next(iter(affected)): 1}  # one patient
    patient = _name(rng)
    return _Card(
        "cd_wrong_patient",
        "a CD of studies mailed to the wrong patient",
        f"A CD with another patient's {rng.choice(_MODALITIES)} study and report was mailed to "
        f"{patient}, who opened it, viewed the images and called the department on "
        f"{_iso(found)}. The privacy official's risk assessment: the identifiers and the "
        "diagnosis were on the disc (not low), the recipient is a member of the public (not low), "
        "the images were viewed (not low), the CD was returned by courier (low).",
        found,
        affected,
        risk_assessment={
            Factor.NATURE_AND_EXTENT.value: "not_low",
            Factor.UNAUTHORIZED_PERSON.value: "not_low",
            Factor.ACQUIRED_OR_VIEWED.value: "not_low",
            Factor.MITIGATION.value: "low",
        },
    )


def _coworker(rng: random.Random, affected: dict[str, int], found: dt.date) -> _Card:
    affected = {next(iter(affected)): 1}  # one patient
    who = _name(rng)
    return _Card(
        "coworker_snooping",
        "a technologist viewing a coworker's study",
        f"The monthly access review found that {who}, a technologist, opened a coworker's MR "
        f"study out of curiosity; the coworker was not on any worklist of theirs. It was "
        f"discovered on {_iso(found)}. No exclusion applies: the access was intentional and "
        "outside the scope of the technologist's authority. No risk assessment has been made.",
        found,
        affected,
    )


def _wrong_study(rng: random.Random, affected: dict[str, int], found: dt.date) -> _Card:
    affected = {next(iter(affected)): 1}  # one patient
    who = _name(rng)
    return _Card(
        "wrong_study_good_faith",
        "a radiologist opening the wrong patient's study by mistake",
        f"Dr {who}, a radiologist reading the CT worklist, opened the study of a patient whose "
        "name differs by one letter from the patient she meant, saw the mismatch, closed it and "
        f"told nobody what she saw. Her own report of it reached the privacy office on "
        f"{_iso(found)}. The privacy official documented that exclusion (1)(i) applies: "
        "unintentional, in good faith, within the scope of her authority, no further use or "
        "disclosure.",
        found,
        affected,
        exclusion=Exclusion.UNINTENTIONAL_ACCESS.value,
    )


def _fax(rng: random.Random, affected: dict[str, int], found: dt.date) -> _Card:
    affected = {s: min(n, 12) for s, n in list(affected.items())[:1]}  # a few pages
    site = rng.choice(_SITES)
    return _Card(
        "fax_destroyed",
        "a fax to another hospital's radiology department",
        f"Radiology reports were faxed to the radiology department of {site}, another covered "
        f"entity, instead of the referring clinic; discovered on {_iso(found)}. The pages were "
        "received and read, so they could have been kept: exclusion (1)(iii) does not apply. "
        f"{site}'s privacy officer confirmed in writing that the pages were shredded the same "
        "day and not used or disclosed. The privacy official's risk assessment: only names, "
        "record numbers and findings (low), a covered entity bound by the Privacy Rule (low), "
        "read only to see they were misdirected (low), destroyed with a written attestation (low).",
        found,
        affected,
        risk_assessment={f.value: "low" for f in Factor},
    )


def _ba_bucket(rng: random.Random, affected: dict[str, int], found: dt.date) -> _Card:
    vendor = rng.choice(_VENDORS)
    return _Card(
        "business_associate",
        "a cloud vendor's misconfigured storage bucket",
        f"{vendor}, the cloud archive vendor that stores our studies under a business associate "
        f"agreement, found on {_iso(found)} that a storage bucket holding studies of "
        f"{_words(affected)} had been readable from the internet for three weeks; its logs show "
        "downloads. This card is the VENDOR's plan: what does the business associate owe?",
        found,
        affected,
        business_associate=True,
    )


_KINDS: dict[str, Callable[[random.Random, dict[str, int], dt.date], _Card]] = {
    "lost_laptop": _lost_laptop,
    "usb_stick": _usb_stick,
    "encrypted_laptop": _encrypted_laptop,
    "key_on_note": _key_on_note,
    "cd_wrong_patient": _cd_wrong_patient,
    "coworker_snooping": _coworker,
    "wrong_study_good_faith": _wrong_study,
    "fax_destroyed": _fax,
    "business_associate": _ba_bucket,
}
#: The kinds on which a breach of unsecured PHI is to be notified (a boundary may go on them).
_BREACHES = ("lost_laptop", "usb_stick", "key_on_note", "cd_wrong_patient", "coworker_snooping")
#: The breach kinds that involve many patients (the count boundaries go on them).
_MANY = ("lost_laptop", "usb_stick", "key_on_note")


def _written(rng: random.Random, card: _Card) -> None:
    made = card.discovered + dt.timedelta(days=rng.randint(1, 10))
    until = card.discovered + dt.timedelta(days=rng.randint(70, 120))
    card.law_enforcement = {"statement": "written", "made": _iso(made), "delay_until": _iso(until)}
    card.notes.append(
        f"On {_iso(made)} a police detective stated in writing that notice would impede a "
        f"criminal investigation and asked for a delay until {_iso(until)}."
    )
    card.title += ", with a written law-enforcement delay"


def _oral(rng: random.Random, card: _Card) -> None:
    made = card.discovered + dt.timedelta(days=rng.randint(35, 55))
    card.law_enforcement = {"statement": "oral", "made": _iso(made)}
    card.notes.append(
        f"On {_iso(made)} a police detective told the privacy official by telephone that notice "
        "would impede a criminal investigation; the privacy official documented the statement "
        "and the detective's identity. No written statement followed."
    )
    card.title += ", with an oral law-enforcement delay"


def _boundaries(rng: random.Random) -> list[_Card]:
    """The cards every draw holds: each boundary of the rule, and each way to owe no notice."""
    breaches, many = list(_BREACHES), list(_MANY)
    rng.shuffle(breaches)
    rng.shuffle(many)
    kinds, big = iter(breaches * 3), iter(many * 3)
    s1, s2 = rng.sample(_STATES, 2)
    cards = []
    # exactly 500 residents of one State: no media; 500 in total: the Secretary contemporaneously
    cards.append(_KINDS[next(big)](rng, {s1: 500}, _day(rng)))
    cards[-1].title += " (500 residents of one State)"
    # 501 in one State: media there (not in the other); the Secretary contemporaneously
    cards.append(_KINDS[next(big)](rng, {s1: 501, s2: rng.randint(1, 60)}, _day(rng)))
    cards[-1].title += " (501 residents of one State)"
    # more than 500 in total, none over 500 in one State: the Secretary, no media
    cards.append(
        _KINDS[next(big)](rng, {s1: rng.randint(260, 499), s2: rng.randint(260, 499)}, _day(rng))
    )
    cards[-1].title += " (over 500 in total, 500 or fewer in each State)"
    # discovered on 31 December: fewer than 500, the log is due 60 days after that year's end
    year = rng.choice(_YEARS)
    cards.append(_KINDS[next(kinds)](rng, _counts(rng, each=(1, 120)), dt.date(year, 12, 31)))
    cards[-1].title += " (discovered on 31 December)"
    # a year whose next year is a leap year: the annual log is due on 29 February
    leap_before = rng.choice([y for y in _YEARS if (y + 1) % 4 == 0])
    cards.append(_KINDS[next(kinds)](rng, _counts(rng, each=(1, 300)), _day(rng, leap_before)))
    cards[-1].title += " (the year before a leap year)"
    # law enforcement: a written statement, and an oral one
    cards.append(_KINDS[next(kinds)](rng, _counts(rng, states=rng.randint(1, 2)), _day(rng)))
    _written(rng, cards[-1])
    cards.append(_KINDS[next(kinds)](rng, _counts(rng, states=rng.randint(1, 2)), _day(rng)))
    _oral(rng, cards[-1])
    # a business associate, with enough affected that a covered entity would owe media notice
    cards.append(_ba_bucket(rng, {s1: rng.randint(501, 2000), s2: rng.randint(1, 400)}, _day(rng)))
    # no notice due: an exclusion, encryption with the key safe, a low-probability assessment
    cards.append(_wrong_study(rng, _counts(rng, each=(1, 1)), _day(rng)))
    cards.append(_encrypted_laptop(rng, _counts(rng, states=2, each=(200, 900)), _day(rng)))
    cards.append(_fax(rng, _counts(rng, each=(1, 40)), _day(rng)))
    return cards


def scenario_cards(seed: int, n: int = CARDS) -> list[dict[str, Any]]:
    """Realistic imaging incidents as plain dicts, the facts in words (``story``) and as fields.

    Every draw starts from the boundary cards (at least 11, shuffled in); ``n`` larger adds random
    ones. Fields: ``card`` (its number), ``kind``, ``title``, ``story``, ``today``,
    ``discovered`` (ISO dates), ``affected`` (State or jurisdiction -> residents affected),
    ``encrypted``, ``key_compromised``, ``business_associate`` (the card is the business
    associate's own plan), ``exclusion`` (the privacy official's documented finding: an
    :class:`~hipaa_lab.safeguards.breach.Exclusion` value, or None), ``risk_assessment`` (None, or
    each of the four factors -> ``"low"`` or ``"not_low"``), ``law_enforcement`` (None, or
    ``{"statement": "written", "made", "delay_until"}`` or ``{"statement": "oral", "made"}``).

    Examples
    --------
    >>> cards = scenario_cards(1)
    >>> len(cards), sorted(cards[0])[:4]
    (14, ['affected', 'business_associate', 'card', 'discovered'])
    >>> scenario_cards(1) == cards
    True
    """
    rng = random.Random(f"breach-cards:{seed}")  # noqa: S311 - synthetic; the seed is the secret
    made = _boundaries(rng)
    while len(made) < n:
        kind = rng.choice(list(_KINDS))
        card = _KINDS[kind](rng, _counts(rng, states=rng.randint(1, 3), each=(1, 700)), _day(rng))
        if kind in _BREACHES and rng.random() < 0.3:
            (_written if rng.random() < 0.5 else _oral)(rng, card)
        made.append(card)
    rng.shuffle(made)
    return [c.plain(i) for i, c in enumerate(made[: max(n, 1)], 1)]


def card_facts(card: Mapping[str, Any]) -> BreachFacts:
    """A card's facts as :class:`~hipaa_lab.safeguards.breach.BreachFacts`."""
    law = card.get("law_enforcement") or {}
    assessment = card.get("risk_assessment")
    return BreachFacts(
        discovered=dt.date.fromisoformat(card["discovered"]),
        affected=dict(card["affected"]),
        encrypted=bool(card["encrypted"]),
        key_compromised=bool(card["key_compromised"]),
        business_associate=bool(card["business_associate"]),
        law_enforcement_delay_until=(
            dt.date.fromisoformat(law["delay_until"]) if law.get("statement") == "written" else None
        ),
        law_enforcement_oral_statement=(
            dt.date.fromisoformat(law["made"]) if law.get("statement") == "oral" else None
        ),
        exclusion=card.get("exclusion"),  # BreachFacts converts the value to an Exclusion
        assessment=(
            RiskAssessment.of(
                **{f: (r, "as the card's risk assessment says") for f, r in assessment.items()}
            )
            if assessment
            else None
        ),
    )


_WHO = ("individuals", "media", "hhs", "covered_entity")


#: The most problems kept for one card (the message names three): a reply of a million unknown
#: recipients kept a million sentences per card, 3 GiB for the 14 cards of one grade.
_MOST_PROBLEMS = 10


def _problems(answer: object, expected: Mapping[str, Any]) -> list[str]:
    """What is wrong with an answer, in words that do not give the right one away."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("notification_required"), bool):
        return [
            "plan_notices must return a dict with 'notification_required' (True or False) and "
            "'recipients' (a list)"
        ]
    problems = []
    if answer["notification_required"] != expected["notification_required"]:
        problems.append("the verdict (notification required or not)")
    recipients = answer.get("recipients", [])
    if not isinstance(recipients, list) or not all(isinstance(r, Mapping) for r in recipients):
        return [*problems, "'recipients' must be a list of dicts {'who', 'state', 'deadline'}"]
    want = {(r["who"], r.get("state")): r["deadline"] for r in expected["recipients"]}
    got: dict[tuple[Any, Any], Any] = {}
    for r in recipients:
        who = r.get("who")
        if who not in _WHO:
            problems.append(
                f"unknown recipient {kept_answer(who)!r:.60} (use one of: {', '.join(_WHO)})"
            )
            if len(problems) >= _MOST_PROBLEMS:  # a card's problems, not a million of them
                break
            continue
        state = r.get("state") if who == "media" else None
        if (who, state) in got:
            problems.append(f"the same notice to {who} listed twice")
            if len(problems) >= _MOST_PROBLEMS:
                break
        got[(who, state)] = r.get("deadline")
    for key in sorted(want.keys() - got.keys(), key=str):
        problems.append(f"no notice to {key[0]}")
    for key in sorted(got.keys() - want.keys(), key=str):
        problems.append(
            f"a notice to {key[0]}" + (f" ({key[1]})" if key[1] else "") + " that is not due"
        )
    for key in sorted(want.keys() & got.keys(), key=str):
        if got[key] != want[key]:
            problems.append(f"the deadline for {key[0]}")
    return problems[:_MOST_PROBLEMS]


@dataclass
class CardResult:
    """What ``plan_notices`` got wrong on each fresh card (an empty list: fully right)."""

    titles: list[str]
    problems: list[list[str]]
    verdicts: list[object]
    practice: bool = True

    def right(self) -> int:
        return sum(not p for p in self.problems)


def grade_plan_notices(
    function: Callable[..., Any] | SandboxFunction, seed: int | None = None
) -> CardResult:
    """Run ``plan_notices(card)`` on :data:`CARDS` fresh cards and compare with ``plan``."""

    def compute(run_seed: int, practice: bool) -> CardResult:
        result = CardResult([], [], [], practice=practice)
        for card in scenario_cards(run_seed):
            expected = expected_notices(card)  # before the learner's call, outside its rule
            result.titles.append(card["title"])
            try:
                answer = call_learner(function, "plan_notices", card, on="card")
            except GradingError as exc:
                if "not written" in str(exc):
                    raise
                result.problems.append([str(exc)])
                result.verdicts.append(None)
                continue
            result.problems.append(_problems(answer, expected))
            result.verdicts.append(
                kept_answer(answer.get("notification_required"))
                if isinstance(answer, Mapping)
                else None
            )
        return result

    return _one_run(function, "breach-cards", seed, compute)


def check_plan_notices(
    function: Callable[..., Any] | SandboxFunction, seed: int | None = None
) -> Credit:
    """Credit for the share of fresh cards on which ``plan_notices`` is fully right: the verdict,
    each recipient and each deadline, as :func:`~hipaa_lab.safeguards.breach.plan` decides.

    A function that never requires notification earns nothing.

    Raises
    ------
    GradingError
        When it earns nothing; the message names the kinds of card it got wrong and what was
        wrong (never the right recipients or dates).
    """
    result = grade_plan_notices(function, seed)
    on = f" (on {PRACTICE.replace('studies', 'cards')})" if result.practice else ""
    n = len(result.titles)
    message = f"plan_notices was fully right on {result.right()} of {n} fresh cards{on}."
    wrong = [(t, p) for t, p in zip(result.titles, result.problems, strict=True) if p]
    for title, problems in wrong[:6]:
        message += f"\n  - {title}: {'; '.join(problems[:3])}"
    if len(wrong) > 6:
        message += f"\n  - and {len(wrong) - 6} more"
    if all(v is False for v in result.verdicts):
        return _credit(0.0, message + "\nIt never requires notification: that earns nothing.")
    return Credit(1.0, message) if not wrong else _credit(result.right() / n, message)


def try_plan_notices(function: Callable[..., Any], cards: list[dict[str, Any]]) -> None:
    """Print, for each (visible) card, whether ``function`` is right and what it got wrong.

    It runs under the exercise's rule (:func:`no_plan`), as the grade does.
    """
    right = 0
    for card in cards:
        expected = expected_notices(card)
        try:
            with no_plan():
                answer = function(copy.deepcopy(card))
            problems = _problems(answer, expected)
        except Exception as exc:  # the learner's code may raise anything
            problems = [f"raised {type(exc).__name__}: {exc}"]
        right += not problems
        mark = "right" if not problems else "WRONG: " + "; ".join(problems)
        print(f"card {card['card']:>2} {card['title'][:70]:70}  {mark}")
    print(f"\n{right} of {len(cards)} right. The grade uses fresh cards, made when you submit.")


def plot_deadlines(card: Mapping[str, Any], ax: Axes | None = None) -> Axes:
    """A card's notices on a timeline of days after discovery: each notice's deadline, the
    60-day outer limit of 164.404(b), and (shaded) a law-enforcement delay before which no
    notice goes out (164.412)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 2.8))
    p = breach.plan(card_facts(card), as_of=dt.date.fromisoformat(card["today"]))
    start = dt.date.fromisoformat(card["discovered"])
    ax.axvline(0, color="black")
    ax.axvline(breach.DAYS, color="grey", ls="--")
    ax.annotate(
        f"discovered {start.isoformat()}", (0, 0.2), xytext=(4, 0), textcoords="offset points"
    )
    top = len(p.recipients) + 0.6
    ax.annotate(f"day {breach.DAYS}", (breach.DAYS, top), xytext=(4, 0), textcoords="offset points")
    rows = [(n.who.value + (f" ({n.state})" if n.state else ""), n) for n in p.recipients]
    for y, (label, n) in enumerate(rows, 1):
        due = (n.deadline - start).days
        if n.not_before is not None:
            ax.plot([0, (n.not_before - start).days], [y, y], color="tab:orange", lw=8, alpha=0.4)
        ax.plot([0, due], [y, y], color="tab:blue", lw=3)
        ax.plot([due], [y], "o", color="tab:red")
        ax.annotate(
            f"{label}: {n.deadline.isoformat()}",
            (due, y),
            xytext=(6, -4),
            textcoords="offset points",
        )
    if not rows:
        ax.annotate(
            "no notification required", (0, 0.6), xytext=(10, 0), textcoords="offset points"
        )
    ax.set_xlabel("calendar days after discovery")
    ax.set_xlim(-5, max([breach.DAYS, *((n.deadline - start).days for _, n in rows)]) * 1.35)
    ax.set_yticks([])
    ax.set_ylim(0, len(rows) + 1)
    ax.set_title(f"card {card.get('card', '')}: {card.get('title', '')}"[:100])
    return ax


# --------------------------------------------------------------------------- exercise 2


def _incident(story: str, event: str, **facts: bool) -> dict[str, Any]:
    base = {
        "by_workforce": True,
        "unintentional": True,
        "good_faith": True,
        "within_scope": True,
        "recipient_authorized_same_entity": False,
        "recipient_could_retain": True,
        "further_use_or_disclosure": False,
    }
    return {"story": story, "event": event, **base, **facts}


def _narratives(rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(one incident for each exclusion, near misses that fail one condition)."""
    site, mod = rng.choice(_SITES), rng.choice(_MODALITIES)
    a, b, c, d, e, f, g, h, i = (_name(rng) for _ in range(9))
    yes = [
        _incident(
            f"Dr {a}, a radiologist, opened the wrong patient's {mod} study from the worklist by "
            "mistake (two similar names), closed it at once and told no one.",
            "access",
        ),
        _incident(
            f"{b}, a technologist, e-mailed {_a(mod)} report meant for one of our radiologists to "
            f"Dr {c}, another radiologist on our staff, who deleted it unread and told the sender.",
            "disclosure",
            recipient_authorized_same_entity=True,
        ),
        _incident(
            f"At the front desk, {d} handed a patient a CD of another patient's {mod} study, saw "
            "the wrong label and took it back at once, before the patient had stepped away from "
            "the desk; the disc never left the desk.",
            "disclosure",
            recipient_could_retain=False,
        ),
    ]
    near = [
        _incident(
            f"{e}, a technologist, opened a coworker's {mod} study out of curiosity; the coworker "
            "is not on any of the technologist's worklists.",
            "access",
            unintentional=False,
            good_faith=False,
            within_scope=False,
        ),
        _incident(
            f"Dr {f}, a radiologist, opened the wrong patient's {mod} study by mistake, recognized "
            "a neighbour, and told a friend about the findings that evening.",
            "access",
            further_use_or_disclosure=True,
        ),
        _incident(
            f"{g}, a technologist, e-mailed {_a(mod)} report to Dr {i} at {site}, an unaffiliated "
            "practice that does not treat this patient, instead of to our radiologist; Dr "
            f"{i} read it before noticing.",
            "disclosure",
        ),
        _incident(
            f"A CD of a patient's {mod} study was mailed to the wrong address; the recipient kept "
            "it for a week before posting it back.",
            "disclosure",
        ),
        _incident(
            f"{h}, a billing clerk, e-mailed {_a(mod)} report to the wrong person in our own billing "
            "office, who is authorized to see it, and who then forwarded it to a relative outside "
            "the hospital.",
            "disclosure",
            recipient_authorized_same_entity=True,
            further_use_or_disclosure=True,
        ),
    ]
    return yes, near


def incident_narratives(seed: int, n: int = NARRATIVES) -> list[dict[str, Any]]:
    """Incidents as plain dicts: ``story`` in words and the facts the exclusions turn on.

    Fields: ``event`` (``"access"``: an acquisition, access or use inside the organisation, or
    ``"disclosure"``), ``by_workforce`` (by a workforce member or person acting under the
    organisation's authority, authorized to access PHI), ``unintentional``, ``good_faith``,
    ``within_scope`` (of that person's authority), ``recipient_authorized_same_entity`` (the
    recipient is authorized to access PHI at the same covered entity, business associate or
    organized health care arrangement), ``recipient_could_retain`` (the recipient could
    reasonably have retained the information), ``further_use_or_disclosure`` (a further use or
    disclosure the Privacy Rule does not permit followed). Every draw holds one incident for each
    exclusion; the rest are near misses.

    >>> [sorted(i)[:3] for i in incident_narratives(1)][0]
    ['by_workforce', 'event', 'further_use_or_disclosure']
    """
    rng = random.Random(f"breach-exclusions:{seed}")  # noqa: S311 - synthetic
    yes, near = _narratives(rng)
    chosen = yes + rng.sample(near, max(0, min(len(near), n - len(yes))))
    rng.shuffle(chosen)
    return [{"incident": i, **c} for i, c in enumerate(chosen[:n], 1)]


@dataclass
class ExclusionResult:
    expected: list[str | None]
    answers: list[object]
    practice: bool = True

    def right(self) -> int:
        return sum(a == e for a, e in zip(self.answers, self.expected, strict=True))

    def share(self, excluded: bool) -> float:
        """The share of the incidents an exclusion covers (``excluded``), or none does, answered
        right."""
        mine = [
            a == e
            for a, e in zip(self.answers, self.expected, strict=True)
            if (e is not None) is excluded
        ]
        return sum(mine) / len(mine) if mine else 1.0

    def fraction(self) -> float:
        """The share of excluded incidents right times the share of the others right: answering
        None everywhere but once earns nothing."""
        return self.share(True) * self.share(False)


def _answer(returned: object) -> object:
    returned = kept_answer(returned)  # never the whole of a huge answer: see kept_answer
    if isinstance(returned, str) and returned.strip().lower() == "none":
        return None
    return returned.strip().lower() if isinstance(returned, str) else returned


def grade_which_exclusion(
    function: Callable[..., Any] | SandboxFunction, seed: int | None = None
) -> ExclusionResult:
    """Run ``which_exclusion(incident)`` on :data:`NARRATIVES` fresh incidents."""

    def compute(run_seed: int, practice: bool) -> ExclusionResult:
        result = ExclusionResult([], [], practice=practice)
        for incident in incident_narratives(run_seed):
            result.expected.append(_exclusion_of(incident))
            try:
                result.answers.append(
                    _answer(call_learner(function, "which_exclusion", incident, on="incident"))
                )
            except GradingError as exc:
                if "not written" in str(exc):
                    raise
                result.answers.append(str(exc))
        return result

    return _one_run(function, "breach-exclusions", seed, compute)


def check_which_exclusion(
    function: Callable[..., Any] | SandboxFunction, seed: int | None = None
) -> Credit:
    """Credit for the fresh incidents on which ``which_exclusion`` names the exclusion that
    applies (or None): the share of those an exclusion covers answered right, times the share of
    the near misses answered right. Giving every incident the same answer earns nothing."""
    result = grade_which_exclusion(function, seed)
    on = f" (on {PRACTICE.replace('studies', 'incidents')})" if result.practice else ""
    n = len(result.expected)
    message = f"which_exclusion was right on {result.right()} of {n} fresh incidents{on}."
    valid = {e.value for e in Exclusion} | {None}
    odd = [a for a in result.answers if a not in valid]
    if odd:
        message += (
            f" It answered {odd[0]!r:.120}: answer one of {', '.join(e.value for e in Exclusion)} "
            "or None."
        )
    missed = {e for a, e in zip(result.answers, result.expected, strict=True) if a != e}
    if None in missed:
        message += (
            " It found an exclusion where a condition fails (every condition must hold, and no "
            "further impermissible use or disclosure may follow)."
        )
    if missed - {None}:
        message += " It missed an exclusion whose conditions all hold."
    if len({repr(a) for a in result.answers}) == 1:
        return _credit(
            0.0, message + " It gave every incident the same answer: that earns nothing."
        )
    return Credit(1.0, message) if result.right() == n else _credit(result.fraction(), message)


def try_which_exclusion(function: Callable[..., Any], incidents: list[dict[str, Any]]) -> None:
    """Print, for each (visible) incident, what ``function`` answered and whether it is right."""
    right = 0
    for incident in incidents:
        expected = _exclusion_of(incident)
        try:
            with no_plan():
                answer = _answer(function(copy.deepcopy(incident)))
        except Exception as exc:  # the learner's code may raise anything
            answer = f"raised {type(exc).__name__}: {exc}"
        right += answer == expected
        mark = "right" if answer == expected else f"WRONG: expected {expected}"
        print(f"incident {incident['incident']}: you said {answer!s:24} {mark}")
    print(
        f"\n{right} of {len(incidents)} right. The grade uses fresh incidents, made when you submit."
    )


# --------------------------------------------------------------------------- the exercise's rule


def no_plan() -> contextlib.AbstractContextManager[None]:
    """While ``plan_notices`` or ``which_exclusion`` runs, the package's breach planner refuses
    to do the work (:data:`hipaa_lab.course.rules.RULES`). A reminder of the exercise's rule, not
    a seal (see :mod:`hipaa_lab.course.rules`)."""
    return own_work("plan_notices")
