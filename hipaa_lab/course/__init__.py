"""The course wing: the nbgrader course, its trusted grading and the sandbox learner code runs in.

- :mod:`~hipaa_lab.course.build`: build the course from ``notebooks/``, release, submit, collect,
  autograde, feedback, scores, and ``make lab``;
- :mod:`~hipaa_lab.course.grading`: the checks grade cells call, with learner-friendly messages;
- :mod:`~hipaa_lab.course.sealed`: the autograde steps that keep learner code out of the grader
  (nbgrader preprocessors);
- :mod:`~hipaa_lab.course.sandbox`: running a learner's notebook apart (bubblewrap, an
  unprivileged user, limits) and talking to it in plain data; :mod:`~hipaa_lab.course.harness`
  is the side of that conversation that runs inside the sandbox;
- :mod:`~hipaa_lab.course.parallel`: autograde in worker processes on one PostgreSQL gradebook
  (``autograde(..., jobs=N)``);
- :mod:`~hipaa_lab.course.offline`: the course's pages load nothing from outside the machine
  (MathJax from the lab itself, no news or update checks);
- :mod:`~hipaa_lab.course.hub`: the course for a class on JupyterHub (an account per employee,
  trainers apart, the formgrader as a service, a PostgreSQL gradebook); ``hipaa-lab hub``.

Callers use ``hipaa_lab.course.build(...)``, ``hipaa_lab.course.autograde(...)``: the names of
:mod:`~hipaa_lab.course.build` are this wing's public API.
"""

from __future__ import annotations

from hipaa_lab.course.build import (
    COURSE_FORMAT,
    COURSE_ID,
    AutogradeOutcome,
    LabServer,
    assignments,
    autograde,
    build,
    collect,
    feedback,
    find_notebooks,
    grade_by_hand,
    gradebook_url,
    lab,
    main,
    release,
    released_notebook,
    scores,
    serve_until_signal,
    simulate_submission,
    solution_lines,
    source_notebook,
    start_lab,
    submit,
)

__all__ = [
    "AutogradeOutcome",
    "COURSE_FORMAT",
    "COURSE_ID",
    "LabServer",
    "assignments",
    "autograde",
    "build",
    "collect",
    "feedback",
    "find_notebooks",
    "grade_by_hand",
    "gradebook_url",
    "lab",
    "main",
    "release",
    "released_notebook",
    "scores",
    "serve_until_signal",
    "simulate_submission",
    "solution_lines",
    "source_notebook",
    "start_lab",
    "submit",
]
