"""The tamper-evident log: RFC 9162 hashing against the Certificate Transparency reference
vectors, proofs over every tree shape, and every way of tampering with a log on disk."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import stat
import string
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from _postgres import postgres_url  # noqa: F401  (a fixture)

from hipaa_lab import _linechain
from hipaa_lab import ledger as L
from hipaa_lab.errors import LedgerChangedError, LedgerError

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


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A new, empty database: a SQLite file, or a database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'records.db'}"
    base = request.getfixturevalue("postgres_url")
    name = f"ledger_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return base.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def log(db_url, tmp_path):
    with L.Ledger(db_url, key_file=tmp_path / "records.signing-key") as lg:
        lg.append_many(
            [("completion", {"employee": f"E{1000 + i}", "module": "m01"}) for i in range(10)]
        )
        yield lg


def _owner(log):
    """What the database's owner can do: a connection with the append-only guards dropped."""
    engine = sa.create_engine(log.url)
    conn = engine.connect()
    if engine.dialect.name == "sqlite":
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS ledger_entries_no_update")
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS ledger_entries_no_delete")
    else:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries")
    return engine, conn


def _tamper(log, sql, **params):
    engine, conn = _owner(log)
    with conn:
        rows = conn.execute(sa.text(sql), params).fetchall() if sql.startswith("SELECT") else None
        if rows is None:
            conn.execute(sa.text(sql), params)
        conn.commit()
    engine.dispose()
    return rows


def _rewrite(log, change):
    """The attack a chain alone cannot see: change entries and recompute every hash after."""
    rows = _tamper(log, "SELECT idx, data FROM ledger_entries ORDER BY idx")
    kept = change([L.Entry.from_data(d) for _i, d in rows])
    _tamper(log, "DELETE FROM ledger_entries")
    prev = L.GENESIS
    for i, e in enumerate(kept):
        e = L.Entry(i, e.time, e.kind, e.body, prev)
        prev = e.digest()
        _tamper(
            log,
            "INSERT INTO ledger_entries (idx, data, hash) VALUES (:i, :d, :h)",
            i=i,
            d=e.data().decode(),
            h=prev,
        )


def _row(log, index):
    return _tamper(log, "SELECT data, hash FROM ledger_entries WHERE idx = :i", i=index)[0]


def test_an_intact_log_verifies_and_its_key_file_is_private(log):
    assert log.verify() == L.Verification(True, 10)
    cp = log.checkpoint()
    assert log.verify(cp).ok
    assert stat.S_IMODE(os.stat(log.key_file).st_mode) == 0o600


def test_a_sqlite_ledger_keeps_its_key_beside_the_database_not_in_it(tmp_path):
    with L.Ledger(tmp_path / "records.db") as lg:
        lg.checkpoint()
        assert lg.key_file == tmp_path / "records.db.signing-key" and lg.key_file.exists()
        assert b"PRIVATE KEY" not in (tmp_path / "records.db").read_bytes()


def test_the_database_refuses_edits_and_deletes(log):
    engine = sa.create_engine(log.url)
    for sql in ("UPDATE ledger_entries SET data = 'x' WHERE idx = 3",
                "DELETE FROM ledger_entries WHERE idx = 3"):  # fmt: skip
        with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="append-only"):
            conn.execute(sa.text(sql))
    engine.dispose()
    assert log.verify().ok


