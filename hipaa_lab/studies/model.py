"""The generator's vocabulary: the kinds of study, how deep identifiers go, and what comes out.

A :class:`Study` is one patient's study of one :class:`Modality`, made at one :class:`PHILevel`;
it holds :class:`Instance` objects, each a dataset, the path it is written to, and the answer-key
entries of the identifiers planted in it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from hipaa_lab.phi import PHIEntry
from hipaa_lab.studies.patients import Patient

__all__ = ["Instance", "Modality", "PHILevel", "SOP_CLASS", "Study"]


class Modality(str, enum.Enum):
    """The kinds of study :func:`make_study` makes (``SC``: a scanned requisition or dose sheet)."""

    CT = "CT"
    MR = "MR"
    CR = "CR"
    DX = "DX"
    US = "US"
    MG = "MG"
    SC = "SC"
    SR = "SR"


class PHILevel(enum.IntEnum):
    """How deep identifiers are planted; each level includes the ones below."""

    HEADER = 1  #: standard top-level header attributes
    NESTED = 2  #: + sequences, private blocks, free text, UIDs embedding MRNs and dates
    EVERYWHERE = (
        3  #: + overlays with text, text burned into pixels, identifiers in file and folder names
    )


#: The SOP Class each modality's instances are (SC: Secondary Capture; SR: Basic Text SR).
SOP_CLASS = {
    Modality.CT: "1.2.840.10008.5.1.4.1.1.2",
    Modality.MR: "1.2.840.10008.5.1.4.1.1.4",
    Modality.CR: "1.2.840.10008.5.1.4.1.1.1",
    Modality.DX: "1.2.840.10008.5.1.4.1.1.1.1",
    Modality.MG: "1.2.840.10008.5.1.4.1.1.1.2",
    Modality.US: "1.2.840.10008.5.1.4.1.1.6.1",
    Modality.SC: "1.2.840.10008.5.1.4.1.1.7",
    Modality.SR: "1.2.840.10008.5.1.4.1.1.88.11",
}


@dataclass
class Instance:
    """One DICOM file to be: its dataset, its path in the tree, and its planted identifiers."""

    dataset: Dataset
    file: str
    entries: list[PHIEntry] = field(default_factory=list)


@dataclass
class Study:
    """One study of one patient."""

    patient: Patient
    modality: Modality
    instances: list[Instance]
    seed: int = 0
    level: PHILevel = PHILevel.EVERYWHERE

    @property
    def entries(self) -> list[PHIEntry]:
        """Every identifier planted in the study, instance by instance."""
        return [e for inst in self.instances for e in inst.entries]
