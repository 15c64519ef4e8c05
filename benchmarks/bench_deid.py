"""Throughput of ``hipaa-lab deid`` against a raw pydicom loop and the free de-identifiers.

    python benchmarks/bench_deid.py [--n 1000] [--corpus DIR] [--no-peers] [--no-ocr-modalities]

One corpus, every contender, the same run. The corpus (built once, then reused from ``--corpus``):

* ``main/``: N CT instances of 512x512 (studies of 25 slices) plus a few studies of MR, CR, DX, MG
  and SR, written by :func:`hipaa_lab.studies.write_tree` at ``PHILevel.NESTED`` (identifiers in
  sequences, private blocks, free text), in the nested folder layout the generator uses;
* ``ocr/``: a few US and SC studies, whose pixels hipaa-lab reads with Tesseract (the peers do not
  look at pixels), timed apart so their OCR cost shows on its own;
* ``flat-main/``, ``flat-ocr/``: the same files hard-linked into one folder each, for
  dicom-anonymizer, which does not recurse.

Contenders:

* ``raw pydicom loop``: ``dcmread`` + ``save_as`` of every file into another folder (the floor);
* ``hipaa-lab 1 process`` and ``hipaa-lab --jobs 2``: in-process calls to
  :func:`hipaa_lab.deid.deidentify_tree` with ``progress=False`` (no interpreter start-up);
* ``hipaa-lab CLI``: ``python -m hipaa_lab.cli deid SRC DST --key-file K --quiet``, one process,
  start-up included, as the peers are run;
* ``dicognito``: ``<peer-venv>/bin/python -m dicognito -o OUT --seed 42 SRC``;
* ``dicom-anonymizer``: ``<peer-venv>/bin/dicom-anonymizer FLAT OUT`` (exits 0 even on errors).

The peers are installed by this script into their own venv (``--peer-venv``, default
``benchmarks/.peer-venv``), never into hipaa-lab's. Every contender's DICOM outputs are counted
(files with ``DICM`` at byte 128), so a silent failure shows as a short count. Prints files per
second and the ratios against the aims: 1 process >= 0.7x the raw loop; ahead of every peer;
``--jobs 2`` >= 1.7x 1 process.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import FileMetaDataset

from hipaa_lab.deid import Deidentifier, deidentify_tree
from hipaa_lab.deid import batch as hl_deid
from hipaa_lab.deid.pseudonyms import load_key
from hipaa_lab.studies import PHILevel, make_study, write_tree

HERE = Path(__file__).resolve().parent
SLICES_PER_STUDY = 25
OTHER_MODALITIES = ("MR", "SR")
# modalities whose pixels hipaa-lab reads (OCR) whatever BurnedInAnnotation says; the peers do not
OCR_MODALITIES = ("US", "SC", "CR", "DX", "MG")
#: The peers' versions measured in README.md; pinned so that reruns compare the same programs.
PEERS = ("dicognito==0.19.0", "dicom-anonymizer==2.1.0")
CORPUS_VERSION = 2


# ---------------------------------------------------------------------------------------- corpus
def _studies(n: int, others: int, modalities):
    left, seed = n, 1000
    while left > 0:
        k = min(SLICES_PER_STUDY, left)
        yield make_study("CT", seed=seed, level=PHILevel.NESTED, slices=k, rows=512, columns=512)
        left, seed = left - k, seed + 1
    for i, mod in enumerate(modalities):
        for j in range(others):
            yield make_study(mod, seed=2000 + 10 * i + j, level=PHILevel.NESTED)


def _flatten(src: Path, flat: Path) -> int:
    flat.mkdir(parents=True)
    files = sorted(p for p in src.rglob("*") if p.is_file())
    for i, p in enumerate(files):
        os.link(p, flat / f"f{i:06d}.dcm")
    return len(files)


def build_corpus(root: Path, n: int, others: int) -> dict:
    """The corpus in ``root``, built when missing or made with other parameters."""
    manifest = root / "manifest.json"
    want = {"version": CORPUS_VERSION, "n": n, "others": others}
    if manifest.is_file():
        have = json.loads(manifest.read_text())
        if {k: have.get(k) for k in want} == want:
            return have
        print(f"corpus in {root} was built with {have}; rebuilding for {want}", file=sys.stderr)
    for sub in ("main", "ocr", "flat-main", "flat-ocr"):
        shutil.rmtree(root / sub, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    write_tree(_studies(n, others, OTHER_MODALITIES), root / "main")
    write_tree(_studies(0, others, OCR_MODALITIES), root / "ocr")
    counts = {
        "main": _flatten(root / "main", root / "flat-main"),
        "ocr": _flatten(root / "ocr", root / "flat-ocr"),
    }
    info = {**want, "files": counts}
    manifest.write_text(json.dumps(info, indent=1))
    print(
        f"built corpus in {root}: {counts} files in {time.perf_counter() - start:.0f} s",
        file=sys.stderr,
    )
    return info


def _warm(folder: Path) -> int:
    """Read every file once, so that every contender finds the corpus in the page cache."""
    total = 0
    for p in folder.rglob("*"):
        if p.is_file():
            total += len(p.read_bytes())
    return total


def count_dicom(folder: Path) -> int:
    """Files under ``folder`` with the DICM prefix (outputs that are not DICOM do not count)."""
    n = 0
    for p in folder.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                n += f.read(132)[128:] == b"DICM"
    return n


# ------------------------------------------------------------------------------------ contenders
def raw_loop(src: Path, flat: Path, out: Path) -> None:
    out.mkdir()
    for i, p in enumerate(sorted(q for q in src.rglob("*") if q.is_file())):
        dcmread(p).save_as(out / f"{i:06d}.dcm")


def _hipaa_lab(jobs: int):
    def run(src: Path, flat: Path, out: Path) -> None:
        err = io.StringIO()
        deidentify_tree(
            src, out, key_file=out.parent / "bench.key", jobs=jobs, progress=False, err=err
        )
        if err.getvalue():
            print("  " + err.getvalue().strip().replace("\n", "\n  "), file=sys.stderr)

    return run


def _command(argv, out: Path, ok=(0,)) -> None:
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode not in ok:
        raise RuntimeError(f"{argv[0]} exited {r.returncode}: {r.stderr.strip()[-300:]}")


def hipaa_lab_cli(src: Path, flat: Path, out: Path) -> None:
    _command(
        [
            sys.executable,
            "-m",
            "hipaa_lab.cli",
            "deid",
            str(src),
            str(out),
            "--key-file",
            str(out.parent / "bench.key"),
            "--quiet",
        ],
        out,
        ok=(0, 1),
    )  # 1: some skipped


def _dicognito(venv: Path):
    def run(src: Path, flat: Path, out: Path) -> None:
        _command(
            [
                str(venv / "bin" / "python"),
                "-m",
                "dicognito",
                "-o",
                str(out),
                "--seed",
                "42",
                "--quiet",
                str(src),
            ],
            out,
        )

    return run


def _dicom_anonymizer(venv: Path):
    def run(src: Path, flat: Path, out: Path) -> None:
        out.mkdir()
        _command([str(venv / "bin" / "dicom-anonymizer"), str(flat), str(out)], out)

    return run


def peer_venv(venv: Path) -> Path:
    """The peers' own venv, made and filled on first use."""
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if not marker.is_file() or marker.read_text().split() != list(PEERS):
        print(f"installing {', '.join(PEERS)} into {venv} ...", file=sys.stderr)
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PEERS],
            check=True,
        )
        marker.write_text("\n".join(PEERS))
    return venv


