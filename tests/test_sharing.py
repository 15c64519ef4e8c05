"""The request desk's reference decisions, the right of access's clock, and expiring links."""

import datetime as dt
import json
import re
from pathlib import Path

import matplotlib
import pytest

from hipaa_lab.safeguards import sharing

matplotlib.use("Agg")


def test_thirty_days_from_receipt_and_one_extension_of_thirty():
    assert sharing.access_due("2026-01-31") == dt.date(2026, 3, 2)
    assert sharing.access_due(dt.date(2026, 12, 15), extension=True) == dt.date(2027, 2, 13)


B = sharing.Basis
#: Each kind's reference basis and whether the minimum necessary standard applies when it is
#: allowed: the exercise's answer, kept here and not in the package the graded sandbox reads.
EXPECTED = {
    "patient_copy": (B.RIGHT_OF_ACCESS, False),
    "patient_directs": (B.RIGHT_OF_ACCESS, False),
    "outside_treatment": (B.TREATMENT, False),
    "research_waiver": (B.IRB_WAIVER, True),
    "research_authorization": (B.AUTHORIZATION, False),
    "research_deidentified": (B.DEIDENTIFIED, False),
    "research_lds": (B.LIMITED_DATA_SET, True),
    "research_nothing": (B.NONE, False),
    "research_lds_no_dua": (B.NONE, False),
    "cloud_baa": (B.BAA, True),
    "cloud_no_baa": (B.NONE, False),
    "attorney_authorization": (B.AUTHORIZATION, False),
    "attorney_no_authorization": (B.NONE, False),
    "family_no_authorization": (B.NONE, False),
}


def test_the_expected_table_names_every_kind_and_the_package_holds_no_answers():
    assert set(EXPECTED) == set(sharing.KINDS)
    source = Path(sharing.__file__).read_text(encoding="utf-8")
    assert not re.search(r"\(Basis\.\w+, (True|False)\)", source)  # no (basis, flag) by kind
    assert not any(
        isinstance(v, dict) and set(v) == set(sharing.KINDS) for v in vars(sharing).values()
    )


@pytest.mark.parametrize("seed", range(20))
def test_every_card_is_decided_as_its_kind_says(seed):
    for kind, card in sharing.kinded_cards(seed, per_kind=2):
        basis, minimum = EXPECTED[kind]
        decision = sharing.decide_request(card)
        assert decision["basis"] == basis.value, kind
        assert decision["allowed"] is (basis is not sharing.Basis.NONE)
        assert decision["minimum_necessary"] is minimum, kind
        if basis is sharing.Basis.RIGHT_OF_ACCESS:
            due = sharing.access_due(card["received"], card["extension_notice"]).isoformat()
            assert decision["due"] == due
        else:
            assert decision["due"] is None


def test_cards_are_plain_data_and_do_not_name_their_kind():
    cards = sharing.request_cards(9, per_kind=2)
    assert json.loads(json.dumps(cards)) == cards
    assert all("kind" not in c for c in cards)
    patients = [c for c in cards if c["purpose"] == "own_copy"]
    assert {c["extension_notice"] for c in patients} == {True, False}


def test_the_law_behind_the_tricky_cards():
    base = {"received": "2026-04-01", **dict.fromkeys(sharing._FLAGS, False)}
    # a treating provider needs no authorization, and minimum necessary does not apply
    treat = sharing.decide_request({**base, "from": "outside_provider", "purpose": "treatment"})
    assert treat == {"allowed": True, "basis": "treatment", "minimum_necessary": False, "due": None}
    # a cloud vendor holding only encrypted data, with no key, still needs a BAA
    cloud = {**base, "from": "cloud_vendor", "purpose": "storage", "encrypted_no_key": True}
    assert sharing.decide_request(cloud)["allowed"] is False
    # a direction to a third party must be in writing, signed, naming whom and where
    direct = {**base, "from": "patient", "purpose": "send_to_designee", "written": True}
    assert sharing.decide_request(direct)["allowed"] is False
    signed = {**direct, "signed": True, "recipient_named": True}
    assert sharing.decide_request(signed)["due"] == "2026-05-01"
    # what she wants by does not move the rule's deadline
    wish = {**base, "from": "patient", "purpose": "own_copy", "wanted_by": "2026-04-05"}
    assert sharing.decide_request(wish)["due"] == "2026-05-01"
    # a limited data set needs its data use agreement
    lds = {**base, "from": "researcher", "purpose": "research", "limited_data_set": True}
    assert sharing.decide_request(lds)["basis"] == "none"
    assert (
        sharing.decide_request({**lds, "data_use_agreement": True})["basis"] == "limited_data_set"
    )


def test_a_link_is_valid_only_signed_for_its_recipient_before_expiry():
    key = "ab" * 32
    link = sharing.make_link("2.25.7", "dr.moreau", "2026-06-01T08:00:00Z", key)
    assert sharing.verify_link(link, "dr.moreau", "2026-06-01T07:59:59Z", key)
    assert not sharing.verify_link(link, "dr.moreau", "2026-06-01T08:00:00Z", key)
    assert not sharing.verify_link(link, "dr.petrov", "2026-05-30T08:00:00Z", key)
    assert not sharing.verify_link(link, "dr.moreau", "2026-05-30T08:00:00Z", "cd" * 32)
    for field in ("study_uid", "recipient", "expires"):
        edited = dict(
            link, **{field: link[field].replace("1", "2") + ("" if field == "expires" else "x")}
        )
        assert not sharing.verify_link(edited, edited["recipient"], "2026-05-30T08:00:00Z", key)
    assert not sharing.verify_link({"signature": "00"}, "dr.moreau", "2026-05-30T08:00:00Z", key)


@pytest.mark.parametrize("seed", range(50))
def test_link_cases_agree_with_the_reference(seed):
    cases = sharing.link_cases(seed, 21)
    assert json.loads(json.dumps(cases)) == cases
    assert [sharing.verify_link(c["link"], c["user"], c["now"], c["key"]) for c in cases] == [
        c["valid"] for c in cases
    ]
    assert sum(c["valid"] for c in cases) == 10


def test_the_timeline_and_the_tables_draw():
    ax = sharing.plot_access_timeline("2026-02-10")
    assert "2026-03-12" in " ".join(t.get_text() for t in ax.texts)
    cards = sharing.request_cards(1)
    frame = sharing.try_decide(sharing.decide_request, cards)
    assert frame["as the desk decides"].all() and len(frame) == len(sharing.KINDS)
    assert not sharing.try_decide(lambda card: None, cards)["as the desk decides"].any()