def test_an_unreachable_database_is_a_clear_error(tmp_path):
    with pytest.raises(LedgerError, match="cannot open the ledger database"):
        L.Ledger("postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    try:
        L.Ledger("postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    except LedgerError as exc:
        assert "secret" not in str(exc)


def test_an_edited_entry_is_named(log):
    data, _ = _row(log, 4)
    _tamper(
        log, "UPDATE ledger_entries SET data = :d WHERE idx = 4", d=data.replace("E1004", "E9999")
    )
    v = log.verify()
    assert not v.ok and v.first_bad == 4 and "changed" in v.reason


def test_an_edit_with_its_own_hash_recomputed_breaks_the_next_link(log):
    row = L.Entry.from_data(_row(log, 4)[0])
    forged = L.Entry(4, row.time, row.kind, {"employee": "E9999", "module": "m01"}, row.prev)
    _tamper(
        log,
        "UPDATE ledger_entries SET data = :d, hash = :h WHERE idx = 4",
        d=forged.data().decode(),
        h=forged.digest(),
    )
    v = log.verify()
    assert not v.ok and v.first_bad == 5 and "does not follow entry 4" in v.reason


def test_a_deleted_entry_is_named(log):
    _tamper(log, "DELETE FROM ledger_entries WHERE idx = 6")
    v = log.verify()
    assert not v.ok and v.first_bad == 6 and "missing" in v.reason


def test_an_inserted_entry_is_named(log):
    fake = L.Entry(3, "2026-01-01T00:00:00Z", "completion", {"employee": "E7"}, L.GENESIS)
    _tamper(
        log,
        "INSERT INTO ledger_entries (idx, data, hash) VALUES (10, :d, :h)",
        d=fake.data().decode(),
        h=fake.digest(),
    )
    v = log.verify()
    assert not v.ok and v.first_bad == 10


def test_reordered_entries_are_named(log):
    a, b = _row(log, 2), _row(log, 7)
    _tamper(log, "UPDATE ledger_entries SET data = :d, hash = :h WHERE idx = 2", d=b[0], h=b[1])
    _tamper(log, "UPDATE ledger_entries SET data = :d, hash = :h WHERE idx = 7", d=a[0], h=a[1])
    v = log.verify()
    assert not v.ok and v.first_bad == 2


def test_a_recomputed_chain_passes_alone_and_fails_against_a_saved_checkpoint(log, tmp_path):
    (tmp_path / "checkpoint.json").write_text(log.checkpoint().to_json())
    log.append("completion", {"employee": "E2000", "module": "m02"})
    _rewrite(log, lambda entries: [e for e in entries if e.body["employee"] != "E1004"])
    assert log.verify().ok  # the chain alone cannot tell
    v = log.verify(L.Checkpoint.from_json((tmp_path / "checkpoint.json").read_text()))
    assert not v.ok and "rewritten" in v.reason


def test_a_cut_off_tail_fails_against_a_saved_checkpoint(log):
    cp = log.checkpoint()
    _rewrite(log, lambda entries: entries[:7])
    assert log.verify().ok
    v = log.verify(cp)
    assert not v.ok and v.first_bad == 7 and "cut off" in v.reason


def test_a_checkpoint_of_another_ledger_or_edited_is_refused(log, tmp_path):
    cp = log.checkpoint()
    with L.Ledger(tmp_path / "other.db") as other:
        other.append("x", {})
        v = log.verify(other.checkpoint())
        assert not v.ok and "another ledger's checkpoint" in v.reason
    edited = json.loads(cp.to_json())
    edited["size"] = 5
    v = log.verify(L.Checkpoint.from_json(json.dumps(edited)))
    assert not v.ok and "signature" in v.reason
    with pytest.raises(ValueError, match="checkpoint"):
        L.Checkpoint.from_json('{"size": 1}')


def test_a_copy_checked_without_its_key_makes_none_and_says_what_to_give(tmp_path):
    """An auditor's copy of a ledger, without its signing key: checking a checkpoint made a new
    key beside the copy, and failed as "another ledger's checkpoint"."""
    with L.Ledger(tmp_path / "records.db") as original:
        original.append("completion", {"employee": "E1000", "module": "m01"})
        cp = original.checkpoint()
        original.export_public_key(tmp_path / "ledger.pub")
    copy = tmp_path / "audit" / "records.db"
    copy.parent.mkdir()
    copy.write_bytes((tmp_path / "records.db").read_bytes())
    with L.Ledger(copy) as audited:
        v = audited.verify(cp)
        assert not v.ok and "no signing key" in v.reason and "public key" in v.reason
        assert not list(copy.parent.glob("*signing-key*"))  # a check made no key
        assert audited.verify(cp, L.load_public_key(tmp_path / "ledger.pub")).ok


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
    url, key = log.url, log.key_file
    log.close()
    with L.Ledger(url, key_file=key) as again:
        assert again.verify(cp).ok
        assert again.append("later", {}).prev == list(again.entries())[-2].digest()


def _append_from_a_process(url: str, key: str, worker: int, n: int) -> None:
    with L.Ledger(url, key_file=key) as lg:
        for i in range(n):
            lg.append("event", {"worker": worker, "i": i})


def test_processes_appending_at_once_lose_nothing(log, tmp_path):
    key = str(tmp_path / "records.signing-key")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_append_from_a_process, args=(log.url, key, w, 25))
               for w in range(4)]  # fmt: skip
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
        assert p.exitcode == 0
    v = log.verify()
    assert v.ok and v.size == 10 + 4 * 25
    seen = {(e.body["worker"], e.body["i"]) for e in log.entries() if e.kind == "event"}
    assert seen == {(w, i) for w in range(4) for i in range(25)}


