"""The breach planner's reasoning: :func:`hipaa_lab.safeguards.breach.plan` runs it.

Module 6's answers (``plan_notices``): kept apart from :mod:`hipaa_lab.safeguards.breach`, whose
facts, notices and plans a notebook uses, so that sealed autograding can withhold this module
while module 6 is graded (:data:`hipaa_lab.course.rules.RULES`).
"""

from __future__ import annotations

import datetime as dt

from hipaa_lab.errors import BreachInputError
from hipaa_lab.safeguards.breach import (
    _EXCLUSIONS,
    _RULE,
    DAYS,
    HHS_THRESHOLD,
    MEDIA_THRESHOLD,
    ORAL_DELAY_DAYS,
    BreachFacts,
    Notice,
    Plan,
    Recipient,
    _cfr,
    _date,
)

__all__ = ["plan"]


def plan(facts: BreachFacts, *, as_of: dt.date | None = None) -> Plan:
    """:func:`hipaa_lab.safeguards.breach.plan` (see there)."""
    if not isinstance(facts, BreachFacts):
        raise BreachInputError(f"expected BreachFacts, got {type(facts).__name__}")
    today = dt.date.today() if as_of is None else _date(as_of, "as_of")
    if facts.discovered > today:
        raise BreachInputError(
            f"discovered {facts.discovered} is after {today} (as of): a breach cannot be "
            "discovered in the future"
        )
    oral = facts.law_enforcement_oral_statement
    if oral is not None and oral > today:
        raise BreachInputError(
            f"the oral law-enforcement statement on {oral} is after {today} (as of): a "
            "statement not yet made cannot delay notice"
        )
    reasoning = [
        f"An acquisition, access, use or disclosure of PHI not permitted under Subpart E, "
        f"discovered {facts.discovered} (the first day it was known or, with reasonable "
        f"diligence, would have been known), involving {facts.total} individual(s) "
        f"({_counts(facts)}) ({_RULE}, breach; "
        f"{'164.410(a)(2)' if facts.business_associate else '164.404(a)(2)'})"
    ]
    if facts.exclusion is not None:
        para, what = _EXCLUSIONS[facts.exclusion]
        reasoning.append(
            f"Not a breach: the exclusion of paragraph {para} applies: {what} ({_RULE}, "
            f"breach, paragraph {para}); no notification is required, but document why "
            "(the burden of proof is yours, 45 CFR 164.414(b))"
        )
        return Plan(False, reasoning, [])
    secured = facts.encrypted and not facts.key_compromised
    if secured:
        reasoning.append(
            "The PHI was encrypted as the Secretary's guidance specifies and the key was not "
            "compromised: it was rendered unusable, unreadable or indecipherable to unauthorized "
            f"persons, so it is not unsecured PHI ({_RULE}, unsecured protected health information)"
        )
        reasoning.append(
            "Notification is owed only for a breach of unsecured PHI: none is required "
            f"({_cfr('164.404(a)(1)', '164.406(a)', '164.408(a)', '164.410(a)(1)')}); document the encryption (45 CFR "
            "164.414(b))"
        )
        return Plan(False, reasoning, [])
    if facts.encrypted:
        reasoning.append(
            "The PHI was encrypted but the key was compromised: encryption no longer renders it "
            f"unreadable to unauthorized persons, so it is unsecured PHI ({_RULE}, unsecured "
            "protected health information)"
        )
    else:
        reasoning.append(
            "The PHI was not encrypted or destroyed as the Secretary's guidance specifies: it is "
            f"unsecured PHI ({_RULE}, unsecured protected health information)"
        )
    if facts.assessment is not None:
        reasoning += facts.assessment.reasoning
        if facts.assessment.low_probability:
            return Plan(False, reasoning, [])
    else:
        reasoning.append(
            "No exclusion applies and no risk assessment demonstrates a low probability of "
            f"compromise: the incident is presumed a breach ({_RULE}, breach, paragraph (2))"
        )
    notices = _notices(facts, reasoning)
    delayed = _delay(facts, reasoning)
    if delayed is not None:
        notices = [_delayed(n, delayed) for n in notices]
    for n in notices:
        if n.deadline < today:
            who = n.who.value + (f" ({n.state})" if n.state else "")
            reasoning.append(
                f"As of {today}, the deadline for {who} ({n.deadline}) has passed: notify now "
                f"({n.citation})"
            )
    return Plan(True, reasoning, notices)