def timed(name: str, fn, src: Path, flat: Path, expected: int, work: Path) -> dict:
    """One run: seconds, files per second, and how many DICOM files came out.

    Dirty pages left by the run before (another contender's 500 MB of outputs, and their
    deletion) are flushed first, outside the timing: otherwise the kernel's write-back throttles
    whichever contender runs second, and the order of the contenders decides the ratio.
    """
    os.sync()
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        out = Path(tmp) / "out"
        start = time.perf_counter()
        try:
            fn(src, flat, out)
            error = None
        except Exception as exc:  # a contender that fails is reported, not fatal
            error = str(exc)
        elapsed = time.perf_counter() - start
        produced = count_dicom(out) if out.exists() else 0
    os.sync()
    if error:
        return {"name": name, "error": error, "outputs": produced, "expected": expected}
    return {
        "name": name,
        "seconds": elapsed,
        "rate": expected / elapsed,
        "outputs": produced,
        "expected": expected,
    }


def best_of(runs: list[dict]) -> dict:
    """The fastest of one contender's runs (its first failure, if any failed)."""
    failed = [r for r in runs if "error" in r]
    return failed[0] if failed else min(runs, key=lambda r: r["seconds"])


# ------------------------------------------------------------------------------ where time goes
#: The steps of :func:`hipaa_lab.deid.deidentify_file`, in its order, as :func:`steps` times them.
HIPAA_STEPS = (
    "read and checks",
    "pixel-cleaning decision",
    "engine rules",
    "file meta and name",
    "provenance record",
    "encode",
    "staged file, write, link",
)
RAW_STEPS = ("read", "encode", "create and write")