def _open_and_append_once(url: str, key: str, worker: int, start: Any) -> None:
    start.wait(60)  # every process opens the new database at the same moment
    for _ in range(5):  # and then again, racing the others' opening
        with L.Ledger(url, key_file=key) as lg:
            lg.append("event", {"worker": worker})


def test_processes_opening_a_new_ledger_at_once_all_succeed(db_url, tmp_path):
    """Creating the table, its guard function and trigger is one process at a time: on
    PostgreSQL, concurrent ``CREATE OR REPLACE`` failed with "tuple concurrently updated"."""
    key = str(tmp_path / "records.signing-key")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    workers = [ctx.Process(target=_open_and_append_once, args=(db_url, key, w, start))
               for w in range(8)]  # fmt: skip
    for p in workers:
        p.start()
    start.set()
    for p in workers:
        p.join(120)
    assert [p.exitcode for p in workers] == [0] * 8
    with L.Ledger(db_url, key_file=key) as lg:
        assert lg.verify() == L.Verification(True, 8 * 5)


def test_a_new_sqlite_ledger_file_is_readable_by_its_owner_only(tmp_path):
    with L.Ledger(tmp_path / "records.db") as lg:
        lg.append("event", {})
    assert stat.S_IMODE(os.stat(tmp_path / "records.db").st_mode) == 0o600


_BATCH = 500


def _append_batches_forever(url: str, key: str) -> None:
    with L.Ledger(url, key_file=key) as lg:
        n = 0
        while True:
            lg.append_many(
                [("event", {"batch": n, "i": i, "pad": "x" * 200}) for i in range(_BATCH)]
            )
            n += 1


@pytest.mark.parametrize("delay", [0.2, 0.8])
def test_a_kill_9_mid_append_leaves_whole_batches_and_a_log_that_verifies(db_url, tmp_path, delay):
    """kill -9 while a process appends batches: every batch is in whole or not at all."""
    import signal
    import time

    key = str(tmp_path / "records.signing-key")
    with L.Ledger(db_url, key_file=key):
        pass  # the table exists before the writer starts
    ctx = multiprocessing.get_context("spawn")
    writer = ctx.Process(target=_append_batches_forever, args=(db_url, key))
    writer.start()
    with L.Ledger(db_url, key_file=key) as lg:
        deadline = time.monotonic() + 60
        while len(lg) == 0 and time.monotonic() < deadline:  # the writer has started
            time.sleep(0.05)
    time.sleep(delay)  # mid-way through some later batch
    os.kill(writer.pid, signal.SIGKILL)
    writer.join(30)
    with L.Ledger(db_url, key_file=key) as lg:
        v = lg.verify()
        assert v.ok, v.reason
        assert v.size > 0 and v.size % _BATCH == 0
        assert lg.append("after", {}).index == v.size  # and it goes on


def test_an_append_expecting_a_size_the_ledger_outgrew_writes_nothing(log):
    with pytest.raises(LedgerChangedError, match="holds 10 entries, not the 9"):
        log.append_many([("event", {})], expect_size=9)
    assert len(log) == 10 and log.verify().ok
    assert log.append_many([("event", {})], expect_size=10)[0].index == 10


def test_append_planned_plans_again_on_what_another_writer_added(log):
    seen = []

    def plan(entries):
        seen.append(len(entries))
        if len(seen) == 1:
            log.append("other", {})  # another writer, between the read and the write
        return [] if any(e.kind == "mine" for e in entries) else [("mine", {})]

    assert [e.index for e in log.append_planned(plan)] == [11]
    assert seen == [10, 11]
    assert log.append_planned(plan) == []


