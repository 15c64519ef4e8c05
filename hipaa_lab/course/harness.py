"""The inside of the sandbox: run a learner's notebook, then answer the grader in plain data.

:mod:`hipaa_lab.course.sandbox` starts this as ``python -m hipaa_lab.course.harness IO REPLY_FD``
inside bubblewrap, as an unprivileged user. It reads ``IO/cells.json`` (the notebook's code cells,
grade cells left out), runs them in one IPython shell as a kernel would, answers
``{"ready": true, "outputs": [...]}`` with what each cell printed and showed (``IO`` is read-only
but for ``IO/out``), and then answers requests, one JSON line each on standard input, with one JSON
line each on the file descriptor ``REPLY_FD``:

``{"op": "values", "names": [...]}``
    what each name holds: ``{"value": ...}`` for plain data (exact ``str``, ``int``, ``float``,
    ``bool``, ``None``, lists and ``str``-keyed dicts of those), ``{"function": true}``,
    ``{"missing": true}`` or ``{"not_plain": "TypeName"}``;
``{"op": "map", "name": F, "kind": "paths" | "dataset", "inputs": [...]}``
    call ``F`` once on each DICOM file ``IO/in/NAME`` (read with pydicom), in the order given:
    ``"paths"`` answers the tag paths it returned, ``"dataset"`` saves the data set it changed in
    place to ``IO/out/NAME`` and answers whether it was kept (``False`` quarantines);
``{"op": "call", "name": F, "args": [...]}``
    call ``F`` with plain arguments (under the exercise's rule for ``F``, if it has one:
    :func:`~hipaa_lab.course.rules.own_work`): ``{"value": ...}`` if it returned plain data, else
    ``{"error": ...}`` or ``{"not_plain": ...}`` (a trainer's own ``assert double(2) == 4``);
``{"op": "exit"}``.

Everything here runs beside the learner's code, which can change any of it: the grader trusts
none of these answers beyond their being data, and checks each one again.

The rule (:func:`~hipaa_lab.course.rules.own_work`) is only a reminder here, as in a learner's
kernel: what seals a grade is that the package's answers to the graded assignment are not in
this process at all. The sandbox binds :mod:`hipaa_lab.course.withheld` over their modules'
source and bytecode (:attr:`hipaa_lab.course.rules.Refusal.withheld`), so a reload, a helper
captured before the call, a switch turned off or a module's file read and ``exec``'d finds
only names that raise :class:`~hipaa_lab.errors.GradingError`.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

#: At most this many characters of a cell's printed text are kept for the trainer.
TEXT_LIMIT = 20_000
#: At most this many images per cell.
IMAGE_LIMIT = 4
#: At most this many characters of images in all: the outputs go to the grader in one reply,
#: which it refuses past ``sandbox.REPLY_LIMIT`` (16 MiB), and a notebook of many figures is honest.
IMAGE_BUDGET = 8 * 2**20


class NotPlain(TypeError):
    """A value that is not plain data."""


def plain(value: object, depth: int = 0) -> Any:
    """``value`` as JSON-ready plain data, only if every part of it is exactly a plain type.

    Subclasses are refused on purpose: a ``str`` subclass can claim to equal anything.
    """
    kind = type(value)
    if depth > 20:
        raise NotPlain("nested too deep")
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise NotPlain("float that is not finite")
        return value
    if kind in (list, tuple, set, frozenset):
        items = [plain(v, depth + 1) for v in value]  # type: ignore[attr-defined]
        return sorted(items, key=repr) if kind in (set, frozenset) else items
    if kind is dict:
        out = {}
        for k, v in value.items():  # type: ignore[attr-defined]
            if type(k) is not str:
                raise NotPlain(f"dict key of type {type(k).__name__}")
            out[k] = plain(v, depth + 1)
        return out
    raise NotPlain(kind.__name__)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:400]


def _paths(result: object) -> list[str]:
    """The tag paths a ``find_phi`` returned: strings, or ``(path, element)`` pairs."""
    if isinstance(result, (str, bytes)) or not isinstance(result, Iterable):
        raise NotPlain(f"returned {type(result).__name__}, not a list of tag paths")
    paths = []
    for item in result:
        if isinstance(item, tuple) and item and type(item[0]) is str:
            item = item[0]  # (path, element) pairs, as hl.iter_elements yields them
        if type(item) is not str:
            raise NotPlain(f"returned an item of type {type(item).__name__}, not a tag path")
        paths.append(item)
    return paths


def _one_line(
    shell: Any, etype: type[BaseException], value: BaseException, tb: Any, tb_offset: Any = None
) -> list[str]:
    """IPython's traceback of a :class:`~hipaa_lab.errors.GradingError`: its one sentence."""
    return [f"{etype.__name__}: {value}"]


