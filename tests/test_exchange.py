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