def test_the_file_ledger_is_the_same_log_as_the_database(tmp_path):
    """FileLedger keeps the same entries, hashes, roots, checkpoints and receipts as Ledger."""
    items = [("completion", {"employee": f"E{i}", "score": i / 10}) for i in range(13)]
    key = tmp_path / "shared.key"
    with L.Ledger(tmp_path / "db.sqlite", key_file=key) as db:
        db.append_many(items, time="2026-01-01T00:00:00.000000Z")
        on_file = L.FileLedger(tmp_path / "log.jsonl", key_file=key)
        on_file.append_many(items, time="2026-01-01T00:00:00.000000Z")
        assert [e.data() for e in on_file.entries()] == [e.data() for e in db.entries()]
        assert (tmp_path / "log.jsonl").read_bytes() == b"".join(
            e.data() + b"\n" for e in db.entries()
        )
        assert on_file.root() == db.root() and on_file.root(5) == db.root(5)
        assert on_file.consistency(5) == db.consistency(5)
        # a checkpoint of either verifies the other; a receipt from the file checks as any other
        assert db.verify(on_file.checkpoint()).ok and on_file.verify(db.checkpoint()).ok
        receipt = on_file.receipt(7, db.checkpoint())
        assert L.Receipt.from_json(receipt.to_json()).verify(db.public_key())
        assert receipt.entry == db.receipt(7, db.checkpoint()).entry


