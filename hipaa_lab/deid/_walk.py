"""The walk through a data set: every element at every depth, each by its plan; sequence items
(SR content items by Table E.3.4-1); then what goes with its block or group: private creators
left without a kept element, overlay groups whose data went."""

from __future__ import annotations

import functools
from typing import cast

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from hipaa_lab.deid._context import PatientContext
from hipaa_lab.deid._decisions import AMBIGUOUS, CREATOR, Decisions
from hipaa_lab.deid._elements import ElementActions
from hipaa_lab.deid._policy import SAFE_CREATORS, Policy
from hipaa_lab.deid._raw import MAX_LENGTH, plausible, text_encoding
from hipaa_lab.deid._tags import (
    CONTENT_ITEM_VALUES,
    CONTENT_SEQUENCE,
    PRIVATE_CREATORS,
    creator_tag,
)
from hipaa_lab.deid.profile import Action, resolve_by_type
from hipaa_lab.phi import tag_path

__all__ = ["Walker", "segment"]

_KEEP, _REMOVE = Action.KEEP, Action.REMOVE  # globals: see _elements
_MAX_DEPTH = 64  # sequences nested deeper: the outer sequence is removed


def segment(ds: Dataset, tag: int) -> str:
    """The :func:`hipaa_lab.phi.tag_path` segment of ``tag`` in ``ds``, for the provenance log in DST.

    A private creator is the input's own text, so it is named only when it is one of
    :data:`~hipaa_lab.deid.engine.SAFE_PRIVATE`'s; any other private element is written as its
    tag, ``(0009,1010)``.
    """
    group = tag >> 16
    if not group & 1:
        return _public_segment(tag)
    if tag & 0xFF00:
        creator = ds.get(creator_tag(tag))
        if creator is None or str(creator.value) not in SAFE_CREATORS:
            return f"({group:04X},{tag & 0xFFFF:04X})"
    return tag_path(ds, ds.get_item(tag))


@functools.lru_cache(maxsize=8192)
def _public_segment(tag: int) -> str:
    """A public tag's path segment (its keyword, else ``(gggg,eeee)``), as :func:`tag_path` writes it."""
    return keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class Walker:
    """Cleans a data set and every item of its sequences, element by element.

    Parameters
    ----------
    policy
        For the actions of SR content items.
    decisions
        Each element's plan.
    elements
        Carries out an action.
    """

    def __init__(self, policy: Policy, decisions: Decisions, elements: ElementActions) -> None:
        self.policy = policy
        self.decisions = decisions
        self.elements = elements

    def clean(
        self,
        ds: Dataset,
        prefix: str,
        ctx: PatientContext,
        depth: int,
        item_action: Action | None,
    ) -> None:
        """Clean ``ds`` (at tag path ``prefix``); ``item_action``: an SR content item's action
        (Table E.3.4-1) for its value, when its concept is listed."""
        drop_groups: set[int] = set()
        kept_creators: set[tuple[int, int]] = set()
        outer = ctx.encoding
        ctx.encoding = text_encoding(ds, outer)
        plans = self.decisions.clean_plans
        for key, raw in list(ds._dict.items()):
            # a plain int for this module's tables (BaseTag compares in Python on every dict
            # lookup) and the data set's own key for the data set (found by identity)
            tag = int(key)
            plan = plans.get((tag, raw.VR))
            if plan is None:
                plan = self.decisions.clean_plan(tag, raw.VR)
            if plan is CREATOR:
                continue  # private creators: decided after their blocks
            if plan is AMBIGUOUS:  # "US or SS"...: pydicom resolves it from the data set
                vr = ds[key].VR
                action, rule = self.decisions.decide(tag, vr)
            else:
                vr, action, rule = cast("tuple[str, Action, str]", plan)
            if item_action is not None and tag in CONTENT_ITEM_VALUES:
                action, rule = item_action, "E.3.4-1 content item"
            if action is _KEEP and vr != "SQ":
                if vr in MAX_LENGTH and not plausible(raw.value, vr):
                    del ds[key]  # damaged length: the value swallowed other elements
                    ctx.log(
                        prefix + segment(ds, tag),
                        _REMOVE,
                        f"value not valid for VR {vr} (damaged file?)",
                    )
                continue
            path = prefix + segment(ds, tag)
            try:
                if self.elements.apply(
                    ds, key, vr, action, rule, path, ctx, drop_groups, kept_creators
                ):
                    self._sequence(ds[key], tag, path, ctx, depth)
            except Exception as exc:  # an unreadable value: remove it
                if key in ds:
                    del ds[key]
                ctx.log(path, _REMOVE, f"{rule}; value unreadable ({type(exc).__name__})")
        self._drop(ds, prefix, ctx, drop_groups, kept_creators)
        ctx.encoding = outer

    @staticmethod
    def _drop(
        ds: Dataset,
        prefix: str,
        ctx: PatientContext,
        drop_groups: set[int],
        kept_creators: set[tuple[int, int]],
    ) -> None:
        """Remove the overlay groups in ``drop_groups`` and the private creators that reserve no
        kept element."""
        for tag in list(ds.keys()):
            group = tag >> 16
            if group in drop_groups:
                del ds[tag]
            elif (
                group & 1
                and (tag & 0xFFFF) in PRIVATE_CREATORS
                and (group, tag & 0xFF) not in kept_creators
            ):
                ctx.log(
                    prefix + f"({group:04X},{tag & 0xFFFF:04X})",
                    _REMOVE,
                    "E.1-1 private attributes (creator)",
                )
                del ds[tag]

    def _sequence(
        self, elem: DataElement, tag: int, path: str, ctx: PatientContext, depth: int
    ) -> None:
        """Clean every item of a sequence; drop the SR content items Table E.3.4-1 removes."""
        if depth >= _MAX_DEPTH:
            raise ValueError(f"sequences nested deeper than {_MAX_DEPTH}")
        kept = []
        for i, item in enumerate(elem.value or ()):
            item_action = None
            if tag == CONTENT_SEQUENCE:
                item_action = self._item_action(item)
                if item_action is _REMOVE:
                    ctx.log(f"{path}[{i}]", _REMOVE, "E.3.4-1 content item")
                    continue
                if item_action is not None:
                    # the item stays, so its value is required (Type 1C by its Value Type): D, not X
                    item_action = resolve_by_type(item_action, 1)
            self.clean(item, f"{path}[{i}].", ctx, depth + 1, item_action)
            kept.append(item)
        if len(kept) != len(elem.value or ()):
            elem.value = kept

    def _item_action(self, item: Dataset) -> Action | None:
        """The action of an SR content item's concept in Table E.3.4-1 (``None`` when unlisted)."""
        concept = item.get("ConceptNameCodeSequence")
        if not concept:
            return None
        code = concept[0]
        key = (str(code.get("CodeValue", "")), str(code.get("CodingSchemeDesignator", "")))
        return self.policy.items.get(key)
