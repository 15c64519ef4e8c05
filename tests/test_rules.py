"""The exercises' rules (:mod:`hipaa_lab.course.rules`): what refuses while a learner's function
runs for a grade, one registry for every module, and one way to call the learner's function."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from hipaa_lab.course import rules
from hipaa_lab.course.rules import RULES, call_learner, own_work
from hipaa_lab.errors import GradingError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _current(module: str, attribute: str) -> object:
    owner: object = importlib.import_module(module)
    for part in attribute.split("."):
        owner = getattr(owner, part)
    return owner


@pytest.mark.parametrize("name", sorted(RULES))
def test_each_rule_refuses_while_the_function_runs_and_restores_after(name):
    rule = RULES[name]
    before = {target: _current(*target) for target in rule.targets}
    with own_work(name):
        for target in rule.targets:
            with pytest.raises(GradingError, match=rule.message[:20] or "."):
                _current(*target)()
    assert {target: _current(*target) for target in rule.targets} == before


def test_the_request_desk_refuses_through_its_switch_whoever_imported_it():
    from hipaa_lab.safeguards.sharing import decide_request, verify_link

    for name in ("decide", "link_valid"):
        with own_work(name), pytest.raises(GradingError, match="package's answer"):
            decide_request({})
        with own_work(name), pytest.raises(GradingError, match="package's answer"):
            verify_link({}, "u", "a time", "k")
    assert isinstance(decide_request({}), dict)  # outside a learner's call, it answers


def test_a_function_without_a_rule_runs_as_it_is():
    from hipaa_lab.deid import scan

    with own_work("find_inappropriate"):
        scan.find_patterns("nothing here")  # not refused
    with own_work("find_phi"), pytest.raises(GradingError, match="find PHI itself"):
        scan.find_patterns("nothing here")


def test_every_rule_names_a_function_a_module_asks_for():
    """A renamed exercise would silently lose its rule: every name is defined by a notebook."""
    defined = set()
    for path in NOTEBOOKS.glob("m*/*.ipynb"):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell["source"])
            defined |= {name for name in RULES if f"def {name}(" in source}
    assert defined == set(RULES)


def test_call_learner_copies_the_inputs_and_names_what_went_wrong():
    record = {"lines": ["a"]}

    def changes_its_input(r):
        r["lines"].append("b")
        return len(r["lines"])

    assert call_learner(changes_its_input, "find_tampered", record, on="log") == 2
    assert record == {"lines": ["a"]}

    def unwritten(r):
        raise NotImplementedError()

    with pytest.raises(GradingError, match="not written yet"):
        call_learner(unwritten, "find_tampered", record)

    def broken(r):
        return r["missing"]

    with pytest.raises(GradingError, match=r"raised KeyError: 'missing' on a fresh log"):
        call_learner(broken, "find_tampered", record, on="log")

    def cheats(lines):
        from hipaa_lab.ledger import check_chain

        return check_chain(lines)

    with pytest.raises(GradingError, match="check the links itself"):
        call_learner(cheats, "find_tampered", [])


def test_the_registry_is_the_one_the_checks_and_the_harness_use():
    from hipaa_lab.course import checks_audit, checks_breach, checks_safeguards, harness

    assert checks_audit.own_work is rules.own_work
    assert checks_safeguards.own_work is rules.own_work
    assert checks_breach.call_learner is rules.call_learner
    assert "rules import own_work" in Path(harness.__file__).read_text()


# --------------------------------------------------------------------------- sealed: withheld

#: What sealed autograding withholds from the sandbox, per module (the table in rules.py).
WITHHELD = {
    "m01-phi-in-images": ("hipaa_lab.deid.engine", "hipaa_lab.deid.scan"),
    "m02-deidentifying-images": (),
    "m03-who-may-see-this-study": (),
    "m04-reading-the-audit-log": ("hipaa_lab._chaincheck", "hipaa_lab._linechain"),
    "m05-safeguards-in-practice": (
        "hipaa_lab.safeguards._carving",
        "hipaa_lab.safeguards._restore_check",
    ),
    "m06-when-something-goes-wrong": (
        "hipaa_lab.course._breach_key",
        "hipaa_lab.safeguards._breach_plan",
    ),
    "m07-sharing-images-safely": ("hipaa_lab.safeguards._desk",),
}


@pytest.mark.parametrize("module", sorted(WITHHELD))
def test_each_assignment_withholds_the_modules_its_grade_cells_answers_are_in(module):
    """The sealed run derives them from the grade cells' free names, as SealedExecute does."""
    import nbformat

    from hipaa_lab.course.sealed import _graded_names

    nb = nbformat.read(NOTEBOOKS / module / f"{module}.ipynb", as_version=4)
    assert rules.withheld_modules(_graded_names(nb)) == WITHHELD[module]


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_withheld_module_is_a_file_of_the_package_and_holds_its_targets(name):
    """A target outside every withheld module would stay readable in the sandbox; a withheld
    module that is not a file of its own would hide nothing (or everything)."""
    import hipaa_lab

    package = Path(hipaa_lab.__file__).resolve().parent
    rule = RULES[name]
    assert rule.withheld
    for module in rule.withheld:
        assert (package.parent / (module.replace(".", "/") + ".py")).is_file(), module
    # the answer each target runs lives in a withheld module: replaced or not, it refuses there
    answers = {t for t in rule.targets if t[0] in rule.withheld}
    assert answers or rule.switch is not None, name


