"""Breach notification: is an incident a breach of unsecured PHI, and who must be told by when.

The HIPAA Breach Notification Rule is 45 CFR Part 164, Subpart D (164.400-164.414). Given the
facts of an incident (:class:`BreachFacts`), :func:`plan` returns a :class:`Plan`: whether
notification is required, each notice due (:class:`Notice`: to whom, by when, why, under which
paragraph) and the reasoning, one step a line, each line ending with its citation. The steps:

1. **Breach?** An impermissible acquisition, access, use or disclosure of PHI is *not* a breach
   when one of the three exclusions of 164.402 (definition of breach, paragraph (1)(i)-(iii))
   applies (:class:`Exclusion`). Otherwise it is *presumed* a breach (paragraph (2)) unless a risk
   assessment of at least the four factors (2)(i)-(iv) (:class:`Factor`,
   :class:`RiskAssessment`) demonstrates a low probability that the PHI has been compromised.
2. **Unsecured?** Notification duties apply only to breaches of *unsecured* PHI (164.404(a)(1),
   164.406(a), 164.408(a), 164.410(a)(1)). PHI encrypted as the Secretary's guidance specifies,
   with the key not compromised, is secured ("unsecured protected health information", 164.402):
   no notification is required. Encrypted with a compromised key is unsecured. (The guidance's
   other method is destruction: paper and film shredded or destroyed so the PHI cannot be read or
   reconstructed, redaction not counting; electronic media cleared, purged or destroyed per NIST
   SP 800-88. This module models encryption only.)
3. **Who, by when.** Counted from the day of discovery (164.404(a)(2)), in calendar days:

   - individuals: without unreasonable delay, no later than 60 days (164.404(b));
   - prominent media outlets of each State or jurisdiction with *more than* 500 affected residents
     (500 is not enough; counted per State, not in total): the same deadline (164.406(a), (b));
   - the Secretary (HHS): for 500 or more individuals in total, contemporaneously with the
     individuals' notice (164.408(b)); for fewer, logged and reported no later than 60 days after
     the end of the calendar year in which the breach was discovered, that is 31 December plus
     60 days: 1 March, or 29 February when the next year is a leap year (164.408(c));
   - a business associate notifies only the covered entity, no later than 60 days after its own
     discovery (164.410(a), (b)); the covered entity then owes the notices above.

4. **Law-enforcement delay** (164.412), for every notice of this subpart. A written statement
   that specifies a period delays notice for that period (164.412(a)); an oral statement, which
   must be documented with the official's identity, delays it no longer than 30 days from the
   statement unless a written statement comes within that time (164.412(b)). This kit's model, the
   conservative one: no notice goes out before the delay ends, and each notice is due by the
   *later* of its ordinary deadline and the end of the delay. The rule only says to "delay such
   notification ... for the time period specified"; for a statement made within the 60 days, a
   reading that adds the whole delay to the 60 days gives no earlier a date, so meeting the date
   given here meets that reading too.

"Without unreasonable delay" is the standard; 60 days is the outer limit, not a grace period
(164.404(b)). The covered entity or business associate bears the burden of proof that notices
were made or that an incident was not a breach (164.414(b)): keep the documentation.

Examples
--------
>>> import datetime as dt
>>> facts = BreachFacts(discovered=dt.date(2026, 11, 2), affected={"NY": 501, "NJ": 40})
>>> p = plan(facts, as_of=dt.date(2026, 12, 7))
>>> p.notification_required
True
>>> [(n.who.value, n.state, n.deadline.isoformat()) for n in p.recipients]
[('individuals', None, '2027-01-01'), ('media', 'NY', '2027-01-01'), ('hhs', None, '2027-01-01')]
>>> plan(BreachFacts(discovered=dt.date(2026, 11, 2), affected={"NY": 40}, encrypted=True),
...      as_of=dt.date(2026, 12, 7)).recipients
[]
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from hipaa_lab.errors import BreachInputError

__all__ = [
    "BreachFacts",
    "Exclusion",
    "Factor",
    "FactorFinding",
    "INDIVIDUAL_NOTICE_CONTENTS",
    "JURISDICTIONS",
    "Notice",
    "Plan",
    "Recipient",
    "Risk",
    "RiskAssessment",
    "plan",
]

#: Calendar days after discovery for individuals, media, contemporaneous HHS and a business
#: associate's notice (164.404(b), 164.406(b), 164.408(b), 164.410(b)); and after the end of the
#: calendar year for the HHS log of smaller breaches (164.408(c)).
DAYS = 60
#: The longest delay an oral law-enforcement statement allows (164.412(b)).
ORAL_DELAY_DAYS = 30
#: More than this many residents of one State or jurisdiction: media notice there (164.406(a)).
MEDIA_THRESHOLD = 500
#: This many individuals or more in total: the Secretary is told contemporaneously (164.408(b)).
HHS_THRESHOLD = 500

#: The 50 States, the District of Columbia and the territories, by USPS code: the "State or
#: jurisdiction" of 164.406 (Puerto Rico, Guam, the U.S. Virgin Islands, American Samoa, the
#: Northern Mariana Islands).
_CODES = (
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR GU VI AS MP"
)
JURISDICTIONS = frozenset(_CODES.split())

#: What the notice to individuals includes, as far as possible, in plain language (164.404(c)).
INDIVIDUAL_NOTICE_CONTENTS = (
    "(A) a brief description of what happened, with the date of the breach and the date of its "
    "discovery, if known",
    "(B) the types of unsecured PHI involved (such as full name, Social Security number, date of "
    "birth, home address, account number, diagnosis, disability code)",
    "(C) any steps individuals should take to protect themselves from potential harm",
    "(D) what the covered entity is doing to investigate, to mitigate harm to individuals and to "
    "protect against further breaches",
    "(E) contact procedures to ask questions or learn more, which include a toll-free telephone "
    "number, an e-mail address, web site or postal address",
)

_RULE = "45 CFR 164.402"
_E = TypeVar("_E", bound=enum.Enum)


def _cfr(*paragraphs: str) -> str:
    return "45 CFR " + "; ".join(paragraphs)


class Recipient(str, enum.Enum):
    """Who receives a notice."""

    INDIVIDUALS = "individuals"  #: 164.404
    MEDIA = "media"  #: 164.406, one notice per State or jurisdiction
    HHS = "hhs"  #: the Secretary, 164.408
    COVERED_ENTITY = "covered_entity"  #: from a business associate, 164.410


class Exclusion(str, enum.Enum):
    """The three exclusions from the definition of breach (164.402, paragraph (1)(i)-(iii))."""

    #: (1)(i) unintentional acquisition, access or use by a workforce member or person acting under
    #: the authority of a covered entity or business associate, in good faith, within the scope of
    #: authority, and no further impermissible use or disclosure.
    UNINTENTIONAL_ACCESS = "unintentional_access"
    #: (1)(ii) inadvertent disclosure by a person authorized to access PHI at a covered entity or
    #: business associate to another person authorized at the same covered entity, business
    #: associate or organized health care arrangement, and no further impermissible use or
    #: disclosure.
    INADVERTENT_DISCLOSURE = "inadvertent_disclosure"
    #: (1)(iii) a good-faith belief that the unauthorized recipient would not reasonably have been
    #: able to retain the information.
    UNABLE_TO_RETAIN = "unable_to_retain"


_EXCLUSIONS: dict[Exclusion, tuple[str, str]] = {
    Exclusion.UNINTENTIONAL_ACCESS: (
        "(1)(i)",
        "an unintentional acquisition, access or use by a workforce member or a person acting "
        "under the authority of a covered entity or business associate, made in good faith and "
        "within the scope of authority, with no further use or disclosure not permitted under "
        "Subpart E",
    ),
    Exclusion.INADVERTENT_DISCLOSURE: (
        "(1)(ii)",
        "an inadvertent disclosure by a person authorized to access PHI at a covered entity or "
        "business associate to another person authorized to access PHI at the same covered "
        "entity, business associate or organized health care arrangement, with no further use "
        "or disclosure not permitted under Subpart E",
    ),
    Exclusion.UNABLE_TO_RETAIN: (
        "(1)(iii)",
        "a disclosure where the covered entity or business associate has a good-faith belief "
        "that the unauthorized recipient would not reasonably have been able to retain the "
        "information",
    ),
}


class Factor(str, enum.Enum):
    """The four factors a risk assessment weighs at least (164.402, breach, paragraph (2))."""

    #: (2)(i) the nature and extent of the PHI, including the types of identifiers and the
    #: likelihood of re-identification.
    NATURE_AND_EXTENT = "nature_and_extent"
    #: (2)(ii) the unauthorized person who used the PHI or to whom it was disclosed.
    UNAUTHORIZED_PERSON = "unauthorized_person"
    #: (2)(iii) whether the PHI was actually acquired or viewed.
    ACQUIRED_OR_VIEWED = "acquired_or_viewed"
    #: (2)(iv) the extent to which the risk to the PHI has been mitigated.
    MITIGATION = "mitigation"


_FACTORS: dict[Factor, tuple[str, str]] = {
    Factor.NATURE_AND_EXTENT: (
        "(2)(i)",
        "the nature and extent of the PHI, including the types of identifiers and the "
        "likelihood of re-identification",
    ),
    Factor.UNAUTHORIZED_PERSON: (
        "(2)(ii)",
        "the unauthorized person who used the PHI or to whom it was disclosed",
    ),
    Factor.ACQUIRED_OR_VIEWED: ("(2)(iii)", "whether the PHI was actually acquired or viewed"),
    Factor.MITIGATION: ("(2)(iv)", "the extent to which the risk to the PHI has been mitigated"),
}


class Risk(str, enum.Enum):
    """What one factor of a risk assessment points to."""

    LOW = "low"  #: this factor supports a low probability that the PHI was compromised
    NOT_LOW = "not_low"  #: it does not (or it is unknown)


@dataclass(frozen=True)
class FactorFinding:
    """One factor of a risk assessment: what it points to, and why (the note).

    Parameters
    ----------
    factor : Factor or str
        Which of the four factors of 164.402, paragraph (2).
    risk : Risk or str
        ``"low"`` when this factor supports a low probability of compromise, else ``"not_low"``.
    note : str
        The facts behind it, in a sentence (required: the assessment must be documented,
        164.414(b)).
    """

    factor: Factor
    risk: Risk
    note: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "factor", _enum(Factor, self.factor, "factor"))
        object.__setattr__(self, "risk", _enum(Risk, self.risk, "risk"))
        if not isinstance(self.note, str) or not self.note.strip():
            raise BreachInputError(
                f"factor {self.factor.value}: a note saying why is required (the assessment is "
                "documented, 45 CFR 164.414(b))"
            )


@dataclass(frozen=True)
class RiskAssessment:
    """A risk assessment of the four factors of 164.402 (breach, paragraph (2)(i)-(iv)).

    The rule asks for an overall judgement on at least these factors. This kit teaches the
    conservative reading: the probability of compromise is low only when every factor points to
    low risk; any factor that does not, or is unknown, leaves the presumption of breach standing.

    Parameters
    ----------
    findings : tuple of FactorFinding
        Each of the four factors exactly once.

    Examples
    --------
    >>> a = RiskAssessment.of(
    ...     nature_and_extent=("low", "a worklist page: names and accession numbers, no images"),
    ...     unauthorized_person=("low", "a nurse of our own hospital, bound by the Privacy Rule"),
    ...     acquired_or_viewed=("low", "returned unread, by her written attestation"),
    ...     mitigation=("low", "the page was shredded the same day"),
    ... )
    >>> a.low_probability
    True
    """

    findings: tuple[FactorFinding, ...]

    def __post_init__(self) -> None:
        findings = tuple(self.findings)
        object.__setattr__(self, "findings", findings)
        seen = [f.factor for f in findings if isinstance(f, FactorFinding)]
        if len(seen) != len(findings):
            raise BreachInputError("a risk assessment holds FactorFinding objects only")
        missing = [f.value for f in Factor if f not in seen]
        twice = sorted({f.value for f in seen if seen.count(f) > 1})
        if missing or twice:
            raise BreachInputError(
                "a risk assessment weighs each of the four factors of 45 CFR 164.402 (breach, "
                f"paragraph (2)) once; missing: {', '.join(missing) or 'none'}; given twice: "
                f"{', '.join(twice) or 'none'} (factors: {', '.join(f.value for f in Factor)})"
            )
        order = list(Factor)
        object.__setattr__(
            self, "findings", tuple(sorted(findings, key=lambda f: order.index(f.factor)))
        )

    @classmethod
    def of(cls, **factors: tuple[Risk | str, str]) -> RiskAssessment:
        """Build one from keyword arguments ``factor=(risk, note)``, a factor's value as name."""
        return cls(
            tuple(
                FactorFinding(_enum(Factor, name, "factor"), _enum(Risk, risk, "risk"), note)
                for name, (risk, note) in factors.items()
            )
        )

    @property
    def low_probability(self) -> bool:
        """Whether the assessment demonstrates a low probability that the PHI was compromised."""
        return all(f.risk is Risk.LOW for f in self.findings)

    @property
    def reasoning(self) -> list[str]:
        """One line a factor, then the result, each with its citation."""
        lines = []
        for f in self.findings:
            para, what = _FACTORS[f.factor]
            lines.append(
                f"Factor {para}, {what}: {f.risk.value.replace('_', ' ')} risk: {f.note} "
                f"({_RULE}, breach, paragraph {para})"
            )
        if self.low_probability:
            lines.append(
                "Every factor points to low risk: the assessment demonstrates a low probability "
                f"that the PHI has been compromised, so this is not a breach ({_RULE}, breach, "
                "paragraph (2)); keep the assessment (45 CFR 164.414(b))"
            )
        else:
            high = ", ".join(_FACTORS[f.factor][0] for f in self.findings if f.risk is not Risk.LOW)
            lines.append(
                f"Factor(s) {high} do not point to low risk: a low probability of compromise is not "
                f"demonstrated and the presumption of breach stands ({_RULE}, breach, paragraph (2))"
            )
        return lines


