"""Breach notification plans (hipaa_lab.safeguards.breach): the rule's thresholds at their
boundaries, the deadlines, the safe harbor, the exclusions, the four factors, law-enforcement
delays, the JSON shape, refusals and the command."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hipaa_lab.cli import main
from hipaa_lab.errors import BreachInputError, HipaaLabError
from hipaa_lab.safeguards.breach import (
    JURISDICTIONS,
    BreachFacts,
    Exclusion,
    Factor,
    Recipient,
    RiskAssessment,
    plan,
)

D = dt.date
DISCOVERED = D(2026, 11, 2)
AS_OF = D(2026, 12, 7)
DAYS60 = D(2027, 1, 1)  # DISCOVERED + 60 calendar days
ANNUAL_2026 = D(2027, 3, 1)  # the last day of 2026 + 60 days: the first of March


def _plan(affected, *, discovered=DISCOVERED, as_of=None, **kw):
    facts = BreachFacts(discovered=discovered, affected=affected, **kw)
    return plan(facts, as_of=as_of or max(discovered, AS_OF))


def _who(p):
    return [(n.who.value, n.state, n.deadline) for n in p.recipients]


@pytest.mark.parametrize(
    ("affected", "expected"),
    [
        # exactly 500 in one State: HHS contemporaneously (500 or more), no media (not more than 500)
        ({"NY": 500}, [("individuals", None, DAYS60), ("hhs", None, DAYS60)]),
        # 500 in total, split: the same
        ({"NY": 250, "NJ": 250}, [("individuals", None, DAYS60), ("hhs", None, DAYS60)]),
        # 501 in one State: media for that State only
        (
            {"NY": 501, "CT": 20},
            [("individuals", None, DAYS60), ("media", "NY", DAYS60), ("hhs", None, DAYS60)],
        ),
        # 300 + 300: 600 in total for HHS, but no State above 500: no media
        ({"NY": 300, "NJ": 300}, [("individuals", None, DAYS60), ("hhs", None, DAYS60)]),
        # 499 in total: the Secretary's annual log
        ({"NY": 499}, [("individuals", None, DAYS60), ("hhs", None, ANNUAL_2026)]),
        # one person in Guam: a territory is a jurisdiction
        ({"GU": 1}, [("individuals", None, DAYS60), ("hhs", None, ANNUAL_2026)]),
        # two States above 500, in alphabetical order
        (
            {"TX": 900, "CA": 501, "PR": 2},
            [
                ("individuals", None, DAYS60),
                ("media", "CA", DAYS60),
                ("media", "TX", DAYS60),
                ("hhs", None, DAYS60),
            ],
        ),
    ],
)
def test_thresholds_at_their_boundaries(affected, expected):
    p = _plan(affected)
    assert p.notification_required
    assert _who(p) == expected
    assert all("45 CFR 164." in line for line in p.reasoning)


@pytest.mark.parametrize(
    ("discovered", "individuals", "annual"),
    [
        (D(2026, 12, 31), D(2027, 3, 1), D(2027, 3, 1)),  # year end + 60 days: the first of March
        (D(2027, 12, 31), D(2028, 2, 29), D(2028, 2, 29)),  # a leap year: the 29th of February
        (D(2027, 1, 1), D(2027, 3, 2), D(2028, 2, 29)),  # a 2027 breach: reported in 2028
        (D(2028, 1, 15), D(2028, 3, 15), D(2029, 3, 1)),  # 60 days across a leap February
    ],
)
def test_deadlines_in_calendar_days_and_the_annual_log(discovered, individuals, annual):
    p = _plan({"OH": 12}, discovered=discovered)
    assert _who(p) == [("individuals", None, individuals), ("hhs", None, annual)]
    assert any("164.408(c)" in line and str(discovered.year) in line for line in p.reasoning)


def test_business_associate_notifies_the_covered_entity_only():
    p = _plan({"NY": 800, "NJ": 10}, business_associate=True)
    assert p.notification_required
    assert _who(p) == [("covered_entity", None, DAYS60)]
    assert p.recipients[0].citation == "45 CFR 164.410(a)(1), (b)"
    text = " ".join(p.reasoning)
    assert "164.410(b)" in text and "164.404(a)(2)" in text and "agent" in text


def test_written_law_enforcement_delay_moves_every_deadline_to_its_end():
    until = D(2027, 2, 15)
    p = _plan({"NY": 600}, law_enforcement_delay_until=until)
    assert [(n.who.value, n.deadline, n.not_before) for n in p.recipients] == [
        ("individuals", until, until),
        ("media", until, until),
        ("hhs", until, until),
    ]
    assert all("164.412" in n.citation for n in p.recipients)
    assert any("164.412(a)" in line for line in p.reasoning)


def test_a_short_written_delay_leaves_the_60_days():
    until = D(2026, 11, 20)
    p = _plan({"NY": 10}, law_enforcement_delay_until=until)
    assert [(n.deadline, n.not_before) for n in p.recipients] == [
        (DAYS60, until),
        (ANNUAL_2026, until),
    ]


def test_oral_law_enforcement_delay_is_capped_at_30_days():
    oral = D(2026, 12, 20)  # 48 days after discovery: 30 more days pass the 60
    p = _plan({"NY": 600}, law_enforcement_oral_statement=oral, as_of=D(2026, 12, 21))
    end = D(2027, 1, 19)  # oral + 30 days
    assert {n.deadline for n in p.recipients} == {end}
    assert {n.not_before for n in p.recipients} == {end}
    line = next(x for x in p.reasoning if "164.412(b)" in x)
    assert "30 days" in line and "identity" in line


def test_a_written_statement_replaces_the_oral_one():
    until = D(2027, 4, 1)
    p = _plan(
        {"NY": 6},
        law_enforcement_oral_statement=D(2026, 11, 10),
        law_enforcement_delay_until=until,
    )
    assert {n.deadline for n in p.recipients} == {until}
    assert any("replaces the oral" in line for line in p.reasoning)


def test_encryption_safe_harbor():
    p = _plan({"NY": 5000}, encrypted=True)
    assert not p.notification_required and p.recipients == []
    text = " ".join(p.reasoning)
    assert "164.402, unsecured protected health information" in text
    assert "164.404(a)(1)" in text


def test_encrypted_with_a_compromised_key_is_unsecured():
    p = _plan({"NY": 5000}, encrypted=True, key_compromised=True)
    assert p.notification_required
    assert [n.who for n in p.recipients] == [Recipient.INDIVIDUALS, Recipient.MEDIA, Recipient.HHS]
    assert any("key was compromised" in line for line in p.reasoning)


@pytest.mark.parametrize(
    ("exclusion", "paragraph"),
    [
        (Exclusion.UNINTENTIONAL_ACCESS, "(1)(i)"),
        (Exclusion.INADVERTENT_DISCLOSURE, "(1)(ii)"),
        ("unable_to_retain", "(1)(iii)"),
    ],
)
def test_each_exclusion_is_not_a_breach(exclusion, paragraph):
    p = _plan({"NY": 700}, exclusion=exclusion)
    assert not p.notification_required and p.recipients == []
    assert any(f"paragraph {paragraph}" in line and "164.414(b)" in line for line in p.reasoning)


def _assessment(**risks):
    notes = {f.value: ("low", f"synthetic note on {f.value}") for f in Factor}
    notes |= {k: (v, f"synthetic note on {k}") for k, v in risks.items()}
    return RiskAssessment.of(**notes)


def test_four_factor_assessment_with_low_probability_is_not_a_breach():
    p = _plan({"NY": 700}, assessment=_assessment())
    assert not p.notification_required and p.recipients == []
    for paragraph in ("(2)(i)", "(2)(ii)", "(2)(iii)", "(2)(iv)"):
        assert any(f"paragraph {paragraph})" in line for line in p.reasoning)
    assert "low probability" in p.reasoning[-1]


def test_one_factor_not_low_leaves_the_presumption_of_breach():
    p = _plan({"NY": 700}, assessment=_assessment(acquired_or_viewed="not_low"))
    assert p.notification_required
    assert any("(2)(iii) do not point to low risk" in line for line in p.reasoning)


def test_a_risk_assessment_needs_all_four_factors():
    with pytest.raises(BreachInputError, match="missing: mitigation"):
        RiskAssessment.of(
            nature_and_extent=("low", "n"),
            unauthorized_person=("low", "n"),
            acquired_or_viewed=("low", "n"),
        )
    with pytest.raises(BreachInputError, match="unknown risk 'maybe'"):
        _assessment(mitigation="maybe")
    with pytest.raises(BreachInputError, match="note"):
        RiskAssessment.of(**{f.value: ("low", " ") for f in Factor})


def test_json_has_exactly_the_agreed_shape():
    out = json.loads(_plan({"NY": 501, "NJ": 3}).dumps())
    assert list(out) == ["notification_required", "reasoning", "recipients"]
    assert out["notification_required"] is True
    assert all(isinstance(line, str) for line in out["reasoning"])
    keys = [list(r) for r in out["recipients"]]
    assert keys == [
        ["who", "deadline", "why", "citation"],
        ["who", "state", "deadline", "why", "citation"],
        ["who", "deadline", "why", "citation"],
    ]
    assert out["recipients"][1]["state"] == "NY"
    assert out["recipients"][0]["deadline"] == DAYS60.isoformat()
    assert all(r["citation"].startswith("45 CFR 164.4") for r in out["recipients"])
    none = _plan({"NY": 1}, encrypted=True).to_json()
    assert none["notification_required"] is False and none["recipients"] == []


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"affected": {"NY": 0}}, "at least 1"),
        ({"affected": {"NY": -3}}, "at least 1"),
        ({"affected": {"NY": True}}, "whole number"),
        ({"affected": {"NY": 2.5}}, "whole number"),
        ({"affected": {}}, "at least one individual"),
        ({"affected": {"XX": 4}}, "unknown State"),
        ({"affected": {"NY": 4, "ny": 5}}, "twice"),
        ({"key_compromised": True}, "without encrypted"),
        ({"law_enforcement_delay_until": D(2026, 11, 1)}, "before the discovery"),
        ({"law_enforcement_delay_until": DISCOVERED}, "on or before"),
        ({"law_enforcement_oral_statement": D(2026, 10, 30)}, "before the discovery"),
        ({"discovered": dt.datetime(2026, 11, 2, 9, 0)}, "expected a date"),
        ({"exclusion": "curiosity"}, "unknown exclusion"),
    ],
)
def test_impossible_facts_are_refused(kw, match):
    args = {"discovered": DISCOVERED, "affected": {"NY": 4}} | kw
    with pytest.raises(BreachInputError, match=match) as info:
        BreachFacts(**args)
    assert isinstance(info.value, HipaaLabError) and isinstance(info.value, ValueError)


def test_dates_after_as_of_are_refused():
    with pytest.raises(BreachInputError, match="future"):
        plan(BreachFacts(discovered=D(2026, 12, 8), affected={"NY": 4}), as_of=AS_OF)
    facts = BreachFacts(
        discovered=DISCOVERED, affected={"NY": 4}, law_enforcement_oral_statement=D(2026, 12, 8)
    )
    with pytest.raises(BreachInputError, match="not yet made"):
        plan(facts, as_of=AS_OF)


def test_a_passed_deadline_is_said():
    p = _plan({"NY": 4}, as_of=D(2027, 1, 2))
    assert any("has passed" in line and "individuals" in line for line in p.reasoning)


def test_the_jurisdictions_are_the_states_dc_and_five_territories():
    assert len(JURISDICTIONS) == 56
    assert {"DC", "PR", "GU", "VI", "AS", "MP"} <= JURISDICTIONS


@settings(max_examples=60, deadline=None)
@given(
    discovered=st.dates(D(2020, 1, 1), D(2035, 12, 31)),
    affected=st.dictionaries(
        st.sampled_from(sorted(JURISDICTIONS)), st.integers(1, 1200), min_size=1, max_size=6
    ),
)
def test_property_deadlines_and_media_states(discovered, affected):
    p = plan(BreachFacts(discovered=discovered, affected=affected), as_of=discovered)
    due = discovered + dt.timedelta(days=60)
    by_who = {n.who: n for n in p.recipients if n.who is not Recipient.MEDIA}
    assert by_who[Recipient.INDIVIDUALS].deadline == due
    assert sorted(n.state for n in p.recipients if n.who is Recipient.MEDIA) == sorted(
        s for s, n in affected.items() if n > 500
    )
    hhs = by_who[Recipient.HHS].deadline
    if sum(affected.values()) >= 500:
        assert hhs == due
    else:
        assert hhs == D(discovered.year, 12, 31) + dt.timedelta(days=60)
        assert hhs.year == discovered.year + 1 and hhs.month in (2, 3)


def test_cli_prints_the_plan_as_json_and_as_text(capsys):
    argv = ["breach", "plan", "--discovered", "2026-11-02", "--affected", "NY=501", "nj=40"]
    assert main([*argv, "--as-of", "2026-12-07", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["who"], r.get("state"), r["deadline"]) for r in out["recipients"]] == [
        ("individuals", None, "2027-01-01"),
        ("media", "NY", "2027-01-01"),
        ("hhs", None, "2027-01-01"),
    ]
    assert main([*argv, "--as-of", "2026-12-07", "--encrypted"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("No notification required") and "Reasoning:" in text
    assert main([*argv, "--as-of", "2026-12-07"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Notification REQUIRED")
    assert "media (NY)" in text and "due 2027-01-01" in text and "45 CFR 164.406(a), (b)" in text
    assert "(45 CFR 164.404(c)):" in text and "toll-free telephone" in text
    assert main([*argv, "--as-of", "2026-12-07", "--business-associate", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["who"], r["deadline"]) for r in out["recipients"]] == [
        ("covered_entity", "2027-01-01")
    ]


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--affected", "NY=0"], "at least 1"),
        (["--affected", "NY"], "expected STATE=N"),
        (["--affected", "ZZ=3"], "unknown State"),
        (["--affected", "NY=3", "--key-compromised"], "without encrypted"),
        (["--affected", "NY=3", "--as-of", "2026-11-01"], "future"),
        (["--affected", "NY=3", "--law-enforcement-delay-until", "2026-10-01"], "before"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(capsys, extra, match):
    assert main(["breach", "plan", "--discovered", "2026-11-02", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hipaa-lab breach: ") and match in err and err.count("\n") == 1


def test_cli_bad_date_is_argparse_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["breach", "plan", "--discovered", "2026-02-30", "--affected", "NY=3"])
    assert info.value.code == 2
    assert "expected YYYY-MM-DD" in capsys.readouterr().err
