"""The audit trail at the scale of a busy archive: ``hipaa-lab audit verify`` on a million events.

    python benchmarks/bench_audit.py [--n N] [--repeat 3] [--corpus DIR]

A log of ``--n`` events (default a million; generated workdays, :func:`hipaa_lab.safeguards.workday.generate`, one
after another, their events recorded through :class:`hipaa_lab.safeguards.audit.AuditTrail`),
built once in ``--corpus`` (default ``benchmarks/.corpus/``, gitignored) and reused while ``--n``
stays the same. Then, best of ``--repeat``, each in the same run on the same file (read once
before, so every pass finds it in the page cache):

* ``verify``: :meth:`AuditTrail.verify`, the whole chain line by line (what ``hipaa-lab audit
  verify LOG`` does: a log of 48 MiB or more in two processes on two cores or more,
  ``hipaa_lab._linechain``);
* ``verify, one process`` and ``verify, two processes``: the same with the second process forced
  off, and on (for a log of 48 MiB or more) whatever the cores;
* ``verify + checkpoint``: the same against a checkpoint of the whole log (the chain, every
  line's leaf hash, the Merkle root, the signature);
* the baselines: a plain SHA-256 pass over the file (one hash over its bytes, read in 4 MiB
  blocks), and a per-line SHA-256 pass (the file read in the same blocks, split into lines, each
  line hashed: the same work as the records benchmark's baseline, which hashes each entry).

Prints the rate of each (and its CPU time, this process's and its second process's: on a shared
machine less moved by the others than wall time) and the ratios ``plain pass / verify`` (aim: at
least 0.5x), with the load average at the start and the end (the machine may be shared).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(path: Path, n: int) -> None:
    """The corpus log: workdays of seed 0, 1, ... recorded in order until ``n`` events."""
    from tqdm.auto import tqdm

    from hipaa_lab.safeguards.audit import AuditTrail
    from hipaa_lab.safeguards.workday import generate

    tmp = path.with_name(path.name + ".partial")
    tmp.unlink(missing_ok=True)
    trail = AuditTrail(tmp, key_file=path.with_name(path.name + ".signing-key"))
    written, seed = 0, 0
    with tqdm(total=n, desc="building the log", unit=" events", disable=None) as bar:
        while written < n:
            day = generate(seed, staff=300, patients=600)
            events = day.events[: n - written]
            trail.record_many(events)
            written += len(events)
            seed += 1
            bar.update(len(events))
    tmp.rename(path)


def best(fn, repeat: int) -> tuple[float, object, float]:  # type: ignore[no-untyped-def]
    """Best wall time of ``repeat`` calls, the last result, and the best CPU time (this process
    and its finished children: on a shared machine, less moved by the others than wall time)."""
    out, times, cpu = None, [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), os.times()
        out = fn()
        times.append(time.perf_counter() - t)
        e = os.times()
        cpu.append(sum(e[:4]) - sum(c[:4]))
    return min(times), out, min(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="events in the log")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many passes")
    parser.add_argument("--corpus", type=Path, default=HERE / ".corpus")
    args = parser.parse_args(argv)

    from hipaa_lab import _linechain
    from hipaa_lab.safeguards.audit import AuditTrail

    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    args.corpus.mkdir(parents=True, exist_ok=True)
    path = args.corpus / f"audit-{args.n}.jsonl"
    if not path.exists():
        t = time.perf_counter()
        build(path, args.n)
        print(f"built {path} in {time.perf_counter() - t:.1f} s")
    trail = AuditTrail(path, key_file=path.with_name(path.name + ".signing-key"))
    size = path.stat().st_size
    path.read_bytes()  # into the page cache

    def plain() -> str:
        h = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(1 << 22):
                h.update(block)
        return h.hexdigest()

    def per_line() -> int:
        sha, n = hashlib.sha256, 0
        with path.open("rb") as f:
            rest = b""
            while block := f.read(1 << 22):
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    sha(line).digest()
                n += len(lines)
        return n

    def forced(two: bool):  # type: ignore[no-untyped-def]
        """verify with the second process forced on (if the file is large enough) or off."""
        saved = _linechain.PARALLEL_MIN_BYTES, _linechain._two_cores
        _linechain.PARALLEL_MIN_BYTES = saved[0] if two else size + 1
        _linechain._two_cores = lambda: two
        try:
            return trail.verify()
        finally:
            _linechain.PARALLEL_MIN_BYTES, _linechain._two_cores = saved

    checkpoint = trail.checkpoint()
    t_verify, result, c_verify = best(trail.verify, args.repeat)
    assert result.ok and result.size == args.n, result  # type: ignore[attr-defined]
    t_one, result, c_one = best(lambda: forced(False), args.repeat)
    assert result.ok and result.size == args.n, result  # type: ignore[attr-defined]
    t_two, result, c_two = best(lambda: forced(True), args.repeat)
    assert result.ok and result.size == args.n, result  # type: ignore[attr-defined]
    t_cp, result, c_cp = best(lambda: trail.verify(checkpoint), args.repeat)
    assert result.ok, result  # type: ignore[attr-defined]
    t_plain, _, c_plain = best(plain, args.repeat)
    t_lines, count, c_lines = best(per_line, args.repeat)
    assert count == args.n, count

    mb = size / 1e6
    print(f"log: {args.n} events, {mb:.1f} MB ({size / args.n:.0f} bytes a line)")
    for name, t, c in (
        ("verify (chain)", t_verify, c_verify),
        ("verify, one process", t_one, c_one),
        ("verify, two processes", t_two, c_two),
        ("verify + checkpoint", t_cp, c_cp),
        ("plain SHA-256 pass (file)", t_plain, c_plain),
        ("per-line SHA-256 pass", t_lines, c_lines),
    ):
        print(
            f"{name:28s} {t:7.3f} s  {args.n / t:12,.0f} events/s  {mb / t:8.1f} MB/s"
            f"  (CPU {c:6.3f} s)"
        )
    print(f"ratio plain hash pass / verify              {t_plain / t_verify:6.2f}x  (aim >= 0.5x)")
    print(f"ratio plain hash pass / verify, one process {t_plain / t_one:6.2f}x")
    if c_one > 0:  # CPU time counts in clock ticks (10 ms): a small log can take none
        print(f"  the same in CPU time                      {c_plain / c_one:6.2f}x")
    else:
        print("  the same in CPU time                      too short to count (under a tick)")
    print(f"ratio plain hash pass / verify, two processes {t_plain / t_two:6.2f}x")
    print(f"ratio one process / two processes           {t_one / t_two:6.2f}x")
    print(f"ratio plain hash pass / verify + checkpoint {t_plain / t_cp:6.2f}x")
    print(f"ratio per-line hash pass / verify           {t_lines / t_verify:6.2f}x")
    print(f"ratio per-line hash pass / verify + checkpoint {t_lines / t_cp:6.2f}x")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
