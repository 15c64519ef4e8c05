"""Module 5's checks: proving a restore, and carving a "deleted" USB stick.

Both run the learner's function on **fresh inputs made at grading time** (from the sealed run's
secret seed, or a new seed drawn for practice in a learner's kernel), never on the example the
notebook shows, so an answer copied from the visible example does not pass. What crosses to the
learner's function is plain data: dicts, lists and text (file bytes as base64 text).

- :func:`check_verify_restore`: ``verify_restore(manifest, files)`` gets a backup's
  ``manifest.json`` (as parsed JSON) and the files the backup holds (path -> base64 of the bytes),
  and returns ``{"changed": [...], "missing": [...], "extra": [...]}``: the paths whose bytes
  differ from the manifest's SHA-256, those the manifest lists and the backup lacks, those the
  backup holds and the manifest does not list. It runs on :data:`RESTORE_CASES` fresh backups
  (real ones, made by :func:`hipaa_lab.safeguards.backup.backup`), each damaged in its own way or
  not at all (:func:`damaged_backup`); credit is the share it gets exactly right (an intact one
  counts once a damaged one is right). While it runs,
  the package's own restore verification refuses to do the work (:func:`own_work`).
- :func:`check_carve_dicom`: ``carve_dicom(image)`` gets a raw image of a USB stick whose studies
  were deleted (base64 text) and returns the offsets at which DICOM files start (their
  preamble, 128 bytes before ``DICM``). Each image (:func:`raw_image`) also holds two of three
  look-alikes: a deleted note whose text says ``DICM``, a blob with ``DICM`` inside, and always
  a file whose header an interrupted wipe zeroed after its ``DICM``. Credit is the recall over
  :data:`CARVE_IMAGES` fresh images times :func:`~hipaa_lab.course.grading.precision_factor` of
  the share of reported offsets that are files, less half of it for the share of wiped files
  reported. While it runs, :func:`hipaa_lab.safeguards.media.carve` and its kin refuse.

Every name and number in the inputs is synthetic.
"""

from __future__ import annotations

import base64
import io
import json
import random
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hipaa_lab.course.grading import (
    FULL_PRECISION,
    PRACTICE,
    ZERO_PRECISION,
    Credit,
    _credit,
    _one_run,
    precision_factor,
)
from hipaa_lab.course.rules import call_learner, own_work
from hipaa_lab.course.sandbox import SandboxFunction
from hipaa_lab.errors import GradingError

__all__ = [
    "CARVE_IMAGES",
    "CLUSTER",
    "CarveScore",
    "DAMAGES",
    "PROBLEM_KINDS",
    "RESTORE_CASES",
    "RestoreResult",
    "check_carve_dicom",
    "check_verify_restore",
    "damaged_backup",
    "grade_carve_dicom",
    "grade_verify_restore",
    "own_work",
    "raw_image",
    "score_carve",
    "wiped_offsets",
]

#: How many fresh backups ``verify_restore`` checks.
RESTORE_CASES = 5
#: How many fresh images ``carve_dicom`` carves.
CARVE_IMAGES = 2
#: The kinds of problem ``verify_restore`` reports, the keys of its answer.
PROBLEM_KINDS = ("changed", "missing", "extra")
#: How a backup can be damaged (:func:`damaged_backup`): a byte flipped (same size), a file cut
#: short, a file deleted, a file added, a file renamed (one missing, one extra).
DAMAGES = ("flip", "truncate", "missing", "extra", "renamed")
#: The cluster size of :func:`raw_image`: files start on multiples of it, as on a FAT stick.
CLUSTER = 2048

_MODALITIES = ("CT", "MR", "CR")
_PREAMBLE = 128


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _study_files(rng: random.Random, studies: int) -> list[tuple[str, bytes]]:
    """Small synthetic studies as (relative path, Part 10 bytes)."""
    from hipaa_lab.studies import make_study

    out = []
    for _ in range(studies):
        study = make_study(
            rng.choice(_MODALITIES),
            seed=rng.getrandbits(32),
            slices=rng.randint(2, 3),
            rows=64,
            columns=64,
        )
        for inst in study.instances:
            buffer = io.BytesIO()
            inst.dataset.save_as(buffer, enforce_file_format=True)
            out.append((inst.file, buffer.getvalue()))
    return out


# --------------------------------------------------------------------------- exercise 1