@dataclass(frozen=True)
class BreachFacts:
    """The facts of an incident: an acquisition, access, use or disclosure of PHI not permitted
    under Subpart E (the Privacy Rule).

    Parameters
    ----------
    discovered : datetime.date
        The day of discovery: the first day the breach was known, or by exercising reasonable
        diligence would have been known, to the covered entity (or business associate), counting
        what any workforce member or agent other than the person who committed it knew
        (164.404(a)(2), 164.410(a)(2)).
    affected : mapping of str to int
        Affected individuals by the State or jurisdiction they reside in, as USPS codes
        (``{"NY": 600, "PR": 12}``; see :data:`JURISDICTIONS`); each count at least 1.
    encrypted : bool
        The PHI was encrypted as the Secretary's guidance specifies: encryption as the Security
        Rule defines it (164.304), by processes consistent with NIST SP 800-111 at rest, or
        complying with SP 800-52, 800-77, 800-113 or otherwise FIPS 140-2 validated in motion.
    key_compromised : bool
        The decryption key or process was compromised too (only with ``encrypted``); the
        guidance asks that keys be kept on a device or at a location apart from the data.
    business_associate : bool
        The plan is a business associate's (its one notice goes to the covered entity).
    law_enforcement_delay_until : datetime.date, optional
        A law-enforcement official's *written* statement asks for a delay until this day
        (164.412(a)). It also stands for a written statement that followed an oral one within
        its 30 days.
    law_enforcement_oral_statement : datetime.date, optional
        The day a law-enforcement official *orally* asked for a delay (164.412(b)): notice is
        delayed no longer than 30 days from it. Ignored when a written statement is given.
    exclusion : Exclusion or str, optional
        An exclusion of 164.402 (breach, paragraph (1)) that applies, all its conditions met.
    assessment : RiskAssessment, optional
        The four-factor risk assessment (164.402, breach, paragraph (2)).
    """

    discovered: dt.date
    affected: Mapping[str, int]
    encrypted: bool = False
    key_compromised: bool = False
    business_associate: bool = False
    law_enforcement_delay_until: dt.date | None = None
    law_enforcement_oral_statement: dt.date | None = None
    exclusion: Exclusion | None = None
    assessment: RiskAssessment | None = None

    def __post_init__(self) -> None:
        _date(self.discovered, "the discovery date")
        if not isinstance(self.affected, Mapping) or not self.affected:
            raise BreachInputError(
                "affected: give the affected individuals by State or jurisdiction, e.g. "
                "{'NY': 600}; a breach involves at least one individual"
            )
        counts: dict[str, int] = {}
        for code, n in self.affected.items():
            state = code.strip().upper() if isinstance(code, str) else code
            if state not in JURISDICTIONS:
                raise BreachInputError(
                    f"unknown State or jurisdiction {code!r}; expected a USPS code of one of the "
                    "50 States, DC, PR, GU, VI, AS or MP"
                )
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise BreachInputError(
                    f"{state}: {n!r} affected individuals; expected a whole number, at least 1 "
                    "(leave out a State with nobody affected)"
                )
            if state in counts:
                raise BreachInputError(f"{state} is given twice; give each State once")
            counts[state] = n
        object.__setattr__(self, "affected", MappingProxyType(dict(sorted(counts.items()))))
        for name in ("encrypted", "key_compromised", "business_associate"):
            if not isinstance(getattr(self, name), bool):
                raise BreachInputError(f"{name}: expected True or False")
        if self.key_compromised and not self.encrypted:
            raise BreachInputError(
                "key_compromised without encrypted: only encrypted PHI has a key to compromise"
            )
        if self.law_enforcement_delay_until is not None:
            _date(self.law_enforcement_delay_until, "the law-enforcement delay's end")
            if self.law_enforcement_delay_until <= self.discovered:
                raise BreachInputError(
                    f"a law-enforcement delay until {self.law_enforcement_delay_until} ends on or "
                    f"before the discovery ({self.discovered}); expected a later date"
                )
        if self.law_enforcement_oral_statement is not None:
            _date(self.law_enforcement_oral_statement, "the oral statement's date")
            if self.law_enforcement_oral_statement < self.discovered:
                raise BreachInputError(
                    f"an oral law-enforcement statement on {self.law_enforcement_oral_statement} "
                    f"is before the discovery ({self.discovered}); expected that day or later"
                )
        if self.exclusion is not None:
            object.__setattr__(self, "exclusion", _enum(Exclusion, self.exclusion, "exclusion"))
        if self.assessment is not None and not isinstance(self.assessment, RiskAssessment):
            raise BreachInputError("assessment: expected a RiskAssessment")

    @property
    def total(self) -> int:
        """Affected individuals in all States and jurisdictions."""
        return sum(self.affected.values())


