"""One element's action carried out: on its raw bytes where the action allows (a value that stays
is never decoded and encoded again), else on the element pydicom converts."""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from hipaa_lab.deid._context import PatientContext
from hipaa_lab.deid._policy import SAFE_PRIVATE, Policy
from hipaa_lab.deid._raw import MAX_LENGTH, map_text, plausible, raw_strings, raw_with
from hipaa_lab.deid._tags import (
    ACCESSION_NUMBER,
    OVERLAY_DATA,
    OVERLAY_GROUPS,
    PATIENT_ID,
    creator_tag,
)
from hipaa_lab.deid._values import DUMMY, ValueCleaner
from hipaa_lab.deid.profile import Action, resolve_by_type
from hipaa_lab.deid.text import clean_text

__all__ = ["ElementActions"]

# Python 3.11 looks ``Action.KEEP`` up through a descriptor (0.1 us, ten times a global): these
# run for every changed element, so the members they test are module globals
_DUMMY, _ZERO, _REMOVE, _KEEP, _CLEAN, _NEW_UID = (
    Action.DUMMY,
    Action.ZERO,
    Action.REMOVE,
    Action.KEEP,
    Action.CLEAN,
    Action.NEW_UID,
)
_SAFE_PRIVATE, _YEAR, _ZIP3, _CHECK_IDENTIFIER, _CLEAN_TEXT = (
    Action.SAFE_PRIVATE,
    Action.YEAR,
    Action.ZIP3,
    Action.CHECK_IDENTIFIER,
    Action.CLEAN_TEXT,
)
#: The combined actions, which the attribute's Type resolves.
_COMBINED = frozenset(a for a in Action if len(a.choices) > 1)
#: The tags that become keyed pseudonyms, and the actions that make them so.
_PSEUDONYMS = frozenset({PATIENT_ID, ACCESSION_NUMBER})
_PSEUDONYM_ACTIONS = frozenset({_ZERO, _DUMMY, _CLEAN})
#: Actions on a UI element that give it a new UID.
_UID_ACTIONS = frozenset({_CLEAN, _DUMMY})
_NUMERIC = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "DS", "IS", "SV", "UV"})