def steps(src: Path, work: Path, n: int, passes: int = 3) -> tuple[dict, dict]:
    """Milliseconds per file of each step, hipaa-lab's and the raw loop's, on the first ``n``
    files of ``src`` (best of ``passes``, each step on its own).

    hipaa-lab's steps are those of :func:`hipaa_lab.deid.deidentify_file`, called one by one
    from its own helpers (the pixel cleaner is never needed on this corpus); both sides encode
    into memory first, so that "encode" and the file system's share are told apart.
    """
    files = sorted(p for p in src.rglob("*") if p.is_file())[:n]
    deid = Deidentifier(load_key(work / "steps.key"))
    best: dict[str, float] = {}
    best_raw: dict[str, float] = {}
    for _ in range(passes):
        took = dict.fromkeys(HIPAA_STEPS, 0.0)
        raw = dict.fromkeys(RAW_STEPS, 0.0)
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            out = Path(tmp)
            for p in files:
                t0 = time.perf_counter()
                ds = hl_deid._read(p)
                syntax = ds.file_meta.TransferSyntaxUID
                t1 = time.perf_counter()
                if hl_deid.needs_pixel_cleaning(ds, deid.options):
                    raise RuntimeError(f"{p} needs pixel cleaning: not a file for this timing")
                t2 = time.perf_counter()
                changes = deid.deidentify(ds)
                t3 = time.perf_counter()
                meta = FileMetaDataset()
                meta.MediaStorageSOPClassUID = ds.SOPClassUID
                meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
                meta.TransferSyntaxUID = syntax
                meta.ImplementationClassUID = hl_deid.IMPLEMENTATION_CLASS_UID
                meta.ImplementationVersionName = hl_deid.IMPLEMENTATION_VERSION
                ds.file_meta, ds.preamble = meta, b"\0" * 128
                name = hl_deid._output_name(ds, deid)
                t4 = time.perf_counter()
                record = json.dumps({"output": name, "changes": [c.to_json() for c in changes]})
                t5 = time.perf_counter()
                buffer = io.BytesIO()
                hl_deid.write_dicom(buffer, ds)
                t6 = time.perf_counter()
                staged = hl_deid._Staged(out / "h" / Path(name).parent)
                staged.file.write(buffer.getbuffer())
                staged.link(out / "h" / name)
                staged.close()
                t7 = time.perf_counter()
                for step, a, b in zip(
                    HIPAA_STEPS,
                    (t0, t1, t2, t3, t4, t5, t6),
                    (t1, t2, t3, t4, t5, t6, t7),
                    strict=True,
                ):
                    took[step] += b - a
                del record  # made as deidentify_file makes it; written there, timed here
            (out / "r").mkdir()
            for i, p in enumerate(files):
                t0 = time.perf_counter()
                ds = dcmread(p)
                t1 = time.perf_counter()
                buffer = io.BytesIO()
                ds.save_as(buffer)
                t2 = time.perf_counter()
                (out / "r" / f"{i:06d}.dcm").write_bytes(buffer.getbuffer())
                t3 = time.perf_counter()
                for step, a, b in zip(RAW_STEPS, (t0, t1, t2), (t1, t2, t3), strict=True):
                    raw[step] += b - a
        for mine, theirs in ((best, took), (best_raw, raw)):
            for step, seconds in theirs.items():
                ms = 1000 * seconds / len(files)
                mine[step] = min(mine.get(step, ms), ms)
    return best, best_raw


def print_steps(src: Path, work: Path, n: int) -> None:
    hipaa, raw = steps(src, work, n)
    print(f"\nwhere the time goes (ms per file, first {n} files of {src.name}/, best of 3 passes):")
    for label, table in (("hipaa-lab", hipaa), ("raw loop", raw)):
        parts = ", ".join(f"{step} {ms:.3f}" for step, ms in table.items())
        print(f"steps {label:<10} total {sum(table.values()):.3f}: {parts}")


def _line(r: dict) -> str:
    if "error" in r:
        return f"{r['name']:<22} FAILED: {r['error'][:120]}"
    note = (
        "" if r["outputs"] == r["expected"] else f"  !! {r['outputs']} of {r['expected']} outputs"
    )
    return f"{r['name']:<22} {r['rate']:8.1f} files/s  ({r['seconds']:6.1f} s, {r['outputs']} outputs){note}"