@dataclass(frozen=True)
class Notice:
    """One notice the plan requires.

    ``state`` is set for media notices only. ``not_before`` is the end of a law-enforcement
    delay, when there is one (the notice may not go out before it); it is not part of
    :meth:`to_json`, its ``why`` says it.
    """

    who: Recipient
    deadline: dt.date
    why: str
    citation: str
    state: str | None = None
    not_before: dt.date | None = None

    def to_json(self) -> dict[str, str]:
        """``{"who", "state" (media only), "deadline", "why", "citation"}``."""
        out = {"who": self.who.value}
        if self.state is not None:
            out["state"] = self.state
        out |= {"deadline": self.deadline.isoformat(), "why": self.why, "citation": self.citation}
        return out


@dataclass(frozen=True)
class Plan:
    """What an incident requires: the verdict, the notices, and the reasoning, each line cited."""

    notification_required: bool
    reasoning: list[str]
    recipients: list[Notice]

    def to_json(self) -> dict[str, Any]:
        """``{"notification_required", "reasoning", "recipients"}``, JSON-ready."""
        return {
            "notification_required": self.notification_required,
            "reasoning": list(self.reasoning),
            "recipients": [n.to_json() for n in self.recipients],
        }

    def dumps(self) -> str:
        """:meth:`to_json` as indented JSON text."""
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False)

    def to_text(self) -> str:
        """A compliance officer's reading: the verdict, each notice, then the reasoning."""
        lines = [
            "Notification REQUIRED" if self.notification_required else "No notification required",
            "",
        ]
        if self.recipients:
            lines.append("Notices:")
            for n in self.recipients:
                who = n.who.value + (f" ({n.state})" if n.state else "")
                lines.append(f"  {who:<18} due {n.deadline.isoformat()}   {n.citation}")
                lines.append(f"      {n.why}")
            lines.append("")
        lines.append("Reasoning:")
        lines += [f"  {i}. {line}" for i, line in enumerate(self.reasoning, 1)]
        if any(n.who is Recipient.INDIVIDUALS for n in self.recipients):
            lines += [
                "",
                "The individuals' notice, in plain language, includes as far as possible "
                "(45 CFR 164.404(c)):",
            ]
            lines += [f"  {item}" for item in INDIVIDUAL_NOTICE_CONTENTS]
        return "\n".join(lines)


