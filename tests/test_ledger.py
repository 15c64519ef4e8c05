"""The tamper-evident log: RFC 9162 hashing against the Certificate Transparency reference
vectors, proofs over every tree shape, and every way of tampering with a log on disk."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import stat

import pytest

from hipaa_lab import ledger as L

# RFC 6962 / 9162 reference data (the Certificate Transparency test vectors): 8 leaf inputs,
# the roots of the trees of their first n, and proofs.
LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
LEAVES = [L.leaf_hash(d) for d in LEAF_INPUTS]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [  # (0-based leaf, tree size, audit path)
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


def test_roots_are_the_reference_roots_for_every_size():
    for n, root in enumerate(ROOTS):
        assert L.root_hash(LEAVES[:n]).hex() == root, n


def test_inclusion_proofs_are_the_reference_paths_and_verify():
    for index, size, path in INCLUSION:
        proof = L.inclusion_proof(index, LEAVES[:size])
        assert [p.hex() for p in proof] == path
        root = bytes.fromhex(ROOTS[size])
        assert L.verify_inclusion(index, size, LEAVES[index], proof, root)
        assert not L.verify_inclusion(index, size, LEAVES[index], proof, bytes.fromhex(ROOTS[0]))
        assert not L.verify_inclusion(index, size, LEAVES[(index + 1) % size], proof, root)


def test_consistency_proofs_are_the_reference_proofs_and_verify():
    for old, new, path in CONSISTENCY:
        proof = L.consistency_proof(old, LEAVES[:new])
        assert [p.hex() for p in proof] == path
        old_root, new_root = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
        assert L.verify_consistency(old, new, proof, old_root, new_root)
        if old != new:
            assert not L.verify_consistency(old, new, proof, bytes.fromhex(ROOTS[0]), new_root)


def test_every_proof_in_every_tree_shape_verifies_and_a_wrong_one_does_not():
    rng = random.Random(9162)
    for n in range(1, 34):
        leaves = [L.leaf_hash(rng.randbytes(rng.randint(0, 9))) for _ in range(n)]
        root = L.root_hash(leaves)
        for i in range(n):
            proof = L.inclusion_proof(i, leaves)
            assert L.verify_inclusion(i, n, leaves[i], proof, root)
            assert not L.verify_inclusion(i, n, L.leaf_hash(b"forged"), proof, root)
            if proof:
                assert not L.verify_inclusion(i, n, leaves[i], proof[:-1], root)
        for m in range(1, n + 1):
            proof = L.consistency_proof(m, leaves)
            old = L.root_hash(leaves[:m])
            assert L.verify_consistency(m, n, proof, old, root), (m, n)
            if m < n:
                forged = L.root_hash([L.leaf_hash(b"x"), *leaves[1:m]])
                assert not L.verify_consistency(m, n, proof, forged, root), (m, n)


def test_a_leaf_cannot_pass_for_a_node():
    """RFC 9162's prefixes: the two children's hashes as one leaf do not give the node's hash."""
    a, b = L.leaf_hash(b"a"), L.leaf_hash(b"b")
    assert L.root_hash([a, b]) != L.leaf_hash(a + b)


# --------------------------------------------------------------------------- the log on disk


@pytest.fixture
def log(tmp_path):
    with L.Ledger(tmp_path / "records.db") as lg:
        lg.append_many(
            [("completion", {"employee": f"E{1000 + i}", "module": "m01"}) for i in range(10)]
        )
        yield lg


def _tamper(path, sql, *args):
    """What the database's owner can do: drop the guards and edit."""
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER IF EXISTS entries_no_update")
    db.execute("DROP TRIGGER IF EXISTS entries_no_delete")
    db.execute(sql, args)
    db.commit()
    db.close()


def _rewrite_from(path, start, change):
    """The attack a chain alone cannot see: change entries and recompute every hash after."""
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER IF EXISTS entries_no_update")
    db.execute("DROP TRIGGER IF EXISTS entries_no_delete")
    rows = db.execute("SELECT idx, data FROM entries ORDER BY idx").fetchall()
    kept = [L.Entry.from_data(d) for _i, d in rows]
    kept = change(kept)
    db.execute("DELETE FROM entries")
    prev = L.GENESIS
    for i, e in enumerate(kept):
        e = L.Entry(i, e.time, e.kind, e.body, prev)
        prev = e.digest()
        db.execute("INSERT INTO entries VALUES (?, ?, ?)", (i, e.data().decode(), prev))
    db.commit()
    db.close()


def test_an_intact_log_verifies_and_its_key_file_is_private(log):
    assert log.verify() == L.Verification(True, 10)
    cp = log.checkpoint()
    assert log.verify(cp).ok
    mode = stat.S_IMODE(os.stat(log.key_file).st_mode)
    assert mode == 0o600
    assert log.key_file.parent == log.path.parent and log.key_file != log.path