class ElementActions:
    """Carries out an element's action (any but K on a value, which the walk keeps itself).

    Parameters
    ----------
    policy
        For the attribute Types of the combined actions.
    values
        The new values.
    """

    def __init__(self, policy: Policy, values: ValueCleaner) -> None:
        self.policy = policy
        self.values = values

    def apply(
        self,
        ds: Dataset,
        tag: Any,  # the data set's own key (a BaseTag: found by identity)
        vr: str,
        action: Action,
        rule: str,
        path: str,
        ctx: PatientContext,
        drop_groups: set[int],
        kept_creators: set[tuple[int, int]],
    ) -> bool:
        """Carry out ``action`` on ``ds[tag]``; ``True`` when it is a sequence whose items the
        walk must clean.  ``drop_groups`` and ``kept_creators`` collect what the walk removes or
        keeps once the data set's elements are done: overlay groups, safe private creators."""
        if action is _SAFE_PRIVATE:
            creator = ds.get(creator_tag(tag))
            key = (str(creator.value) if creator is not None else "", tag >> 16, tag & 0xFF)
            if key in SAFE_PRIVATE and vr in _NUMERIC:
                kept_creators.add((tag >> 16, (tag & 0xFFFF) >> 8))
                return False
            action = _REMOVE
        if action in _COMBINED:
            action = resolve_by_type(action, self.policy.attribute_type(int(tag), ctx.sop_class))
            rule += f" (by Type: {action})"
        if action is not _KEEP and tag >> 16 in OVERLAY_GROUPS and tag & 0xFFFF == OVERLAY_DATA:
            # a bitmap cannot be cleaned, emptied or replaced by a dummy and still decode against
            # its Overlay Rows and Columns: the overlay goes whole (Clean Graphics too)
            action = _REMOVE
            drop_groups.add(tag >> 16)
            rule += "; the whole overlay group"
        if action is _REMOVE:
            del ds[tag]
            ctx.log(path, _REMOVE, rule)
            return False
        raw = ds.get_item(tag)
        if (
            raw.is_raw
            and vr != "SQ"
            and raw.VR != "UN"
            and self._apply_raw(ds, raw, vr, action, rule, path, ctx)
        ):
            return False
        if vr == "SQ":
            if action is _ZERO:
                ds[tag].value = Sequence()
                ctx.log(path, _ZERO, rule)
                return False
            return True
        self._apply_value(ds, tag, vr, action, rule, path, ctx)
        return False

    def _apply_value(
        self,
        ds: Dataset,
        tag: Any,
        vr: str,
        action: Action,
        rule: str,
        path: str,
        ctx: PatientContext,
    ) -> None:
        """``action`` on the element pydicom converts."""
        elem = ds[tag]
        if tag in _PSEUDONYMS and action in _PSEUDONYM_ACTIONS:
            if elem.value:
                elem.value = self.values.pseudonym(tag, str(elem.value), ds)
                ctx.log(path, _DUMMY, rule + "; keyed pseudonym")
            return
        if action is _NEW_UID or (vr == "UI" and action in _UID_ACTIONS):
            self.values.replace_uids(elem, path, ctx, rule)
            return
        if action is _ZERO:
            elem.value = elem.empty_value
        elif action is _DUMMY:
            elem.value = DUMMY.get(vr, "ANONYMIZED")
        elif action is _CLEAN:
            self.values.clean(elem, vr, ctx)
        elif action is _YEAR:
            self.values.year(elem, vr, ctx)
        elif action is _ZIP3:
            self.values.zip3(elem)
        elif action is _CHECK_IDENTIFIER:
            if ctx.holds_identifier(str(elem.value or "").lower()):
                del ds[tag]
                ctx.log(path, _REMOVE, rule + ": holds an identifier of this patient")
            return
        elif action is _CLEAN_TEXT:
            old = elem.value
            elem.value = map_text(old, lambda s: clean_text(s, ctx.identities, ctx.tokens))
            if elem.value == old:
                return
        ctx.log(path, action, rule)

    def _apply_raw(
        self,
        ds: Dataset,
        raw: Any,  # a RawDataElement; pydicom's get_item types it DataElement | RawDataElement
        vr: str,
        action: Action,
        rule: str,
        path: str,
        ctx: PatientContext,
    ) -> bool:
        """The common actions on an element's raw bytes; ``False`` when pydicom must convert
        the element first."""
        values = raw_strings(raw, vr, ctx.encoding)
        if values is None:
            return False
        tag = int(raw.tag)
        if tag in _PSEUDONYMS and action in _PSEUDONYM_ACTIONS:
            if len(values) > 1:
                return False
            if values and values[0]:
                new = self.values.pseudonym(tag, values[0], ds)
                ds[raw.tag] = raw_with(raw, vr, [new], ctx.encoding)
                ctx.log(path, _DUMMY, rule + "; keyed pseudonym")
            return True
        if action is _NEW_UID or (vr == "UI" and action in _UID_ACTIONS):
            if not self.values.keeps_uid(rule):
                uids = [self.values.uid(v) for v in values]
                if uids != values:
                    ds[raw.tag] = raw_with(raw, vr, uids, ctx.encoding)
                    ctx.log(path, _NEW_UID, rule)
            return True
        if action is _ZERO:
            ds[raw.tag] = raw._replace(value=b"", length=0)
        elif action is _DUMMY:
            dummy = DUMMY.get(vr, "ANONYMIZED")
            if not isinstance(dummy, str):
                return False
            ds[raw.tag] = raw_with(raw, vr, [dummy], ctx.encoding)
        elif action is _CHECK_IDENTIFIER:
            if ctx.holds_identifier("\\".join(values).lower()):
                del ds[raw.tag]
                ctx.log(path, _REMOVE, rule + ": holds an identifier of this patient")
            elif vr in MAX_LENGTH and not plausible(raw.value, vr):
                del ds[raw.tag]  # damaged length: the value swallowed other elements
                ctx.log(path, _REMOVE, f"value not valid for VR {vr} (damaged file?)")
            return True
        else:
            return False
        ctx.log(path, action, rule)
        return True