@pytest.mark.parametrize("n", [1, 2, 3, 1023, 1024, 1025, 2049, 4100])
def test_audit_paths_from_kept_subtrees_are_rfc_9162s(n):
    """Paths built from the kept roots of large subtrees equal RFC 9162's recursive PATH, and
    verify, on both sides of the size from which roots are kept."""
    from hipaa_lab import ledger as L

    def path(index, leaves):  # RFC 9162 2.1.3.1, word for word
        if len(leaves) == 1:
            return []
        k = L._split(len(leaves))
        if index < k:
            return [*path(index, leaves[:k]), L.root_hash(leaves[k:])]
        return [*path(index - k, leaves[k:]), L.root_hash(leaves[:k])]

    leaves = [L.leaf_hash(b"%d" % i) for i in range(n)]
    root, tree = L.root_hash(leaves), L._Subtrees(leaves)
    for i in sorted({0, n - 1, n // 2, (7 * n) // 9, max(0, n - 1025)}):
        assert tree.path(i) == path(i, leaves) == L.inclusion_proof(i, leaves)
        assert L.verify_inclusion(i, n, leaves[i], tree.path(i), root)


# --------------------------------------------------------------------------- the file's fast pass

_TIMES = ["2026-01-01T08:00:00.000Z", "2026-01-01T08:00:00.000000Z"]
#: bodies that hold the entry's own keys and tails, escaped newlines and CRs, non-ASCII text
_CRAFTED = [
    {"index": 5, "kind": "k", "prev": L.GENESIS, "time": "x"},
    {"note": '"prev":"' + "a" * 64 + '","time":"2026-01-01T08:00:00.000Z"}'},
    {"note": 'x"}\n{"body":{},"index":3,"kind":"dicom-audit","prev":"' + "b" * 64 + '"}'},
    {"z": {"index": 1, "prev": "f" * 64, "time": _TIMES[0]}, "kind": "dicom-audit"},
    {"text": "line\r\nbreak\\", "name": "Müller^Zoë", "index": '"index":7,'},
]


def _make_log(path, rng, size):
    """A file ledger of ``size`` entries: mostly alike, some with crafted bodies, another kind or
    a time of another length (which the block check must hand to the line-by-line one)."""
    log = L.FileLedger(path, key_file=path.with_name("k.key"))
    items, times = [], []
    for _ in range(size):
        roll = rng.random()
        body = rng.choice(_CRAFTED) if roll < 0.25 else {"user": f"U{rng.randrange(10**4)}"}
        kind = "other" if roll > 0.95 else "dicom-audit"
        items.append((kind, body))
        times.append(_TIMES[1] if rng.random() < 0.05 else _TIMES[0])
    log.append_many(items, times=times)
    return log


def _mutate(data, rng):
    """``data`` changed as an editor, a crash or a forger could: one change, at random."""
    lines = data.split(b"\n")[:-1]
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    what = rng.choice(
        ["byte", "hex", "digit", "delete", "insert", "swap", "truncate", "crlf", "join",
         "rechain", "fake-tail", "dup-key", "none"]
    )  # fmt: skip
    if what == "byte":
        at = rng.randrange(len(data))
        return (
            data[:at]
            + bytes([rng.choice(string.hexdigits.lower().encode() + b'",:{}\\ \n\rx')])
            + data[at + 1 :]
        )
    if what in ("hex", "digit"):
        line = lines[i]
        key = b'"prev":"' if what == "hex" else b'"index":'
        at = line.rfind(key) + len(key) + rng.randrange(3)
        lines[i] = line[:at] + rng.choice([b"0", b"9", b"f", b"A", b"00"]) + line[at + 1 :]
    elif what == "delete":
        del lines[i]
    elif what == "insert":
        lines.insert(i, lines[j])
    elif what == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif what == "truncate":
        return data[: rng.randrange(len(data) + 1)]
    elif what == "crlf":
        lines[i] += b"\r"
    elif what == "join":  # two entries on one line
        lines[i : i + 2] = [b"".join(lines[i : i + 2])]
    elif what in ("rechain", "fake-tail", "dup-key"):
        # a forger who recomputes every link after line i; its index may stay or move
        entries = [json.loads(x) for x in lines]
        if what == "rechain":
            del entries[i]
        for k, e in enumerate(entries):
            if what == "rechain" and rng.random() < 0.5:
                e["index"] = k
        prev = L.GENESIS if i == 0 else hashlib.sha256(lines[i - 1]).hexdigest()
        out = lines[:i]
        for e in entries[i:]:
            e["prev"] = prev
            raw = json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            raw = raw.encode()
            if what == "fake-tail" and e is entries[i]:
                # a second tail after the entry's own: its own index and link first, a wrong
                # "prev" last, where a reader of the last "prev" finds it
                raw = (
                    raw[:-1] + b',"prev":"' + b"e" * 64 + b'","time":"' + _TIMES[0].encode() + b'"}'
                )
            if what == "dup-key" and e is entries[i]:
                raw = raw.replace(b'"index":', b'"index":9,"index":', 1)
            out.append(raw)
            prev = hashlib.sha256(raw).hexdigest()
        lines = out
    return b"".join(x + b"\n" for x in lines)


def _check_chain_on(path):
    rows = ((n, line, None) for n, line in enumerate(L.FileLedger(path).lines()))
    leaves: list[bytes] = []
    return L.check_chain(rows, leaves, name=L._line_name), leaves


def _compare_fast_and_general(path, monkeypatch, checkpoint):
    """The fast pass never accepts what check_chain rejects, and verify says the same with and
    without it; returns whether the fast pass accepted the file."""
    leaves: list[bytes] = []
    fast = _linechain.check_file(path, leaves)
    general, general_leaves = _check_chain_on(path)
    if fast is not None:
        assert general.ok and general.size == fast, (fast, general)
        assert leaves == general_leaves
    log = L.FileLedger(path, key_file=path.with_name("k.key"))
    with_fast = (log.verify(), log.verify(checkpoint))
    with monkeypatch.context() as m:
        m.setattr(_linechain, "check_file", lambda *a, **k: None)
        without = (log.verify(), log.verify(checkpoint))
    assert with_fast == without
    return fast is not None


def test_the_fast_pass_shares_the_ledgers_constants():
    assert (_linechain.GENESIS, _linechain.LEAF_PREFIX) == (L.GENESIS, L.LEAF_PREFIX)


@pytest.mark.parametrize("block", [1 << 22, 1000])
def test_the_fast_pass_never_accepts_what_check_chain_rejects(tmp_path, monkeypatch, block):
    """Several hundred damaged logs (edited bytes, links and indexes, lines deleted, inserted,
    swapped, joined, cut off, CRLF, chains recomputed by a forger, crafted bodies and tails),
    in blocks of 4 MiB and of 1000 bytes (so lines straddle blocks and digit runs): the fast pass
    accepts only what check_chain accepts, with the same leaves, and verify is unchanged."""
    monkeypatch.setattr(_linechain, "BLOCK", block)
    rng = random.Random(block)
    accepted = 0
    for case in range(150):
        path = tmp_path / f"log{case}.jsonl"
        log = _make_log(path, rng, rng.choice([1, 2, 9, 11, 30, 120]))
        saved = log.checkpoint()
        assert _compare_fast_and_general(path, monkeypatch, saved)  # intact: the fast pass
        path.write_bytes(_mutate(path.read_bytes(), rng))
        accepted += _compare_fast_and_general(path, monkeypatch, saved)
    assert 5 < accepted < 100  # some changes (a cut at a line's end) keep a valid chain


def test_the_fast_pass_checks_crafted_entries_a_block_at_a_time(tmp_path):
    """Bodies that hold "index", "prev" and whole fake tails do not send a block to the
    line-by-line check: the tail is found at the line's end."""
    log = L.FileLedger(tmp_path / "log.jsonl")
    log.append_many([("dicom-audit", body) for body in _CRAFTED * 30], time=_TIMES[0])
    lines = list(log.lines())
    calls = []
    original = _linechain._line_by_line
    try:
        _linechain._line_by_line = lambda *a: calls.append(a) or original(*a)
        assert _linechain.check_file(log.path) == len(lines) == 150
    finally:
        _linechain._line_by_line = original
    assert calls == []


def test_empty_missing_and_one_line_logs(tmp_path):
    path = tmp_path / "log.jsonl"
    assert _linechain.check_file(path) == 0  # missing
    path.write_bytes(b"")
    assert _linechain.check_file(path) == 0 and L.FileLedger(path).verify().ok
    L.FileLedger(path).append("dicom-audit", {"a": 1})
    assert _linechain.check_file(path) == 1
    path.write_bytes(path.read_bytes()[:-1])  # no line end
    assert _linechain.check_file(path) is None
    assert "incomplete" in L.FileLedger(path).verify().reason


def test_a_large_log_is_checked_in_two_processes_and_its_first_bad_line_named(
    tmp_path, monkeypatch
):
    """Above the size threshold, the lines after the middle are checked by a second process
    (started, not forked: a Jupyter kernel's threads are not copied); a change in either half
    is named as in one process, and the leaves are those of one process."""
    monkeypatch.setattr(_linechain, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(_linechain, "STARTUP_BYTES", 0)
    monkeypatch.setattr(_linechain, "_two_cores", lambda: True)
    started = []
    popen = _linechain.subprocess.Popen

    def spy(argv, **kwargs):
        started.append(argv)
        return popen(argv, **kwargs)

    monkeypatch.setattr(_linechain.subprocess, "Popen", spy)
    rng = random.Random(7)
    path = tmp_path / "log.jsonl"
    log = _make_log(path, rng, 400)
    saved = log.checkpoint()
    leaves: list[bytes] = []
    assert _linechain.check_file(path, leaves) == 400 and len(started) == 1
    assert started[0][1] == "-I" and leaves == _check_chain_on(path)[1]
    assert log.verify(saved).ok
    lines = path.read_bytes().split(b"\n")[:-1]
    for bad in (10, 390):  # before and after the middle
        changed = list(lines)
        changed[bad] = changed[bad].replace(b'"user":"U', b'"user":"X', 1)
        if changed[bad] == lines[bad]:
            changed[bad] = changed[bad][:-2] + b'Z"}'
        path.write_bytes(b"".join(x + b"\n" for x in changed))
        v = log.verify()
        assert not v.ok and v.first_bad == bad, v
    for _ in range(12):  # the same answers as one process on damaged logs
        path.write_bytes(_mutate(b"".join(x + b"\n" for x in lines), rng))
        _compare_fast_and_general(path, monkeypatch, saved)


def test_a_second_process_that_cannot_run_leaves_the_check_to_this_one(tmp_path, monkeypatch):
    monkeypatch.setattr(_linechain, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(_linechain, "STARTUP_BYTES", 0)
    monkeypatch.setattr(_linechain, "_two_cores", lambda: True)
    monkeypatch.setattr(_linechain.sys, "executable", "/nonexistent/python")
    log = _make_log(tmp_path / "log.jsonl", random.Random(1), 50)
    assert _linechain.check_file(log.path) == 50 and log.verify(log.checkpoint()).ok


def test_one_core_keeps_the_check_in_one_process(tmp_path, monkeypatch):
    """On one core a second process would only take turns with the first: none is started."""
    monkeypatch.setattr(_linechain, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(_linechain, "STARTUP_BYTES", 0)
    monkeypatch.setattr(_linechain.os, "sched_getaffinity", lambda pid: {0})
    monkeypatch.setattr(_linechain, "_start_second", lambda *a: pytest.fail("started"))
    log = _make_log(tmp_path / "log.jsonl", random.Random(2), 50)
    assert not _linechain._two_cores() and _linechain.check_file(log.path) == 50
    monkeypatch.setattr(_linechain.os, "sched_getaffinity", lambda pid: {0, 1})
    assert _linechain._two_cores()