def test_the_database_refuses_edits_and_deletes(log):
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        log._db.execute("UPDATE entries SET data = 'x' WHERE idx = 3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        log._db.execute("DELETE FROM entries WHERE idx = 3")


def test_an_edited_entry_is_named(log):
    row = log._db.execute("SELECT data FROM entries WHERE idx = 4").fetchone()[0]
    _tamper(log.path, "UPDATE entries SET data = ? WHERE idx = 4", row.replace("E1004", "E9999"))
    v = log.verify()
    assert not v.ok and v.first_bad == 4 and "changed" in v.reason


def test_an_edit_with_its_own_hash_recomputed_breaks_the_next_link(log):
    row = L.Entry.from_data(log._db.execute("SELECT data FROM entries WHERE idx = 4").fetchone()[0])
    forged = L.Entry(4, row.time, row.kind, {"employee": "E9999", "module": "m01"}, row.prev)
    _tamper(
        log.path,
        "UPDATE entries SET data = ?, hash = ? WHERE idx = 4",
        forged.data().decode(),
        forged.digest(),
    )
    v = log.verify()
    assert not v.ok and v.first_bad == 5 and "does not follow entry 4" in v.reason


def test_a_deleted_entry_is_named(log):
    _tamper(log.path, "DELETE FROM entries WHERE idx = 6")
    v = log.verify()
    assert not v.ok and v.first_bad == 6 and "missing" in v.reason


def test_an_inserted_entry_is_named(log):
    fake = L.Entry(3, "2026-01-01T00:00:00Z", "completion", {"employee": "E7"}, L.GENESIS)
    _tamper(
        log.path, "INSERT INTO entries VALUES (?, ?, ?)", 10, fake.data().decode(), fake.digest()
    )
    v = log.verify()
    assert not v.ok and v.first_bad == 10


def test_reordered_entries_are_named(log):
    a = log._db.execute("SELECT data, hash FROM entries WHERE idx = 2").fetchone()
    b = log._db.execute("SELECT data, hash FROM entries WHERE idx = 7").fetchone()
    _tamper(log.path, "UPDATE entries SET data = ?, hash = ? WHERE idx = 2", *b)
    _tamper(log.path, "UPDATE entries SET data = ?, hash = ? WHERE idx = 7", *a)
    v = log.verify()
    assert not v.ok and v.first_bad == 2


def test_a_recomputed_chain_passes_alone_and_fails_against_a_saved_checkpoint(log, tmp_path):
    saved = log.checkpoint().to_json()
    (tmp_path / "checkpoint.json").write_text(saved)
    log.append("completion", {"employee": "E2000", "module": "m02"})

    def drop_e1004(entries):
        return [e for e in entries if e.body["employee"] != "E1004"]

    _rewrite_from(log.path, 0, drop_e1004)
    assert log.verify().ok  # the chain alone cannot tell
    v = log.verify(L.Checkpoint.from_json((tmp_path / "checkpoint.json").read_text()))
    assert not v.ok and "rewritten" in v.reason


def test_a_cut_off_tail_fails_against_a_saved_checkpoint(log):
    cp = log.checkpoint()
    _rewrite_from(log.path, 0, lambda entries: entries[:7])
    assert log.verify().ok
    v = log.verify(cp)
    assert not v.ok and v.first_bad == 7 and "cut off" in v.reason


def test_a_checkpoint_signed_by_another_key_or_edited_is_refused(log, tmp_path):
    cp = log.checkpoint()
    with L.Ledger(tmp_path / "other.db") as other:
        other.append("x", {})
        assert not log.verify(other.checkpoint()).ok
    edited = json.loads(cp.to_json())
    edited["size"] = 5
    v = log.verify(L.Checkpoint.from_json(json.dumps(edited)))
    assert not v.ok and "signature" in v.reason
    with pytest.raises(ValueError, match="checkpoint"):
        L.Checkpoint.from_json('{"size": 1}')


def test_a_receipt_proves_one_entry_with_the_public_key_alone(log, tmp_path):
    log.export_public_key(tmp_path / "ledger.pub")
    public = L.load_public_key(tmp_path / "ledger.pub")
    cp = log.checkpoint()
    for i in (0, 5, 9):
        text = log.receipt(i, cp).to_json()
        receipt = L.Receipt.from_json(text)
        assert receipt.verify(public)
        assert L.Entry.from_data(receipt.entry).index == i
    forged = json.loads(log.receipt(5, cp).to_json())
    forged["entry"] = forged["entry"].replace("E1005", "E1234")
    assert not L.Receipt.from_json(json.dumps(forged)).verify(public)
    with L.Ledger(tmp_path / "other.db") as other:
        assert not L.Receipt.from_json(text).verify(other.public_key())


def test_appends_are_whole_or_absent(log):
    class Unwritable:
        pass

    with pytest.raises(TypeError):
        log.append_many([("ok", {"a": 1}), ("bad", {"b": Unwritable()})])
    assert len(log) == 10 and log.verify().ok
    assert log.append("next", {}).index == 10


def test_the_key_and_the_log_survive_a_reopen(log):
    cp = log.checkpoint()
    path, key = log.path, log.key_file
    log.close()
    with L.Ledger(path) as again:
        assert again.key_file == key and again.verify(cp).ok
        assert again.append("later", {}).prev == list(again.entries())[-2].digest()
