"""The public API: __all__ is sorted and names exactly what the package offers."""

import importlib

import pytest

MODULES = [
    "hipaa_lab",
    "hipaa_lab.errors",
    "hipaa_lab.phi",
    "hipaa_lab.grading",
    "hipaa_lab.widgets",
    "hipaa_lab.deid",
    "hipaa_lab.deid.scan",
    "hipaa_lab.deid.pixels",
    "hipaa_lab.deid.profile",
    "hipaa_lab.deid.pseudonyms",
    "hipaa_lab.studies",
    "hipaa_lab.studies.burned",
    "hipaa_lab.studies.catalogue",
    "hipaa_lab.studies.context",
    "hipaa_lab.studies.header",
    "hipaa_lab.studies.modalities",
    "hipaa_lab.studies.model",
    "hipaa_lab.studies.patients",
    "hipaa_lab.studies.phantoms",
    "hipaa_lab.studies.report",
    "hipaa_lab.studies.tree",
    "hipaa_lab.datasets",
    "hipaa_lab.phantoms",
    "hipaa_lab.course",
    "hipaa_lab.course.grading",
    "hipaa_lab.course.checks_access",
    "hipaa_lab.course.checks_audit",
    "hipaa_lab.course.checks_breach",
    "hipaa_lab.course.checks_safeguards",
    "hipaa_lab.course.checks_sharing",
    "hipaa_lab.course.rules",
    "hipaa_lab.course.offline",
    "hipaa_lab.course.progress",
    "hipaa_lab.course.parallel",
    "hipaa_lab.course.sandbox",
    "hipaa_lab.course.sealed",
    "hipaa_lab.course.hub",
    "hipaa_lab.ledger",
    "hipaa_lab.postgres",
    "hipaa_lab.safeguards.audit",
    "hipaa_lab.safeguards.breach",
    "hipaa_lab.safeguards.breach_commands",
    "hipaa_lab.safeguards.commands",
    "hipaa_lab.safeguards.workday",
    "hipaa_lab.records",
    "hipaa_lab.records.roster",
    "hipaa_lab.records.curricula",
    "hipaa_lab.records.status",
    "hipaa_lab.records.sync",
    "hipaa_lab.records.export",
    "hipaa_lab.records.certificate",
    "hipaa_lab.records.dashboard",
    "hipaa_lab.safeguards",
    "hipaa_lab.safeguards.access",
    "hipaa_lab.safeguards.policy",
    "hipaa_lab.safeguards.sessions",
    "hipaa_lab.safeguards.backup",
    "hipaa_lab.safeguards.crypto",
    "hipaa_lab.safeguards.media",
    "hipaa_lab.safeguards.transmission",
    "hipaa_lab.safeguards.sharing",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_resolves(name):
    module = importlib.import_module(name)
    assert list(module.__all__) == sorted(module.__all__)
    for attr in module.__all__:
        assert getattr(module, attr) is not None


def test_importing_the_package_does_not_load_the_notebook_stack():
    import subprocess
    import sys

    code = "import sys, hipaa_lab; print(sorted(m for m in ('nbgrader', 'jupyterlab', 'pandas', 'ipywidgets') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_errors_subclass_the_builtin_a_caller_expects():
    from hipaa_lab import errors

    assert issubclass(errors.OutputNotEmptyError, FileExistsError)
    assert issubclass(errors.UnknownDatasetError, LookupError)
    assert issubclass(errors.GradingError, AssertionError)
    assert issubclass(errors.StaleCourseError, errors.CourseError)
    assert all(issubclass(getattr(errors, n), errors.HipaaLabError) for n in errors.__all__)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("hipaa_lab.datasets", "hipaa_lab.studies.catalogue"),
        ("hipaa_lab.phantoms", "hipaa_lab.studies.phantoms"),
    ],
)
def test_the_studies_wing_keeps_the_old_module_names(old, new):
    import hipaa_lab as hl

    assert importlib.import_module(old) is importlib.import_module(new)
    assert getattr(hl, old.rsplit(".", 1)[1]) is importlib.import_module(new)


def test_the_studies_wing_keeps_every_name_it_had():
    from hipaa_lab import studies

    before = ["Instance", "Modality", "PHILevel", "Patient", "Study", "element_text"]
    before += ["make_patient", "make_study", "write_tree", "PN_MAX_BYTES", "SOP_CLASS"]
    assert all(getattr(studies, name) is not None for name in before)
    assert studies.phantoms is importlib.import_module("hipaa_lab.phantoms")
    assert studies.make_patient(3) == studies.make_patient(3)


def test_the_deid_wing_loads_a_name_home_only_when_asked():
    """hipaa_lab.deid's names come from their modules' __all__, each module loaded on first use:
    a submodule imported from the wing loads nothing else, an engine name not the batch runner."""
    import subprocess
    import sys

    code = (
        "import sys; from hipaa_lab.deid import profile, pseudonyms; "
        "loaded = lambda: [m for m in ('text', 'engine', 'batch') if 'hipaa_lab.deid.' + m in sys.modules]; "
        "print(loaded()); from hipaa_lab.deid import Deidentifier, IMPLEMENTATION_VERSION; print(loaded()); "
        "from hipaa_lab.deid import write_dicom, clean_text; print(loaded())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:3] == ["[]", "['text', 'engine']", "['text', 'engine', 'batch']"]

    import hipaa_lab.deid as wing

    with pytest.raises(AttributeError, match="no attribute 'Policy'"):
        wing.Policy  # noqa: B018  a name of a private module: not the wing's
