"""Sealed autograde against nbgrader's own in-kernel autograde, per submission, in one run.

    .venv/bin/python benchmarks/bench_autograde.py                     # module 1, 4 submissions
    .venv/bin/python benchmarks/bench_autograde.py --module m02-deidentifying-images --n 2

Both contenders grade the same simulated submissions (the model solution) of one module, in the
same course, one after the other, with nbgrader's API in this process:

* **in-kernel** (today's nbgrader): ``Execute`` runs the whole notebook, grade cells included, in
  a Jupyter kernel as the trainer's user; the checks run the learner's function themselves, once
  per grade cell, on practice studies;
* **sealed** (hipaa-lab's course configuration): the learner's cells run in the bubblewrap
  sandbox, the grade cells in the grader, every check of a module scored from one run of the
  learner's function.

Prints seconds per submission for each, and the ratio sealed / in-kernel; the aim (issue 7) is
under 2x. Wall-clock time: run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from hipaa_lab import course
from hipaa_lab.course.build import _api, _check, _venv_on_path


def _in_kernel_api(course_dir: Path):  # type: ignore[no-untyped-def]
    """nbgrader's API on the same course, with nbgrader's default (in-kernel) autograde steps."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.converters import Autograde

    from hipaa_lab.course.build import _load_config

    config = _load_config(course_dir)
    defaults = Autograde()
    config.Autograde.sanitize_preprocessors = list(defaults.sanitize_preprocessors)
    config.Autograde.autograde_preprocessors = list(defaults.autograde_preprocessors)
    return NbGraderAPI(config=config)


def _time(api, module: str, learners: list[str]) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for who in learners:
        _check(api.autograde(module, who, force=True, create=True), f"autograding {who}")
    return (time.perf_counter() - start) / len(learners)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", default="m01-phi-in-images")
    parser.add_argument("--n", type=int, default=4, help="submissions per contender")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as tmp, _venv_on_path():
        course_dir = course.build(Path(tmp) / "course")
        course.release(course_dir, [args.module])
        released = course.released_notebook(course_dir, args.module)
        source = course.source_notebook(course_dir, args.module)
        learners = [f"learner-{i:02d}" for i in range(args.n)]
        for who in learners:
            nb = course.simulate_submission(released, source, "correct")
            course.submit(course_dir, who, args.module, nb)
        # warm both: the kernel spec, the datasets the notebook and the sandbox load
        _time(_api(course_dir), args.module, learners[:1])
        _time(_in_kernel_api(course_dir), args.module, learners[:1])
        kernel = _time(_in_kernel_api(course_dir), args.module, learners)
        sealed = _time(_api(course_dir), args.module, learners)
        scores = course.scores(course_dir)
    full = (scores.auto_score == scores.max_auto_score).all()
    print(f"module {args.module}, {args.n} submissions (the model solution), load {load:.2f}")
    print(f"in-kernel (nbgrader Execute)  {kernel:7.2f} s per submission")
    print(f"sealed (sandbox + grader)     {sealed:7.2f} s per submission")
    print(f"ratio sealed / in-kernel      {sealed / kernel:7.2f}x   (aim: under 2x)")
    print(f"every submission full marks (sealed, graded last): {bool(full)}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
