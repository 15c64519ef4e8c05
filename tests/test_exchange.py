"""Collecting from a shared exchange: the learner's own folders, regular files only."""

from __future__ import annotations

import os
import pwd

import pytest

from hipaa_lab.course.exchange import _copy_regular, owner_is_learner


def test_a_folder_counts_as_the_learners_only_when_their_account_owns_it(tmp_path):
    folder = tmp_path / "inbound"
    folder.mkdir()
    assert owner_is_learner(folder, "no-such-account-e9")  # one person's course: the collector's
    if os.geteuid() != 0:
        pytest.skip("changing owners needs root")
    nobody = pwd.getpwnam("nobody")
    os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    assert not owner_is_learner(folder, "no-such-account-e9")  # written by another account
    assert owner_is_learner(folder, "nobody")  # a learner's own account
    assert not owner_is_learner(folder, "root")
    link = tmp_path / "link"
    link.symlink_to(folder)
    assert owner_is_learner(link, "root") and not owner_is_learner(link, "nobody")  # not followed


def test_only_regular_files_within_the_limit_are_copied(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("course secret")
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    link = tmp_path / "link.txt"
    link.symlink_to(secret)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    out.mkdir()
    assert _copy_regular(notes, out / "notes.txt", 1000) == 8
    assert (out / "notes.txt").read_text() == "my notes"
    assert _copy_regular(link, out / "link.txt", 1000) is None
    assert _copy_regular(fifo, out / "pipe", 1000) is None  # never blocks on a pipe
    assert _copy_regular(notes, out / "big.txt", 4) is None
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_a_file_grown_after_its_check_is_copied_only_as_checked(tmp_path, monkeypatch):
    """The learner owns the submitted file and may grow it between the size check and the copy:
    made sparse and gigabytes long (a truncate: no disk of theirs), every zero was copied into the
    course's folder, past the course's limits. Defence: only the size checked is copied."""
    from hipaa_lab.course import exchange

    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    checked = os.fstat

    def then_grown(fd):
        info = checked(fd)
        os.truncate(notes, 8 * 2**20)  # the learner's own process, just after the check
        return info

    monkeypatch.setattr(exchange.os, "fstat", then_grown)
    assert _copy_regular(notes, tmp_path / "copy.txt", 1000) == 8
    monkeypatch.undo()
    assert (tmp_path / "copy.txt").read_bytes() == b"my notes"


def _collector(max_dir_kb=100_000, max_file_kb=100_000):
    import logging
    import types

    coursedir = types.SimpleNamespace(
        max_file_size=max_file_kb, max_dir_size=max_dir_kb, ignore=[".ipynb_checkpoints"]
    )
    return types.SimpleNamespace(coursedir=coursedir, log=logging.getLogger("test"))


def test_a_submission_that_is_a_link_to_the_trainers_folder_is_refused_and_not_copied(tmp_path):
    """The attack: ``ln -s COURSE/source/m01 inbound/ME+m01+TIME+x``; a check by lstat passed it
    and a walk from it copied the solutions in."""
    from hipaa_lab.course.exchange import SafeCollect, _refused

    source = tmp_path / "source" / "m01"
    source.mkdir(parents=True)
    (source / "m01.ipynb").write_text("### BEGIN SOLUTION")
    inbound = tmp_path / "inbound"
    inbound.mkdir()
    link = inbound / "learner+m01+2026-12-07 10:00:00.000000 UTC+x"
    link.symlink_to(source)
    assert "not a folder" in _refused(str(link), "learner", 1e9)
    SafeCollect.do_copy(_collector(), str(link), str(tmp_path / "submitted"))
    assert list((tmp_path / "submitted").rglob("*")) == []


def test_an_oversized_submission_is_refused_before_anything_is_copied(tmp_path):
    from hipaa_lab.course.exchange import SafeCollect, _refused

    folder = tmp_path / "learner+m01+2026-12-07 10:00:00.000000 UTC+x"
    (folder / "sub").mkdir(parents=True)
    (folder / "m01.ipynb").write_bytes(b"x" * 3000)
    (folder / "sub" / "data.bin").write_bytes(b"y" * 3000)
    (folder / "big-link").symlink_to("/dev/zero")  # links count nothing, and are not followed
    assert _refused(str(folder), "learner", 10_000) is None
    assert "more than" in _refused(str(folder), "learner", 5_000)
    out = tmp_path / "out"
    SafeCollect.do_copy(_collector(max_dir_kb=4), str(folder), str(out))  # a limit passed midway
    copied = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert len(copied) == 1 and copied[0] in ("m01.ipynb", "sub/data.bin")  # the rest left out