def _plan(rng: random.Random, cases: int) -> list[tuple[str, ...]]:
    """The damage of each fresh backup: one intact, one with a same-size change, the rest mixed."""
    fixed: list[tuple[str, ...]] = [(), ("flip",), ("missing", "extra"), ("truncate",)]
    plans = fixed[:cases]
    while len(plans) < cases:
        plans.append(tuple(rng.sample(DAMAGES, rng.randint(2, 3))))
    rng.shuffle(plans)
    return plans


def damaged_backup(
    seed: int, damages: tuple[str, ...] | None = None
) -> tuple[dict[str, Any], dict[str, str], dict[str, list[str]]]:
    """A fresh backup of two small studies, damaged: ``(manifest, files, answer)``.

    The backup is a real one (:func:`hipaa_lab.safeguards.backup.backup`); ``manifest`` is its
    ``manifest.json`` as parsed JSON, ``files`` maps each path under the backup's ``files/``
    folder (``/`` separators) to its bytes as base64 text, and ``answer`` lists the changed,
    missing and extra paths, sorted. Each damage of :data:`DAMAGES` in ``damages`` (random ones
    when ``None``, possibly none) hits a different file.

    Examples
    --------
    >>> manifest, files, answer = damaged_backup(5, ("missing",))
    >>> len(answer["missing"]), answer["changed"], answer["extra"]
    (1, [], [])
    >>> answer["missing"][0] in manifest["manifest"]["files"], answer["missing"][0] in files
    (True, False)
    """
    from hipaa_lab.safeguards.backup import MANIFEST
    from hipaa_lab.safeguards.backup import backup as make_backup

    rng = random.Random(f"restore:{seed}")  # noqa: S311 - synthetic data; the seed is the secret
    if damages is None:
        damages = tuple(rng.sample(DAMAGES, rng.randint(0, 3)))
    unknown = set(damages) - set(DAMAGES)
    if unknown:
        raise ValueError(f"unknown damage {sorted(unknown)}; the damages are {DAMAGES}")
    written = _study_files(rng, 2)
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        for rel, data in written:
            (store / rel).parent.mkdir(parents=True, exist_ok=True)
            (store / rel).write_bytes(data)
        if rng.random() < 0.5:
            (store / "README.txt").write_text("Exported for the weekly review. Synthetic data.\n")
        make_backup(store, Path(tmp) / "backup")
        manifest = json.loads((Path(tmp) / "backup" / MANIFEST).read_text(encoding="utf-8"))
    files = {rel: data for rel, data in written}
    if "README.txt" in manifest["manifest"]["files"]:
        files["README.txt"] = b"Exported for the weekly review. Synthetic data.\n"
    answer: dict[str, list[str]] = {kind: [] for kind in PROBLEM_KINDS}
    victims = rng.sample(sorted(p for p in files if p.endswith(".dcm")), len(damages))
    for how, rel in zip(damages, victims, strict=True):
        data = files[rel]
        if how == "flip":
            at = rng.randrange(len(data) // 4, len(data))
            files[rel] = data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]
            answer["changed"].append(rel)
        elif how == "truncate":
            files[rel] = data[: rng.randrange(len(data) // 2, len(data) - 1)]
            answer["changed"].append(rel)
        elif how == "missing":
            del files[rel]
            answer["missing"].append(rel)
        else:
            folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
            names = ("copy.dcm", "IMG0001.dcm", "restore-me.dcm", "RECOVER.txt", "x.dcm")
            new = next(folder + n for n in rng.sample(names, len(names)) if folder + n not in files)
            if how == "renamed":
                del files[rel]
                answer["missing"].append(rel)
                payload = data
            else:
                payload = b"Your files are encrypted. Synthetic ransom note.\n" * 4
            files[new] = payload
            answer["extra"].append(new)
    return (
        manifest,
        {rel: _b64(data) for rel, data in sorted(files.items())},
        {kind: sorted(paths) for kind, paths in answer.items()},
    )


@dataclass
class RestoreResult:
    """What ``verify_restore`` answered on each fresh backup, and the key."""

    answers: list[dict[str, list[str]] | str] = field(default_factory=list)
    """Its answer on each backup, or what went wrong."""
    keys: list[dict[str, list[str]]] = field(default_factory=list)
    """The right answer on each backup."""
    practice: bool = True

    def right(self) -> int:
        return sum(a == k for a, k in zip(self.answers, self.keys, strict=True))

    def fraction(self) -> float:
        """The share of backups answered exactly right; an intact backup counts only when a
        damaged one was right too (three empty lists, whatever the backup, earn nothing)."""
        pairs = list(zip(self.answers, self.keys, strict=True))
        damaged = sum(a == k for a, k in pairs if any(k.values()))
        intact = sum(a == k for a, k in pairs if not any(k.values()))
        return (damaged + intact) / len(pairs) if damaged else 0.0


def _problems_from(returned: object, most: int) -> dict[str, list[str]] | str:
    """The learner's answer, each list sorted, or what is wrong with it. A list of more than
    ``most`` paths (every path the backup and the manifest name) cannot be right, and is not kept:
    the grader keeps every backup's answer until the grade is done (see ``kept_answer``)."""
    name = "verify_restore"
    if not isinstance(returned, Mapping):
        return (
            f"{name} must return a dict with the keys 'changed', 'missing' and 'extra'; it "
            f"returned {type(returned).__name__}: {returned!r:.60}"
        )
    bad = sorted(set(map(str, returned)) - set(PROBLEM_KINDS))
    if bad:
        return f"{name} returned the key(s) {bad}; the keys are {list(PROBLEM_KINDS)}"
    out: dict[str, list[str]] = {}
    for kind in PROBLEM_KINDS:
        paths = returned.get(kind, [])
        if isinstance(paths, (str, bytes, Mapping)) or not isinstance(paths, (list, tuple, set)):
            return f"{name}'s {kind!r} must be a list of paths; it is {type(paths).__name__}"
        if not all(type(p) is str for p in paths):
            return f"{name}'s {kind!r} must list paths as text (str)"
        if len(paths) > most:
            return f"{name}'s {kind!r} lists {len(paths)} paths; the backup has only {most}"
        out[kind] = sorted(set(paths))
    return out


def grade_verify_restore(
    function: Callable[..., Any] | SandboxFunction, seed: int | None = None
) -> RestoreResult:
    """Run ``verify_restore(manifest, files)`` on :data:`RESTORE_CASES` fresh damaged backups."""

    def compute(run_seed: int, practice: bool) -> RestoreResult:
        rng = random.Random(run_seed)  # noqa: S311 - derived from the secret seed
        result = RestoreResult(practice=practice)
        for damages in _plan(rng, RESTORE_CASES):
            manifest, files, key = damaged_backup(rng.getrandbits(64), damages)
            result.keys.append(key)
            try:
                returned = call_learner(function, "verify_restore", manifest, files)
            except GradingError as exc:
                if "not written" in str(exc):
                    raise
                result.answers.append(str(exc))
                continue
            most = len(manifest["manifest"]["files"]) + len(files)
            result.answers.append(_problems_from(returned, most))
        return result

    return _one_run(function, "verify_restore", seed, compute)


def _restore_hints(result: RestoreResult) -> list[str]:
    hints: list[str] = []
    intact = [a for a, k in zip(result.answers, result.keys, strict=True) if not any(k.values())]
    if any(isinstance(a, dict) and any(a.values()) for a in intact):
        hints.append("it reported problems in a backup that had none")
    for kind, what in (
        ("changed", "changed files (some keep their size: compare SHA-256, not only sizes)"),
        ("missing", "missing files"),
        ("extra", "extra files"),
    ):
        wrong = sum(
            isinstance(a, dict) and set(a[kind]) != set(k[kind])
            for a, k in zip(result.answers, result.keys, strict=True)
        )
        if wrong:
            hints.append(f"its {kind!r} list was wrong on {wrong} backup(s): check for {what}")
    failed = [a for a in result.answers if isinstance(a, str)]
    if failed:
        hints.append(failed[0])
    return hints


def check_verify_restore(
    function: Callable[..., Any] | SandboxFunction, seed: int | None = None
) -> Credit:
    """Credit for the share of fresh backups on which ``verify_restore`` names exactly the
    changed, missing and extra files (an intact backup: none)."""
    result = grade_verify_restore(function, seed)
    on = f" (on {PRACTICE.replace('studies', 'backups')})" if result.practice else ""
    n = len(result.keys)
    message = f"verify_restore was exactly right on {result.right()} of {n} fresh backups{on}."
    hints = _restore_hints(result)
    if hints:
        message += " " + "; ".join(hints) + "."
    if not result.fraction() and result.right():
        message += " An intact backup counts only once a damaged one is found right."
    return Credit(1.0, message) if result.right() == n else _credit(result.fraction(), message)


# --------------------------------------------------------------------------- exercise 2

_NOTE = (
    "Tumour board, Thursday. Copied the studies for the review onto this stick and took them off "
    "again afterwards. Each file is DICOM Part 10: a 128-byte preamble, then DICM, then the file "
    "meta information. Synthetic note, no patient named.\n"
)


def _cluster_pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % CLUSTER)


def raw_image(seed: int) -> tuple[str, list[int]]:
    """A raw image of a USB stick whose studies were deleted: ``(base64 text, file offsets)``.

    Built in memory, as a FAT filesystem lays small files out on a fresh stick: a reserved area,
    then each file on whole clusters (:data:`CLUSTER` bytes), with free clusters between some of
    them. It holds the deleted DICOM files of two small studies (their offsets are the answer),
    files that were *cleared* (zeros: nothing left), and two of three look-alikes: a deleted note
    that says ``DICM``, a compressed-looking blob with ``DICM`` inside it, a DICOM file whose bytes
    after ``DICM`` an interrupted wipe zeroed (no header left to read): always the wiped file, and
    one of the other two.

    Examples
    --------
    >>> import base64
    >>> image, offsets = raw_image(3)
    >>> data = base64.b64decode(image)
    >>> all(data[o + 128 : o + 132] == b"DICM" and o % CLUSTER == 0 for o in offsets)
    True
    >>> data.count(b"DICM") > len(offsets)
    True
    """
    rng = random.Random(f"carve:{seed}")  # noqa: S311 - synthetic data; the seed is the secret
    files = [data for _, data in _study_files(rng, 2)]
    rng.shuffle(files)
    cleared = rng.randint(1, 2)
    items: list[tuple[bytes, bool]] = [(bytes(len(d)), False) for d in files[:cleared]]
    kept = files[cleared:]
    items += [(d, True) for d in kept]
    wiped = bytearray(rng.choice(kept))
    wiped[_PREAMBLE + 4 :] = bytes(len(wiped) - _PREAMBLE - 4)
    blob = bytearray(rng.randbytes(rng.randint(3, 6) * CLUSTER - rng.randrange(CLUSTER)))
    at = rng.randrange(_PREAMBLE, len(blob) - 4)
    blob[at : at + 4] = b"DICM"
    others = [_NOTE.encode() * rng.randint(1, 3), bytes(blob)]
    rng.shuffle(others)
    # the wiped file, always (only reading a header tells it from a file), and one of the others
    items += [(bytes(wiped), False), (others[0], False)]
    rng.shuffle(items)
    out = bytearray(rng.randbytes(512) + bytes(3 * CLUSTER - 512))  # boot sector, FATs, root
    offsets = []
    for data, real in items:
        out += bytes(CLUSTER * rng.choice((0, 0, 1, 2)))  # free clusters, never written
        if real:
            offsets.append(len(out))
        out += _cluster_pad(data)
    out += bytes(4 * CLUSTER)
    return _b64(bytes(out)), offsets


def wiped_offsets(image: str, offsets: list[int]) -> list[int]:
    """The offsets of the image's wiped file (``DICM`` 128 bytes after a cluster's start, and
    nothing readable after it): the look-alike only a header check tells from a file.

    >>> image, offsets = raw_image(3)
    >>> len(wiped_offsets(image, offsets))
    1
    """
    data = base64.b64decode(image)
    return [
        o
        for o in range(0, len(data) - _PREAMBLE - 8, CLUSTER)
        if o not in offsets
        and data[o + _PREAMBLE : o + _PREAMBLE + 4] == b"DICM"
        and not any(data[o + _PREAMBLE + 4 : o + _PREAMBLE + 64])
    ]


@dataclass
class CarveScore:
    """How the offsets ``carve_dicom`` reported compare with the files on the fresh images."""

    files: int = 0
    """DICOM files on the images."""
    found: int = 0
    """Of them, reported at their offset."""
    reported: int = 0
    """Offsets reported in all."""
    off_by_preamble: int = 0
    """Reported offsets 128 bytes past a file's start (where ``DICM`` is, not where it starts)."""
    wiped: int = 0
    """Wiped files on the images (one each: ``DICM`` at a cluster's 128th byte, no header)."""
    wiped_reported: int = 0
    """Of them, reported as files."""
    errors: list[str] = field(default_factory=list)
    practice: bool = True

    def recall(self) -> float:
        return self.found / self.files if self.files else 0.0

    def precision(self) -> float:
        return self.found / self.reported if self.reported else 0.0

    def fraction(self) -> float:
        """Recall times :func:`~hipaa_lab.course.grading.precision_factor` of precision, less
        half of it for the share of wiped files reported (a ``DICM`` is not yet a file)."""
        spared = 1.0 - 0.5 * self.wiped_reported / self.wiped if self.wiped else 1.0
        return self.recall() * precision_factor(self.precision()) * spared


def _offsets_from(returned: object) -> set[int] | str:
    name = "carve_dicom"
    if isinstance(returned, (str, bytes, Mapping)) or not isinstance(returned, (list, tuple, set)):
        return (
            f"{name} must return a list of offsets (integers); it returned "
            f"{type(returned).__name__}: {returned!r:.60}"
        )
    if not all(type(o) is int for o in returned):
        return f"{name} must return offsets as integers (byte positions in the image)"
    return set(returned)


def score_carve(
    reported: object,
    offsets: list[int],
    score: CarveScore | None = None,
    wiped: list[int] | None = None,
) -> CarveScore:
    """Add one image's result to ``score`` (a new one if ``None``); ``wiped`` are the offsets of
    its wiped files (:func:`wiped_offsets`), if known.

    Examples
    --------
    >>> s = score_carve([0, 4096 + 128, 9000], [0, 4096])
    >>> s.found, s.files, s.reported, s.off_by_preamble
    (1, 2, 3, 1)
    """
    score = score if score is not None else CarveScore()
    score.files += len(offsets)
    score.wiped += len(wiped or ())
    got = _offsets_from(reported)
    if isinstance(got, str):
        score.errors.append(got)
        return score
    truth = set(offsets)
    score.found += len(got & truth)
    score.reported += len(got)
    score.off_by_preamble += len({o - _PREAMBLE for o in got} & truth - got)
    score.wiped_reported += len(got & set(wiped or ()))
    return score


def grade_carve_dicom(
    function: Callable[..., Any] | SandboxFunction, seed: int | None = None
) -> CarveScore:
    """Run ``carve_dicom(image)`` on :data:`CARVE_IMAGES` fresh images and score it."""

    def compute(run_seed: int, practice: bool) -> CarveScore:
        rng = random.Random(run_seed)  # noqa: S311 - derived from the secret seed
        score = CarveScore(practice=practice)
        for _ in range(CARVE_IMAGES):
            image, offsets = raw_image(rng.getrandbits(64))
            wiped = wiped_offsets(image, offsets)
            try:
                returned = call_learner(function, "carve_dicom", image)
            except GradingError as exc:
                if "not written" in str(exc):
                    raise
                score.files += len(offsets)
                score.wiped += len(wiped)
                score.errors.append(str(exc))
                continue
            score_carve(returned, offsets, score, wiped)
        return score

    return _one_run(function, "carve_dicom", seed, compute)


def check_carve_dicom(
    function: Callable[..., Any] | SandboxFunction, seed: int | None = None
) -> Credit:
    """Credit for the DICOM files ``carve_dicom`` finds on fresh images: recall, times
    :func:`~hipaa_lab.course.grading.precision_factor` of the share of offsets that are files."""
    score = grade_carve_dicom(function, seed)
    on = f" (on {PRACTICE.replace('studies', 'images')})" if score.practice else ""
    message = f"carve_dicom found {score.found} of {score.files} deleted DICOM files{on}."
    if score.reported:
        message += f" {score.precision():.0%} of the {score.reported} offsets it reported are files"
        factor = precision_factor(score.precision())
        if factor < 1:
            message += (
                f", which keeps {factor:.0%} of the credit (all of it from {FULL_PRECISION:.0%}, "
                f"none at {ZERO_PRECISION:.0%} or less): a DICM is not yet a file; check that "
                "a DICOM header with a SOP Instance UID can be read from there"
            )
        message += "."
    if score.wiped_reported:
        message += (
            f" It reported {score.wiped_reported} wiped file(s) (DICM, then zeros: no header to "
            "read), which costs half the credit in that share."
        )
    if score.off_by_preamble:
        message += (
            f" {score.off_by_preamble} offset(s) are where DICM is: a file starts 128 bytes "
            "earlier, at its preamble."
        )
    if score.errors:
        message += f" {score.errors[0]}"
    fraction = score.fraction()
    return Credit(1.0, message) if fraction >= 1 else _credit(fraction, message)
