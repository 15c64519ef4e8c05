"""Writing studies to a folder tree, and collecting their answer key.

The answer key is returned, never written beside the studies: a learner's folder must not hold
its own key (:mod:`hipaa_lab.studies.catalogue` saves it next to the tree, outside it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from hipaa_lab.phi import AnswerKey
from hipaa_lab.studies.model import Study

__all__ = ["write_tree"]


def write_tree(
    studies: Iterable[Study],
    out: Path,
    *,
    dataset: str = "",
    seed: int = 0,
    progress: bool = False,
) -> AnswerKey:
    """Write every instance of ``studies`` under ``out``; return the answer key (not written).

    Studies may come from a generator, so a large tree never sits in memory at once.

    Raises
    ------
    ValueError
        When two instances would be written to the same file.
    """
    out = Path(out)
    key = AnswerKey(dataset, seed)
    seen: set[str] = set()
    bar = None
    if progress:
        from tqdm import tqdm

        total = sum(len(s.instances) for s in studies) if isinstance(studies, Sequence) else None
        bar = tqdm(total=total, unit="file", desc=dataset or "writing", leave=False)
    try:
        for study in studies:
            for inst in study.instances:
                if inst.file in seen:
                    raise ValueError(f"two instances map to the same file {inst.file!r}")
                seen.add(inst.file)
                path = out / inst.file
                path.parent.mkdir(parents=True, exist_ok=True)
                inst.dataset.save_as(path, enforce_file_format=True)
                key.entries.extend(inst.entries)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return key