def _ratio(label: str, a: dict | None, b: dict | None, aim: str) -> None:
    if a and b and "rate" in a and "rate" in b:
        print(f"ratio {label:<42} {a['rate'] / b['rate']:6.2f}x  ({aim})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, default=1000, help="CT instances of 512x512 (default 1000)"
    )
    parser.add_argument(
        "--others", type=int, default=2, help="studies of each other modality (default 2)"
    )
    parser.add_argument(
        "--corpus", type=Path, default=HERE / ".corpus", help="where the corpus is kept"
    )
    parser.add_argument(
        "--peer-venv", type=Path, default=HERE / ".peer-venv", help="the peers' own venv"
    )
    parser.add_argument(
        "--no-peers", action="store_true", help="skip dicognito and dicom-anonymizer"
    )
    parser.add_argument(
        "--no-ocr-modalities", action="store_true", help="skip the US/SC (OCR) part"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of every contender; the best counts"
    )
    parser.add_argument(
        "--steps", type=int, default=200, help="files timed step by step (default 200; 0: none)"
    )
    args = parser.parse_args(argv)

    info = build_corpus(args.corpus.resolve(), args.n, args.others)
    root = args.corpus.resolve()
    contenders = [
        ("raw pydicom loop", raw_loop),
        ("hipaa-lab 1 process", _hipaa_lab(1)),
        ("hipaa-lab --jobs 2", _hipaa_lab(2)),
        ("hipaa-lab CLI", hipaa_lab_cli),
    ]
    if not args.no_peers:
        venv = peer_venv(args.peer_venv.resolve())
        contenders += [
            ("dicognito", _dicognito(venv)),
            ("dicom-anonymizer", _dicom_anonymizer(venv)),
        ]
    parts = [("main", "CT + MR, SR")] + (
        [] if args.no_ocr_modalities else [("ocr", "US, SC, CR, DX, MG (OCR)")]
    )

    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start"
    )
    work = Path(tempfile.mkdtemp(prefix="bench-deid-", dir=root))
    results: dict[str, dict[str, dict]] = {}
    try:
        for part, what in parts:
            src, flat, expected = root / part, root / f"flat-{part}", info["files"][part]
            _warm(src)
            for _name, fn in contenders[:2]:  # imports, the Annex E table, pydicom's caches
                with tempfile.TemporaryDirectory(dir=work) as tmp:
                    one = Path(tmp) / "one"
                    one.mkdir()
                    shutil.copy(
                        next(p for p in sorted(src.rglob("*")) if p.is_file()), one / "a.dcm"
                    )
                    fn(one, one, Path(tmp) / "out")
            print(f"\n{part}/: {expected} files ({what})")
            # rounds, each contender once a round, so that a change in the machine's state
            # during the run (another process, the disk) falls on every contender alike
            runs: dict[str, list[dict]] = {name: [] for name, _ in contenders}
            for _ in range(args.repeat):
                for name, fn in contenders:
                    runs[name].append(timed(name, fn, src, flat, expected, work))
            results[part] = {name: best_of(rs) for name, rs in runs.items()}
            for r in results[part].values():
                print(_line(r), flush=True)
        if args.steps:
            print_steps(root / "main", work, min(args.steps, info["files"]["main"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def report(res: dict[str, dict], title: str) -> None:
        print(f"\n{title}")
        raw, one, two, cli = (
            res.get(k)
            for k in (
                "raw pydicom loop",
                "hipaa-lab 1 process",
                "hipaa-lab --jobs 2",
                "hipaa-lab CLI",
            )
        )
        _ratio("hipaa-lab 1 process / raw pydicom loop", one, raw, "aim >= 0.7x")
        _ratio("hipaa-lab --jobs 2 / hipaa-lab 1 process", two, one, "aim >= 1.7x")
        for peer in ("dicognito", "dicom-anonymizer"):
            _ratio(f"hipaa-lab 1 process / {peer}", one, res.get(peer), "aim > 1x")
            _ratio(
                f"hipaa-lab CLI / {peer}", cli, res.get(peer), "aim > 1x, start-up on both sides"
            )

    report(results["main"], "ratios without OCR modalities (main/):")
    if "ocr" in results:
        combined = {}
        for name, a in results["main"].items():
            b = results["ocr"].get(name, {})
            if "rate" in a and "rate" in b:
                seconds = a["seconds"] + b["seconds"]
                combined[name] = {
                    "name": name,
                    "seconds": seconds,
                    "rate": (a["expected"] + b["expected"]) / seconds,
                    "outputs": a["outputs"] + b["outputs"],
                    "expected": a["expected"] + b["expected"],
                }
        print("\nwith OCR modalities (main/ + ocr/):")
        for r in combined.values():
            print(_line(r))
        report(combined, "ratios with OCR modalities (main/ + ocr/):")
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at end")


if __name__ == "__main__":
    main()
