"""What is done to an element, decided once per (tag, VR as read) and kept for the batch: the
action and the rule that chose it, and the plans the walks follow."""

from __future__ import annotations

from typing import Final

from pydicom.datadict import (  # type: ignore[attr-defined]  # DicomDictionary: not in __all__
    DicomDictionary,
    dictionary_VR,
)

from hipaa_lab.deid._policy import Policy
from hipaa_lab.deid._tags import (
    CODE_TAGS,
    CURVE_GROUPS,
    FIRST_DATA_SET_GROUP,
    GROUP_LENGTH,
    OVERLAY_GROUPS,
    PATIENT_GROUP,
    PRIVATE_CREATORS,
)
from hipaa_lab.deid.profile import Action
from hipaa_lab.deid.text import _COLLECTED_VRS, _DATE_VRS, _FREE_TEXT, _TEXT_VRS

__all__ = ["AMBIGUOUS", "CREATOR", "CleanPlan", "Decisions"]

#: A plan: a private creator, decided after the elements of its block.
CREATOR: Final = object()
#: A plan: a VR such as "US or SS", which the data set decides, element by element.
AMBIGUOUS: Final = object()
#: A plan for an element: (VR, action, rule), or :data:`CREATOR` or :data:`AMBIGUOUS`.
CleanPlan = tuple[str, Action, str] | object
_AMBIGUOUS_VRS = frozenset({"US or SS", "OB or OW", "US or OW", "US or SS or OW"})
#: A cache holds at most this many entries (then starts again): a batch of odd files stays bounded.
_MAX_ENTRIES = 100_000


def _vr(tag: int, raw_vr: str | None) -> str:
    """The VR as read, else the data dictionary's, else UN."""
    return raw_vr or (dictionary_VR(tag) if tag in DicomDictionary else "UN")


class Decisions:
    """The decisions of one :class:`~hipaa_lab.deid._policy.Policy`, each made once per batch.

    The walks read :attr:`clean_plans` and :attr:`collect_plans` directly, keyed by
    ``(tag, VR as read)``, and ask :meth:`clean_plan` or :meth:`collect_plan` on a miss.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.clean_plans: dict[tuple[int, str | None], CleanPlan] = {}
        self.collect_plans: dict[tuple[int, str | None], str] = {}
        self._decided: dict[tuple[int, str], tuple[Action, str]] = {}

    def clean_plan(self, tag: int, raw_vr: str | None) -> CleanPlan:
        """What the cleaning walk does with an element outside the item-value rules (cached)."""
        plans = self.clean_plans
        if len(plans) > _MAX_ENTRIES:
            plans.clear()
        if tag >> 16 & 1 and (tag & 0xFFFF) in PRIVATE_CREATORS:
            plan: CleanPlan = CREATOR
        else:
            vr = _vr(tag, raw_vr)
            plan = AMBIGUOUS if vr in _AMBIGUOUS_VRS else (vr, *self.decide(tag, vr))
        plans[(tag, raw_vr)] = plan
        return plan

    def collect_plan(self, tag: int, raw_vr: str | None) -> str:
        """What the walk that collects the patient's identifiers does with an element (cached):
        ``"SQ"`` (walk its items), its VR (collect its values), or ``""`` (nothing to collect)."""
        plans = self.collect_plans
        if len(plans) > _MAX_ENTRIES:
            plans.clear()
        vr = _vr(tag, raw_vr)
        if vr != "SQ":
            action = self.policy.actions.get(tag, Action.REMOVE if tag >> 16 & 1 else Action.KEEP)
            if (action is Action.KEEP and vr != "PN") or vr not in _COLLECTED_VRS:
                vr = ""
        plans[(tag, raw_vr)] = vr
        return vr

    def decide(self, tag: int, vr: str) -> tuple[Action, str]:
        """(action, rule) for one element outside the item-value rules (cached)."""
        decided = self._decided.get((tag, vr))
        if decided is None:
            if len(self._decided) > _MAX_ENTRIES:
                self._decided.clear()
            decided = self._decided[(tag, vr)] = self._decide_anew(tag, vr)
        return decided

    def _decide_anew(self, tag: int, vr: str) -> tuple[Action, str]:
        policy = self.policy
        group, el = tag >> 16, tag & 0xFFFF
        if el == GROUP_LENGTH:
            return Action.REMOVE, "group length"
        if group & 1:
            retains = policy.private is Action.CLEAN
            return (Action.SAFE_PRIVATE if retains else Action.REMOVE), "E.1-1 private attributes"
        if group < FIRST_DATA_SET_GROUP:
            return Action.REMOVE, "command or file meta group in the data set"
        if group in CURVE_GROUPS:
            return policy.curve, "E.1-1 50xxxxxx Curve Data"
        if group in OVERLAY_GROUPS:
            rule = policy.table.overlay.get(el)
            return (policy.overlay[el], rule.label()) if rule else (Action.KEEP, "")
        action = policy.actions.get(tag)
        if action is not None:
            by_tag = policy.table.by_tag
            return action, by_tag[tag].label() if tag in by_tag else "Safe Harbor"
        return self._by_vr(tag, vr)

    def _by_vr(self, tag: int, vr: str) -> tuple[Action, str]:
        """The VR rules: a public element outside Table E.1-1."""
        if vr == "SQ":
            return Action.KEEP, ""
        if vr == "UI":
            return Action.NEW_UID, "VR rule UI"
        if tag not in DicomDictionary:
            return Action.REMOVE, f"VR rule {vr}: not in the data dictionary"
        if vr == "PN":
            return Action.REMOVE, "VR rule PN"
        if vr in _DATE_VRS:
            dates = self.policy.dates  # a time of day has no year to keep under Safe Harbor
            action = Action.REMOVE if vr == "TM" and dates is Action.YEAR else dates
            return action, f"VR rule {vr}"
        if vr in _FREE_TEXT:
            if tag >> 16 == PATIENT_GROUP:  # the Patient module: all it holds is about the patient
                return Action.REMOVE, f"VR rule {vr}: patient text outside Table E.1-1"
            if tag in CODE_TAGS:  # a code's digits are not an identifier
                return Action.CHECK_IDENTIFIER, f"VR rule {vr}: code"
            return Action.CLEAN_TEXT, f"VR rule {vr}: text"
        if vr in _TEXT_VRS:
            return Action.CHECK_IDENTIFIER, f"VR rule {vr}"
        return Action.KEEP, ""