def _notices(facts: BreachFacts, reasoning: list[str]) -> list[Notice]:
    due = facts.discovered + dt.timedelta(days=DAYS)
    if facts.business_associate:
        reasoning.append(
            f"As a business associate, notify the covered entity without unreasonable delay and "
            f"no later than {DAYS} calendar days after discovery: by {due}, identifying each "
            f"individual affected as far as possible ({_cfr('164.410(a)(1)', '164.410(b)', '164.410(c)')})"
        )
        reasoning.append(
            "The covered entity then owes the notices to individuals, media and the Secretary; "
            "its own clock runs from its own discovery, and it is deemed to know what its agents "
            "(by the federal common law of agency) know: a business associate that is its agent "
            "starts the covered entity's clock when it discovers the breach "
            f"({_cfr('164.404(a)(2)', '164.404-164.408')}); one that is not starts it when it "
            "notifies the covered entity (HHS's preamble to the interim final rule, 74 FR 42740)"
        )
        return [
            Notice(
                Recipient.COVERED_ENTITY,
                due,
                f"breach of unsecured PHI discovered by the business associate on "
                f"{facts.discovered}: without unreasonable delay, at most {DAYS} days",
                _cfr("164.410(a)(1), (b)"),
            )
        ]
    notices = [
        Notice(
            Recipient.INDIVIDUALS,
            due,
            f"each affected individual ({facts.total}), without unreasonable delay and no later "
            f"than {DAYS} calendar days after discovery on {facts.discovered}",
            _cfr("164.404(a)(1), (b)"),
        )
    ]
    reasoning.append(
        f"Notify each affected individual without unreasonable delay and no later than {DAYS} "
        f"calendar days after discovery: by {due} ({_cfr('164.404(a)(1)', '164.404(b)')})"
    )
    media = [(s, n) for s, n in facts.affected.items() if n > MEDIA_THRESHOLD]
    for state, n in media:
        notices.append(
            Notice(
                Recipient.MEDIA,
                due,
                f"{n} residents of {state}, more than {MEDIA_THRESHOLD}: prominent media outlets "
                f"serving {state}, without unreasonable delay and no later than {DAYS} days",
                _cfr("164.406(a), (b)"),
                state=state,
            )
        )
    if media:
        reasoning.append(
            f"More than {MEDIA_THRESHOLD} residents of {', '.join(s for s, _ in media)}: notify "
            f"prominent media outlets serving each, by {due} ({_cfr('164.406(a)', '164.406(b)')})"
        )
    rest = [s for s, n in facts.affected.items() if n <= MEDIA_THRESHOLD]
    if rest:
        reasoning.append(
            f"No media notice for {', '.join(rest)}: {MEDIA_THRESHOLD} or fewer residents each; "
            "the threshold is more than 500 residents of one State or jurisdiction, not the "
            f"total ({_cfr('164.406(a)')})"
        )
    if facts.total >= HHS_THRESHOLD:
        notices.append(
            Notice(
                Recipient.HHS,
                due,
                f"{facts.total} individuals, {HHS_THRESHOLD} or more: notify the Secretary "
                "contemporaneously with the individuals' notice, as the HHS web site specifies",
                _cfr("164.408(a), (b)"),
            )
        )
        reasoning.append(
            f"{facts.total} individuals in total, {HHS_THRESHOLD} or more: notify the Secretary "
            f"(HHS) contemporaneously with the individuals, by {due} ({_cfr('164.408(b)')})"
        )
    else:
        year_end = dt.date(facts.discovered.year, 12, 31)
        annual = year_end + dt.timedelta(days=DAYS)
        notices.append(
            Notice(
                Recipient.HHS,
                annual,
                f"{facts.total} individual(s), fewer than {HHS_THRESHOLD}: log it, and report "
                f"the breaches discovered in {facts.discovered.year} to the Secretary no later "
                f"than {DAYS} days after the end of that year",
                _cfr("164.408(a), (c)"),
            )
        )
        reasoning.append(
            f"{facts.total} individual(s) in total, fewer than {HHS_THRESHOLD}: log the breach "
            f"and report it to the Secretary (HHS) no later than {DAYS} days after the end of "
            f"{facts.discovered.year}, the year it was discovered: by {annual} "
            f"({_cfr('164.408(c)')})"
        )
    return notices


def _delay(facts: BreachFacts, reasoning: list[str]) -> dt.date | None:
    """The end of a law-enforcement delay (the first day notice may go out), or None."""
    written, oral = facts.law_enforcement_delay_until, facts.law_enforcement_oral_statement
    model = (
        "no notice goes out before then, and each is due by the later of its own deadline and "
        "that day (this kit's conservative reading: the rule delays notice 'for the time period "
        "specified', and meeting this date also meets a reading that adds the delay to the 60 days)"
    )
    if written is not None:
        note = " (it replaces the oral statement)" if oral is not None else ""
        reasoning.append(
            f"A law-enforcement official stated in writing{note} that notice would impede a "
            f"criminal investigation or damage national security, and asked for a delay until "
            f"{written}: {model} ({_cfr('164.412(a)')})"
        )
        return written
    if oral is not None:
        end = oral + dt.timedelta(days=ORAL_DELAY_DAYS)
        reasoning.append(
            f"A law-enforcement official stated orally on {oral} that notice would impede a "
            "criminal investigation or damage national security: document the statement and the "
            f"official's identity, and delay notice temporarily, no longer than "
            f"{ORAL_DELAY_DAYS} days from the statement, until {end} unless a written statement "
            f"comes within that time; {model} ({_cfr('164.412(b)')})"
        )
        return end
    return None


def _delayed(n: Notice, until: dt.date) -> Notice:
    deadline = max(n.deadline, until)
    why = (
        f"{n.why}; law-enforcement delay: may not go out before {until}, due by {deadline}"
        " (45 CFR 164.412)"
    )
    return Notice(n.who, deadline, why, n.citation + "; 164.412", n.state, until)


def _counts(facts: BreachFacts) -> str:
    return ", ".join(f"{s} {n}" for s, n in facts.affected.items())
