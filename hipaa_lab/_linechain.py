"""The fast pass over the hash chain of a JSON-lines ledger (:class:`hipaa_lab.ledger.FileLedger`).

:func:`check_file` says how many lines a log file has when every line is where it says and
follows the line before it, and ``None`` at the first doubt: :func:`hipaa_lab.ledger.check_chain`
then judges the file and names its first bad line. It never accepts a file ``check_chain``
rejects (``tests/test_ledger.py`` compares the two on many damaged logs); it may answer ``None``
for a file ``check_chain`` accepts (an entry laid out oddly), which costs time, not correctness.

Where the time goes: one SHA-256 a line is the chain's design, and in Python each costs far
more than its bytes (hashlib's per-call cost), so the lines of each 4 MiB block are hashed in one
list comprehension and everything else is checked a block at a time, in C, on the lines' tails:

* each line's tail must be ``"index":N,"kind":"K","prev":"P","time":"T"}``, laid out as in the
  block's first line (the same kind ``K`` and the same length of ``T``), with no quote or
  backslash in ``K`` or ``T``. Quotes inside JSON strings are escaped, so in such a line these are
  the **last** ``"index":`` and ``"prev":"``: the entry's own, those ``check_chain`` reads, whatever
  the body holds. The tails are cut once (one slice a line), joined, and checked column by
  column with strided slices: the fixed text (with ``K``), the digits of ``N`` against the
  expected indexes, ``P`` against the hashes of the lines before, and no quote or backslash in
  ``T``;
* a block laid out otherwise is checked line by line (the entry's last ``"prev":"`` and
  ``"index":`` found with ``rfind``): slower, the same answer.

A large file is checked in two processes (on two cores or more): this module is also a script
(stdlib only, so it starts in some 50 ms, without the package) that checks the lines from a byte
offset to the end, the chain starting from the hash of the line before that offset and the index
from the first line's own; the calling process checks the lines before and that their count is
that index. Any doubt in either half, or a second process that cannot run, gives ``None`` or a
check in one process.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

GENESIS = "0" * 64  #: what the first entry names as the entry before it (as in the ledger)
LEAF_PREFIX = b"\x00"  #: RFC 9162 2.1.1: prefix of a leaf's hash input (as in the ledger)
BLOCK = 1 << 22  #: bytes read at a time
#: Files at least this large are checked in two processes (below, starting one costs more than
#: it saves).
PARALLEL_MIN_BYTES = 48 << 20
#: About the bytes one process checks while a second starts (some 70 ms: the interpreter, this
#: module, the first block): the first process takes half the file and half of these more, so
#: both end together.
STARTUP_BYTES = 20 << 20

_INDEX = b'"index":'
_TIME = b'","time":"'
_END = b'"}'
_HEX = 64


def _layout(line: bytes) -> tuple[bytes, int] | None:
    """The kind and the length of the time of ``line`` when it ends
    ``,"kind":"K","prev":"<64>","time":"T"}`` with no backslash in ``K``; else ``None``."""
    at = line.rfind(b',"kind":"')
    end = line.find(b'"', at + 9) if at >= 0 else -1
    if end < 0:
        return None
    kind, tail = line[at + 9 : end], line[end:]
    if (
        b"\\" in kind
        or len(tail) < 86
        or not tail.startswith(b'","prev":"')
        or tail[74:84] != _TIME
        or not tail.endswith(_END)
    ):
        return None
    return kind, len(tail) - 86


def _tails_follow(lines: list[bytes], index: int, prevs: bytes, kind: bytes, time_len: int) -> bool:
    """Whether every line ends with its entry's tail: index ``index + i`` (all with the same
    number of digits), ``prevs[64 i : 64 i + 64]`` as ``prev``, kind ``kind`` and a time of
    ``time_len`` characters, with no quote or backslash in the time.

    The tails are cut (one slice a line) and joined; every check after is on one column of
    that table (a strided slice, in C), so it costs per column, not per line.
    """
    m = len(lines)
    digits = len(str(index))
    middle = b',"kind":"' + kind + b'","prev":"'
    at_prev = len(_INDEX) + digits + len(middle)
    at_time = at_prev + _HEX + len(_TIME)
    width = at_time + time_len + len(_END)
    tails = b"".join([line[-width:] for line in lines])
    if len(tails) != m * width:  # a line too short for the layout
        return False
    column = tails.__getitem__
    for c in range(_HEX):  # the entry's own prev, the hash of the line before
        if column(slice(at_prev + c, None, width)) != prevs[c::_HEX]:
            return False
    fixed = ((0, _INDEX), (len(_INDEX) + digits, middle), (at_prev + _HEX, _TIME))
    for start, text in (*fixed, (width - len(_END), _END)):
        for offset, byte in enumerate(text):
            if column(slice(start + offset, None, width)).count(byte) != m:
                return False
    for offset in range(digits):
        if column(slice(len(_INDEX) + offset, None, width)) != _digit_column(
            index, m, 10 ** (digits - 1 - offset)
        ):
            return False
    for c in range(at_time, at_time + time_len):
        time_column = column(slice(c, None, width))
        if b'"' in time_column or b"\\" in time_column:
            return False
    return True


def _digit_column(first: int, count: int, weight: int) -> bytes:
    """The digits of weight ``weight`` of the numbers ``first``, ``first + 1``, ... (``count``
    of them), as ASCII: each digit ``weight`` times in turn, from ``first``'s."""
    cycle = b"".join(bytes([48 + d]) * weight for d in range(10))
    at = first % len(cycle)
    return (cycle * (2 + count // len(cycle)))[at : at + count]


def _line_by_line(lines: list[bytes], index: int, prev: str, hashes: list[str]) -> bool:
    """The entry's last ``"prev":"`` and ``"index":`` of each line found with ``rfind``, as
    :func:`hipaa_lab.ledger.check_chain` reads them."""
    link = prev.encode() + b'"'
    for n, (line, digest) in enumerate(zip(lines, hashes, strict=True), index):
        at = line.rfind(b'"prev":"')
        if at < 0 or line[at + 8 : at + 73] != link:
            return False
        at = line.rfind(_INDEX, 0, at)
        if at < 0 or not line.startswith(b"%d," % n, at + 8):
            return False
        link = digest.encode() + b'"'
    return True


def check_lines(
    lines: list[bytes], index: int, prev: str, leaves: list[bytes] | None = None
) -> str | None:
    """The hex SHA-256 of the last of ``lines`` when they are entries ``index``, ``index + 1``,
    ... and each names the one before (the first names ``prev``); ``None`` at any doubt.
    ``leaves``, when given, gets every line's RFC 9162 leaf hash."""
    if not lines:
        return prev
    sha256 = hashlib.sha256
    hashes = [sha256(line).hexdigest() for line in lines]
    layout = _layout(lines[0])
    start, ok = 0, layout is not None
    while ok and start < len(lines) and layout is not None:
        # a run of lines whose indexes have the same number of digits
        stop = min(len(lines), 10 ** len(str(index + start)) - index)
        prevs = (prev if start == 0 else hashes[start - 1]) + "".join(hashes[start : stop - 1])
        ok = _tails_follow(lines[start:stop], index + start, prevs.encode(), *layout)
        start = stop
    if not ok and not _line_by_line(lines, index, prev, hashes):
        return None
    if leaves is not None:
        leaves.extend([sha256(LEAF_PREFIX + line).digest() for line in lines])
    return hashes[-1]


def check_span(
    path: str | os.PathLike[str],
    start: int = 0,
    stop: int | None = None,
    index: int | None = 0,
    prev: str = GENESIS,
    leaves: list[bytes] | None = None,
    progress: Callable[[int], object] | None = None,
) -> tuple[int, int, str] | None:
    """Check the whole lines from byte ``start`` (the start of a line) to ``stop`` (the end of
    one; default the end of the file).

    Returns
    -------
    tuple or None
        ``(first index, number of lines, hex SHA-256 of the last line)``, or ``None`` at the
        first doubt, or when the span ends inside a line (a last line without its line feed).
        ``index=None`` takes the first line's own index (for a second half, whose caller checks
        it against the count of the lines before).
    """
    with open(path, "rb") as f:
        f.seek(start)
        left = (stop - start) if stop is not None else -1
        rest, count, first = b"", 0, index
        while left and (block := f.read(BLOCK if left < 0 else min(BLOCK, left))):
            left -= len(block) if left > 0 else 0
            if progress is not None:
                progress(len(block))
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            if first is None and lines:
                first = _own_index(lines[0])
                if first is None:
                    return None
            if first is not None:
                last = check_lines(lines, first + count, prev, leaves)
                if last is None:
                    return None
                prev, count = last, count + len(lines)
        if rest or first is None:
            return None if rest else (first or 0, 0, prev)
        return first, count, prev


def _own_index(line: bytes) -> int | None:
    at = line.rfind(_INDEX)
    end = line.find(b",", at)
    digits = line[at + 8 : end] if at >= 0 and end > at else b""
    return int(digits) if digits.isdigit() else None


def _line_before(path: str | os.PathLike[str], start: int) -> bytes:
    """The line that ends (with its line feed) at byte ``start``."""
    with open(path, "rb") as f:
        block, at = b"", start - 1
        while at > 0:
            step = min(at, 1 << 16)
            at -= step
            f.seek(at)
            block = f.read(step) + block
            if b"\n" in block:
                break
        f.seek(start - 1)
        if f.read(1) != b"\n":
            raise ValueError(f"byte {start} does not start a line")
        return block[block.rfind(b"\n") + 1 :]


def _split_point(path: str | os.PathLike[str], size: int) -> int:
    """The start of the first line at or after ``(size + STARTUP_BYTES) / 2``; ``size`` when none
    does."""
    with open(path, "rb") as f:
        at = max(1, min(size, (size + STARTUP_BYTES) // 2))
        f.seek(at - 1)
        while chunk := f.read(1 << 16):
            cut = chunk.find(b"\n")
            if cut >= 0:
                return at + cut
            at += len(chunk)
    return size


def check_file(
    path: str | os.PathLike[str],
    leaves: list[bytes] | None = None,
    progress: Callable[[int], object] | None = None,
) -> int | None:
    """The number of lines of the log at ``path`` when its whole chain holds (0 when it is
    missing or empty), else ``None``; two processes for a file of at least
    :data:`PARALLEL_MIN_BYTES` on two cores or more. ``leaves``, when given, gets every
    line's leaf hash."""
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    parallel = size >= PARALLEL_MIN_BYTES and _two_cores()
    split = _split_point(path, size) if parallel else size
    second = _start_second(path, split, leaves is not None) if 0 < split < size else None
    if second is None:
        first = check_span(path, 0, size, 0, GENESIS, leaves, progress)
        return None if first is None else first[1]
    with second:
        try:
            first = check_span(path, 0, split, 0, GENESIS, leaves, progress)
            out = second.communicate()[0] if first is not None else b""
        finally:
            if second.returncode is None:  # the first half failed, or this one was stopped
                second.kill()
                second.wait()
    if first is None:
        return None
    rest = _read_second(out, second.returncode, first[1], leaves)
    if rest is None:  # the second process could not say: check that half here
        found = check_span(path, split, None, first[1], first[2], leaves, progress)
        return None if found is None else found[0] + found[1]
    if progress is not None:
        progress(size - split)
    return first[1] + rest


def _two_cores() -> bool:
    """Whether this process may run on two cores or more. (Not the load average: it counts this
    process, and on the shared 2-core machine of ``benchmarks/README.md`` two processes were
    1.5-1.7x faster at a load of 2 and 1.2x slower only while another session kept a core busy.)"""
    try:
        return len(os.sched_getaffinity(0)) >= 2
    except AttributeError:  # not on Linux
        return (os.cpu_count() or 1) >= 2


def _start_second(
    path: str | os.PathLike[str], split: int, leaves: bool
) -> subprocess.Popen[bytes] | None:
    """This file as a script, checking the lines from ``split``: ``-I`` (the interpreter's own
    packages only, no environment, no current folder) since it needs the standard library
    alone. ``None`` when no interpreter is known."""
    if not sys.executable:
        return None
    argv = [sys.executable, "-I", str(Path(__file__)), str(path), str(split), str(int(leaves))]
    try:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
    except OSError:
        return None


def _read_second(
    out: bytes, status: int | None, expected: int, leaves: list[bytes] | None
) -> int | None:
    """The number of lines the second process found in order, starting at index ``expected``;
    ``None`` when it failed, doubted, or started elsewhere."""
    head, _nl, body = out.partition(b"\n")
    words = head.split()
    if status != 0 or len(words) != 3 or words[0] != b"ok":
        return None
    first, count = int(words[1]), int(words[2])
    if first != expected or (leaves is not None and len(body) != 32 * count):
        return None
    if leaves is not None:
        leaves.extend([body[i : i + 32] for i in range(0, len(body), 32)])
    return count


def main(argv: list[str]) -> int:
    """``_linechain.py LOG START LEAVES``: check the lines of LOG from byte START (after the
    line whose hash the first names) to the end; print ``ok FIRST COUNT`` and, when LEAVES is
    1, the lines' leaf hashes (32 bytes each), or ``doubt``."""
    path, start, want = argv[0], int(argv[1]), argv[2] == "1"
    leaves: list[bytes] | None = [] if want else None
    prev = hashlib.sha256(_line_before(path, start)).hexdigest()
    found = check_span(path, start, None, None, prev, leaves)
    out = sys.stdout.buffer
    if found is None:
        out.write(b"doubt\n")
        return 0
    out.write(b"ok %d %d\n" % (found[0], found[1]))
    if leaves is not None:
        out.write(b"".join(leaves))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
