"""Synthetic patients and DICOM studies with protected health information planted on purpose.

Every study is deterministic by seed: the same seed gives byte-identical files. A different seed
changes not only the values but *where* identifiers sit (which optional attributes, which private
creators and groups, which sequences, which free-text fields, file-name layout), so code that
hard-codes the places of one study fails on the next.

How much is planted is set by :class:`PHILevel`; each level keeps everything of the level below
(a study made at ``NESTED`` has the same header identifiers as the same seed at ``HEADER``).

Answer-key rule for values (:func:`hipaa_lab.phi.element_text`): a header entry's ``value`` is ``str`` of the
element's value, person names as ``str(PersonName)`` (all component groups, ``=``-separated), and a
multi-valued element as its values joined with a backslash, as DICOM encodes them. An element that
holds identifiers of more than one Safe Harbor category gets one entry per category (same path).

The wing: :mod:`.patients` (synthetic identities), :mod:`.model` (:class:`Modality`,
:class:`PHILevel`, :class:`Study`, :class:`Instance`), :mod:`.context` (every choice of one study,
drawn from its seed; UIDs, dates, file names), :mod:`.header` (the modules every instance shares,
and the marks that make the answer key), :mod:`.burned` (overlays and text burned into pixels),
:mod:`.modalities` (the image builders and :func:`make_study`), :mod:`.report` (the SR),
:mod:`.phantoms` (pixels that look like anatomy, and text drawing), :mod:`.tree`
(:func:`write_tree`) and :mod:`.catalogue` (the named datasets, :func:`~.catalogue.build`,
:func:`~.catalogue.load`). ``hipaa_lab.phantoms`` and ``hipaa_lab.datasets`` still import, as
:mod:`.phantoms` and :mod:`.catalogue`; every name below was importable from
``hipaa_lab.studies`` before the wing and still is.

Examples
--------
>>> study = make_study("CT", seed=7, slices=2, rows=64, columns=64)
>>> len(study.instances), study.instances[0].dataset.Modality
(2, 'CT')
>>> any(e.path == "PatientName" for e in study.instances[0].entries)
True
"""

from __future__ import annotations

from hipaa_lab.phi import element_text
from hipaa_lab.studies.modalities import make_study
from hipaa_lab.studies.model import SOP_CLASS as SOP_CLASS
from hipaa_lab.studies.model import Instance, Modality, PHILevel, Study
from hipaa_lab.studies.patients import PN_MAX_BYTES as PN_MAX_BYTES
from hipaa_lab.studies.patients import Patient, make_patient
from hipaa_lab.studies.tree import write_tree

__all__ = [
    "Instance",
    "Modality",
    "PHILevel",
    "Patient",
    "Study",
    "element_text",
    "make_patient",
    "make_study",
    "write_tree",
]