def test_the_withheld_stub_imports_and_refuses_every_use_of_its_names(tmp_path):
    """The file bound over an answer's module: ``from module import name`` works (other modules
    import answers by name when they load), any use of the name raises one sentence."""
    import importlib.util
    import sys

    from hipaa_lab.course import withheld

    spec = importlib.util.spec_from_file_location("hipaa_lab.an_answer", withheld.__file__)
    assert spec is not None and spec.loader is not None
    stub = importlib.util.module_from_spec(spec)
    sys.modules["hipaa_lab.an_answer"] = stub
    try:
        spec.loader.exec_module(stub)
        from hipaa_lab.an_answer import plan  # type: ignore[import-not-found]

        def subclass() -> None:
            class Mine(plan):  # type: ignore[misc, valid-type]
                pass

        sentence = "hipaa_lab.an_answer holds an answer of this assignment and is not available"
        for use in (
            lambda: plan({"card": 1}),
            lambda: plan.__wrapped__,
            lambda: plan.helper,
            subclass,
            lambda: list(plan),
            lambda: bool(plan),
        ):
            with pytest.raises(GradingError, match=sentence):
                use()
        with pytest.raises(AttributeError):
            stub.__path__  # noqa: B018 - the import system asks; the stub is no package
        assert stub.__withheld__ is True
    finally:
        del sys.modules["hipaa_lab.an_answer"]
    with pytest.raises(AttributeError):  # imported as itself, it withholds nothing
        withheld.plan  # noqa: B018


def test_own_work_has_nothing_to_replace_in_a_withheld_module(monkeypatch):
    """In the sandbox the rule's targets in a withheld module are the stub's placeholders
    (``Class.method`` on one would raise): the rule replaces only the others."""
    import types

    from hipaa_lab.safeguards import breach

    for module in RULES["plan_notices"].withheld:
        stub = types.ModuleType(module)
        stub.__withheld__ = True  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, module, stub)
    real = breach.plan
    with own_work("plan_notices"), pytest.raises(GradingError, match="work it out yourself"):
        breach.plan(None)
    assert breach.plan is real
    for module in RULES["plan_notices"].withheld:
        assert vars(sys.modules[module]).keys() == {
            "__name__",
            "__doc__",
            "__package__",
            "__loader__",
            "__spec__",
            "__withheld__",
        }


def test_bwrap_binds_the_stub_over_every_readable_copy_of_a_withheld_module(tmp_path, monkeypatch):
    """Source and bytecode of the checkout's copy and of a second installed copy (another
    site-packages the sandbox sees), each bound over with the stub after the package's folders;
    modules not withheld stay as they are. No sandbox needed."""
    import py_compile

    import hipaa_lab
    from hipaa_lab.course import sandbox, withheld

    package = Path(hipaa_lab.__file__).resolve().parent
    source = package / "_chaincheck.py"
    pyc = Path(importlib.util.cache_from_source(str(source)))
    made_pyc = not pyc.exists()
    py_compile.compile(str(source), cfile=str(pyc), optimize=-1)
    optimized = pyc.with_name(pyc.name.replace(".pyc", ".opt-1.pyc"))
    made_opt = not optimized.exists()
    py_compile.compile(str(source), cfile=str(optimized), optimize=1)
    second = tmp_path / "lib" / "site-packages"
    (second / "hipaa_lab").mkdir(parents=True)
    (second / "hipaa_lab" / "_chaincheck.py").write_text(source.read_text())
    (second / "hipaa_lab" / "ledger.py").write_text("")
    monkeypatch.syspath_prepend(str(second))
    try:
        cmd = sandbox.bwrap_command(
            tmp_path, None, None, withheld=("hipaa_lab._chaincheck", "hipaa_lab._linechain")
        )
        plain = sandbox.bwrap_command(tmp_path, None, None)
    finally:
        if made_pyc:
            pyc.unlink()
        if made_opt:
            optimized.unlink()
    stub = str(Path(withheld.__file__).resolve())
    bound = {cmd[i + 2] for i in range(len(cmd) - 2) if cmd[i : i + 2] == ["--ro-bind", stub]}
    assert bound == {
        str(source),
        str(pyc.resolve()),
        str(optimized.resolve()),
        str(package / "_linechain.py"),
        str((second / "hipaa_lab" / "_chaincheck.py").resolve()),
    }
    last_package_bind = max(
        i for i in range(len(cmd) - 1) if cmd[i] == "--ro-bind" and cmd[i + 1] == str(package)
    )
    assert all(cmd.index(path) > last_package_bind for path in bound)
    assert stub not in plain


def test_a_copy_in_another_pythons_packages_inside_a_visible_folder_is_found(tmp_path):
    """A system Python's ``dist-packages`` (``/usr`` is bound into the sandbox) may hold another
    installed copy of the package, not on this ``sys.path``: it is withheld too."""
    from hipaa_lab.course import sandbox

    other = tmp_path / "usr" / "lib" / "python3" / "dist-packages" / "hipaa_lab" / "safeguards"
    (other / "__pycache__").mkdir(parents=True)
    (other / "_desk.py").write_text("")
    (other / "__pycache__" / "_desk.cpython-311.pyc").write_bytes(b"")
    (other / "sharing.py").write_text("")
    found = sandbox.withheld_files(["hipaa_lab.safeguards._desk"], [tmp_path / "usr"])
    assert {p for p in found if p.is_relative_to(tmp_path)} == {
        (other / "_desk.py").resolve(),
        (other / "__pycache__" / "_desk.cpython-311.pyc").resolve(),
    }
    assert not sandbox.withheld_files(["hipaa_lab.safeguards._desk"], [tmp_path / "elsewhere"])