def plan(facts: BreachFacts, *, as_of: dt.date | None = None) -> Plan:
    """Decide whether an incident needs notification, and which notices are due by when.

    Parameters
    ----------
    facts : BreachFacts
        The incident.
    as_of : datetime.date, optional
        Today (default: the system's date). Discovery and an oral statement may not be after it;
        a deadline already passed is said in the reasoning.

    Returns
    -------
    Plan
        ``recipients`` is empty when no notification is required.

    Raises
    ------
    BreachInputError
        A date after ``as_of``, or facts that are not a :class:`BreachFacts`.

    Examples
    --------
    >>> import datetime as dt
    >>> p = plan(BreachFacts(discovered=dt.date(2026, 12, 31), affected={"TX": 12}),
    ...          as_of=dt.date(2027, 1, 4))
    >>> [(n.who.value, n.deadline.isoformat()) for n in p.recipients]
    [('individuals', '2027-03-01'), ('hhs', '2027-03-01')]
    """
    from hipaa_lab.safeguards import _breach_plan  # the answer: withheld while m06 is graded

    return _breach_plan.plan(facts, as_of=as_of)


def _date(value: object, what: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise BreachInputError(f"{what}: expected a date (datetime.date), got {value!r}")
    return value


def _enum(kind: type[_E], value: object, what: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        raise BreachInputError(
            f"unknown {what} {value!r}; expected one of: {', '.join(str(k.value) for k in kind)}"
        ) from None