class Harness:
    """One learner notebook, run once, then asked questions."""

    def __init__(self, io_dir: Path) -> None:
        from IPython.core.interactiveshell import InteractiveShell

        self.io_dir = io_dir
        self.shell = InteractiveShell.instance()
        self.shell.colors = "NoColor"
        # figures show as images in the trainer's copy, as they would in JupyterLab; without
        # matplotlib, the cells that plot fail on their own
        with contextlib.suppress(Exception):
            self.shell.enable_matplotlib("inline")
        from hipaa_lab.errors import GradingError

        # a sentence for the learner (a withheld answer their code calls, a check's message),
        # not a traceback through the package, in the graded copy's outputs (a trainer's cell
        # refused a withheld answer shows a note instead: sealed.WITHHELD_NOTE)
        self.shell.set_custom_exc((GradingError,), _one_line)

    # -------------------------------------------------------------- the notebook

    def run_cells(self, cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from IPython.utils.capture import capture_output

        outcomes = []
        budget = IMAGE_BUDGET
        for cell in cells:
            with capture_output() as captured:
                result = self.shell.run_cell(cell["source"], store_history=True, silent=False)
            error = result.error_in_exec or result.error_before_exec
            images = []
            for shown in captured.outputs[:IMAGE_LIMIT]:
                png = shown.data.get("image/png")
                if isinstance(png, str) and len(png) <= budget:
                    images.append(png)
                    budget -= len(png)
            text = "".join(
                [captured.stdout]
                + [
                    str(shown.data.get("text/plain", ""))
                    for shown in captured.outputs
                    if "image/png" not in shown.data
                ]
            )
            outcomes.append(
                {
                    "index": cell["index"],
                    "stdout": text[-TEXT_LIMIT:],
                    "stderr": captured.stderr[-TEXT_LIMIT:],
                    "error": _error_text(error) if error is not None else None,
                    "images": images,
                }
            )
        return outcomes

    # -------------------------------------------------------------- the questions

    def values(self, names: list[str]) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        for name in names:
            if name not in self.shell.user_ns:
                answers[name] = {"missing": True}
                continue
            value = self.shell.user_ns[name]
            if callable(value) and not isinstance(value, type):
                answers[name] = {"function": True}
                continue
            try:
                answers[name] = {"value": plain(value)}
            except NotPlain as exc:
                answers[name] = {"not_plain": str(exc)}
        return answers

    def map(self, name: str, kind: str, inputs: list[str]) -> list[dict[str, Any]]:
        import pydicom

        function = self.shell.user_ns.get(name)
        if not callable(function):
            return [{"error": f"NameError: {name} is not defined"} for _ in inputs]
        out_dir = self.io_dir / "out"
        out_dir.mkdir(exist_ok=True)
        answers = []
        for item in inputs:
            base = Path(item).name
            try:
                ds = pydicom.dcmread(self.io_dir / "in" / base)
                answers.append(self._call(function, kind, ds, out_dir / base))
            except NotImplementedError:
                answers.append({"error": "NotImplementedError", "not_written": True})
            except Exception as exc:
                answers.append({"error": _error_text(exc)})
        return answers

    def call(self, name: str, args: list[Any]) -> dict[str, Any]:
        function = self.shell.user_ns.get(name)
        if not callable(function):
            return {"error": f"NameError: {name} is not defined"}
        from hipaa_lab.course.rules import own_work

        try:
            with own_work(name):  # as in a learner's kernel
                returned = function(*args)
        except NotImplementedError:
            return {"error": "NotImplementedError", "not_written": True}
        except Exception as exc:  # the learner's code may raise anything
            return {"error": _error_text(exc)}
        try:
            return {"value": plain(returned)}
        except NotPlain as exc:
            return {"not_plain": str(exc)}

    @staticmethod
    def _call(function: Callable[..., Any], kind: str, ds: Any, out: Path) -> dict[str, Any]:
        if kind == "paths":  # module 1's rule, as in a learner's kernel: find PHI yourself
            from hipaa_lab.course.rules import own_work

            with own_work("find_phi"):
                returned = function(ds)
        else:
            returned = function(ds)
        if kind == "paths":
            try:
                return {"paths": _paths(returned)}
            except NotPlain as exc:
                return {"error": f"find_phi {exc}"}
        if returned is False:
            return {"kept": False}
        ds.save_as(out, enforce_file_format=False)
        return {"kept": True, "returned": type(returned).__name__}


def _serve(harness: Harness, reply: io.TextIOBase) -> None:
    for line in sys.stdin:
        request = json.loads(line)
        op = request.get("op")
        if op == "exit":
            return
        if op == "values":
            answer: Any = harness.values(list(request["names"]))
        elif op == "call":
            answer = harness.call(request["name"], list(request["args"]))
        elif op == "map":
            answer = harness.map(request["name"], request["kind"], list(request["inputs"]))
        else:
            answer = {"error": f"unknown request {op!r}"}
        reply.write(json.dumps({"answer": answer}) + "\n")
        reply.flush()


def main(argv: list[str]) -> int:
    io_dir, reply_fd = Path(argv[1]), int(argv[2])
    reply = os.fdopen(reply_fd, "w", encoding="utf-8")
    os.chdir(os.environ.get("HOME", "/tmp"))
    random.seed(0)  # a learner's function that draws random numbers answers the same every time
    try:
        import numpy

        numpy.random.seed(0)
    except ImportError:
        pass
    harness = Harness(io_dir)
    cells = json.loads((io_dir / "cells.json").read_text(encoding="utf-8"))
    try:
        outcomes = harness.run_cells(cells)
    except BaseException:
        reply.write(json.dumps({"broken": traceback.format_exc(limit=2)[-2000:]}) + "\n")
        reply.flush()
        return 1
    reply.write(json.dumps({"ready": True, "outputs": outcomes}) + "\n")
    reply.flush()
    _serve(harness, reply)
    # asked to exit: at once, without the interpreter's shutdown (IPython's history and atexit
    # handlers, every module's objects), a second or more that nothing needs: the sandbox's
    # /tmp and namespaces go with it
    reply.close()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
