"""The catalogue of named synthetic datasets, and building them.

Each dataset is one TOML file in ``datasets/`` (shipped in the wheel as
``hipaa_lab/_resources/datasets``)::

    name = "m01-sample"
    description = "Module 1: three patients, every modality, PHI everywhere"
    seed = 101
    patients = 3
    modalities = ["CT", "MR", "CR", "DX", "US", "MG", "SC", "SR"]
    level = "EVERYWHERE"          # or HEADER, NESTED, or 1..3
    studies_per_patient = 8       # optional: default, one study per listed modality
    slices = 8                    # optional sizes, passed to make_study
    rows = 256
    columns = 256

A built dataset is a folder with ``studies/`` (the learner's tree) and ``answer-key.json`` beside it,
never inside it.

This module was ``hipaa_lab.datasets``, and still imports by that name (``hl.datasets.load``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hipaa_lab.errors import OutputNotEmptyError, UnknownDatasetError
from hipaa_lab.phi import AnswerKey
from hipaa_lab.studies.modalities import make_study
from hipaa_lab.studies.model import Modality, PHILevel, Study
from hipaa_lab.studies.patients import make_patient
from hipaa_lab.studies.tree import write_tree

__all__ = ["DatasetSpec", "build", "cache_dir", "catalogue", "load", "studies"]

KEY_FILE = "answer-key.json"
STUDIES_DIR = "studies"


@dataclass(frozen=True)
class DatasetSpec:
    """One named dataset: who, which modalities, how deep the PHI goes, how big."""

    name: str
    description: str
    seed: int
    patients: int
    modalities: tuple[Modality, ...]
    level: PHILevel
    studies_per_patient: int
    slices: int | None = None
    rows: int | None = None
    columns: int | None = None

    @classmethod
    def from_toml(cls, path: Path) -> DatasetSpec:
        """Read and check one catalogue file; errors name the file and the field."""
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ValueError(f"{path}: unknown field(s) {unknown}; valid fields: {sorted(fields)}")
        missing = sorted(
            {"name", "description", "seed", "patients", "modalities", "level"} - set(data)
        )
        if missing:
            raise ValueError(f"{path}: missing field(s) {missing}")
        try:
            modalities = tuple(Modality(str(m).upper()) for m in data["modalities"])
        except ValueError:
            raise ValueError(
                f"{path}: modalities {data['modalities']} must come from {[m.value for m in Modality]}"
            ) from None
        level = data["level"]
        try:
            level = PHILevel[level.upper()] if isinstance(level, str) else PHILevel(level)
        except (KeyError, ValueError):
            raise ValueError(
                f"{path}: level {level!r} must be one of {[x.name for x in PHILevel]}"
            ) from None
        per = int(data.get("studies_per_patient", len(modalities)))
        if not modalities or not 0 < per <= len(modalities) or int(data["patients"]) <= 0:
            raise ValueError(
                f"{path}: need patients > 0, modalities, and 0 < studies_per_patient <= {len(modalities)}"
            )
        return cls(
            name=str(data["name"]),
            description=str(data["description"]),
            seed=int(data["seed"]),
            patients=int(data["patients"]),
            modalities=modalities,
            level=level,
            studies_per_patient=per,
            slices=data.get("slices"),
            rows=data.get("rows"),
            columns=data.get("columns"),
        )

    def fingerprint(self) -> str:
        """A short hash of the spec and the package version: a cache key."""
        from hipaa_lab import __version__

        data = dataclasses.asdict(self) | {"version": __version__}
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _catalogue_dirs() -> list[Path]:
    package = Path(__file__).resolve().parents[1]  # hipaa_lab/, this module is in its studies/
    return [package / "_resources" / "datasets", package.parent / "datasets"]


def catalogue() -> dict[str, DatasetSpec]:
    """Every named dataset, sorted by name.

    Examples
    --------
    >>> "m01-sample" in catalogue()
    True
    """
    for folder in _catalogue_dirs():
        files = sorted(folder.glob("*.toml")) if folder.is_dir() else []
        if files:
            specs = [DatasetSpec.from_toml(f) for f in files]
            return {s.name: s for s in sorted(specs, key=lambda s: s.name)}
    return {}


def _spec(name: str) -> DatasetSpec:
    specs = catalogue()
    if name not in specs:
        raise UnknownDatasetError(name, sorted(specs))
    return specs[name]


def studies(spec: DatasetSpec) -> Iterator[Study]:
    """The studies of a dataset, made one at a time (a large dataset never sits in memory)."""
    mods = spec.modalities
    for i in range(spec.patients):
        patient = make_patient(spec.seed * 10_000 + i)
        for j in range(spec.studies_per_patient):
            mod = mods[(i + j) % len(mods)]
            yield make_study(
                mod,
                seed=spec.seed * 10_000 + i * 100 + j,
                level=spec.level,
                patient=patient,
                slices=spec.slices,
                rows=spec.rows,
                columns=spec.columns,
            )


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def build(name: str, out: str | os.PathLike[str], *, progress: bool = True) -> AnswerKey:
    """Build dataset ``name`` into ``out``: ``out/studies/...`` and ``out/answer-key.json``.

    The build happens in a hidden sibling folder renamed into place at the end, so an interrupted
    build never leaves a folder that looks complete.

    Raises
    ------
    UnknownDatasetError
        When ``name`` is not in the catalogue (the message lists the names that are).
    OutputNotEmptyError
        When ``out`` exists and holds anything; nothing in it is touched.
    """
    spec = _spec(name)
    out = Path(out)
    if out.exists() and not _is_empty_dir(out):
        raise OutputNotEmptyError(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        total = spec.patients * spec.studies_per_patient
        key = write_tree(
            studies(spec),
            tmp / STUDIES_DIR,
            dataset=spec.name,
            seed=spec.seed,
            progress=progress and total > 0,
        )
        key.save(tmp / KEY_FILE)  # last: a folder with a key is a finished folder
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return key


def cache_dir(name: str) -> Path:
    """Where :func:`load` keeps dataset ``name``: ``$HIPAA_LAB_CACHE`` or ``~/.cache/hipaa-lab``."""
    spec = _spec(name)
    root = Path(os.environ.get("HIPAA_LAB_CACHE") or Path.home() / ".cache" / "hipaa-lab")
    return root / f"{spec.name}-{spec.fingerprint()}"


def load(name: str) -> tuple[Path, AnswerKey]:
    """The studies folder and answer key of dataset ``name``, built once into the cache.

    Notebooks call this: the first call builds (a few seconds for the small datasets), later calls
    only read the key.
    """
    folder = cache_dir(name)
    if not (folder / KEY_FILE).is_file():
        try:
            build(name, folder, progress=False)
        except OutputNotEmptyError:
            if not (folder / KEY_FILE).is_file():  # not a build that finished in parallel
                raise
        except OSError:
            if not (folder / KEY_FILE).is_file():
                raise
    return folder / STUDIES_DIR, AnswerKey.load(folder / KEY_FILE)
