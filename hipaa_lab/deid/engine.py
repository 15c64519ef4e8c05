"""The de-identification engine: :class:`Deidentifier` cleans one data set in place, element by
element, by Table E.1-1 (:mod:`.profile`) and the rules described in :mod:`hipaa_lab.deid`.

It is the facade of the engine's parts, private modules of the wing, each made once per batch
(see :class:`Deidentifier`); the names below stay importable from here."""

from __future__ import annotations

from collections.abc import Iterable

from pydicom.dataset import Dataset

from hipaa_lab.deid._context import Change, ContextReader
from hipaa_lab.deid._decisions import Decisions
from hipaa_lab.deid._elements import ElementActions
from hipaa_lab.deid._marks import Marks
from hipaa_lab.deid._policy import ATTRIBUTE_TYPES, SAFE_PRIVATE, Policy
from hipaa_lab.deid._values import RESTRICTED_ZIP3, ValueCleaner, cap_age
from hipaa_lab.deid._walk import Walker
from hipaa_lab.deid.profile import Action, Option, Profile, Table
from hipaa_lab.deid.pseudonyms import Pseudonymizer

__all__ = [
    "ATTRIBUTE_TYPES",
    "Change",
    "Deidentifier",
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION",
    "RESTRICTED_ZIP3",
    "SAFE_PRIVATE",
]

IMPLEMENTATION_CLASS_UID = "2.25.236218384066915427722574542738372539937"  # fixed, hipaa-lab's own
IMPLEMENTATION_VERSION = "HIPAALAB_0.1"


class Deidentifier:
    """Cleans datasets in place under one key, profile and set of options.

    The work is shared by small parts, made once here for every data set of a batch:
    the :class:`~hipaa_lab.deid._policy.Policy` (Table E.1-1 resolved under the options), its
    :class:`~hipaa_lab.deid._decisions.Decisions` (each (tag, VR)'s action, cached), the
    :class:`~hipaa_lab.deid._context.ContextReader` (the patient's identifiers, read first), the
    :class:`~hipaa_lab.deid._walk.Walker` (every element at every depth), which has
    :class:`~hipaa_lab.deid._elements.ElementActions` carry out each action with the
    :class:`~hipaa_lab.deid._values.ValueCleaner`'s new values, and the
    :class:`~hipaa_lab.deid._marks.Marks`.

    Parameters
    ----------
    key
        The secret behind pseudonyms, UIDs and date shifts (see :func:`hipaa_lab.deid.pseudonyms.load_key`).
    options
        :class:`~hipaa_lab.deid.profile.Option` values or their names (``"retain-uids"``...).
    profile
        ``"basic"`` or ``"safe-harbor"``.

    Raises
    ------
    ValueError
        For an unknown option or profile, or options that contradict each other or the profile.
    """

    def __init__(
        self,
        key: bytes,
        options: Iterable[Option | str] = (),
        profile: str | Profile = Profile.BASIC,
    ) -> None:
        self.policy = Policy(options, profile)
        self.options: frozenset[Option] = self.policy.options
        self.profile: Profile = self.policy.profile
        self.pseudo = Pseudonymizer(key)
        decisions = Decisions(self.policy)
        values = ValueCleaner(self.pseudo, self.policy.retains_uids)
        self._reader = ContextReader(decisions, self.pseudo)
        self._walker = Walker(self.policy, decisions, ElementActions(self.policy, values))
        self._marks = Marks(self.options, self.profile, self.policy.dates)

    @property
    def table(self) -> Table:
        """Table E.1-1 (:func:`~hipaa_lab.deid.profile.load_table`)."""
        return self.policy.table

    @property
    def actions(self) -> dict[int, Action]:
        """The action of every tag of the table under this profile and options."""
        return self.policy.actions

    @property
    def overlay(self) -> dict[int, Action]:
        """The action of each overlay element (by element number in a 60xx group)."""
        return self.policy.overlay

    @property
    def curve(self) -> Action:
        """The action of curve data (50xx groups)."""
        return self.policy.curve

    @property
    def private(self) -> Action:
        """The action of private attributes (C: Retain Safe Private)."""
        return self.policy.private

    @property
    def items(self) -> dict[tuple[str, str], Action]:
        """The action of each SR content item of Table E.3.4-1, by (code value, scheme)."""
        return self.policy.items

    def method_text(self) -> list[str]:
        """DeidentificationMethod values (LO, 64 characters each): profile, edition, options."""
        return self._marks.method_text()

    def deidentify(self, ds: Dataset, *, pixel_cleaned: bool = False) -> list[Change]:
        """Clean ``ds`` in place (header only; see :func:`deidentify_file` for pixels); return the changes."""
        ctx = self._reader.read(ds)
        self._walker.clean(ds, "", ctx, 0, None)
        if "ResponsiblePersonRole" in ds and not ds.get("ResponsiblePerson"):
            del ds.ResponsiblePersonRole  # Type 1C: present only with a Responsible Person
            ctx.log(
                "ResponsiblePersonRole",
                Action.REMOVE,
                "Type 1C: required only if Responsible Person is present",
            )
        cap_age(ds, ctx, self.profile is Profile.SAFE_HARBOR)
        self._marks.mark(ds, pixel_cleaned)
        return ctx.changes
