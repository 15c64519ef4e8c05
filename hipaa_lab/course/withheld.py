"""What a module holding an answer becomes while a notebook is graded: names that refuse.

Sealed autograding (:mod:`hipaa_lab.course.sandbox`) binds this file, read-only, over each
module that holds an answer of the assignment being graded (:data:`hipaa_lab.course.rules.RULES`
lists them), and over that module's compiled copies in ``__pycache__``. Inside the sandbox the
module's source and bytecode are then not there to read, reload or ``exec``: importing the
module runs this file, under the module's own name.

Importing still succeeds, and so does ``from module import name`` (other modules of the package
import answers by name when they load): every name is a :class:`Withheld` placeholder, and any
use of it (a call, an attribute, a subclass) raises :class:`~hipaa_lab.errors.GradingError` with
one sentence for the learner.
"""

from __future__ import annotations

from typing import Any, NoReturn

from hipaa_lab.errors import GradingError

__all__: list[str] = []

#: Marks the module as withheld: :func:`hipaa_lab.course.rules.own_work` has nothing to replace.
__withheld__ = True


def refusal(module: str) -> str:
    """The sentence a learner reads when their code uses a withheld module.

    >>> print(refusal("hipaa_lab.safeguards._desk"))  # doctest: +NORMALIZE_WHITESPACE
    hipaa_lab.safeguards._desk holds an answer of this assignment and is not available while
    your notebook is graded: work it out yourself
    """
    return (
        f"{module} holds an answer of this assignment and is not available while your "
        "notebook is graded: work it out yourself"
    )


class Withheld:
    """One name of a withheld module: any use of it raises :class:`GradingError`."""

    __slots__ = ("_module", "_name")

    def __init__(self, module: str, name: str) -> None:
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_name", name)

    def __repr__(self) -> str:
        return f"<{self._module}.{self._name}: withheld while your notebook is graded>"

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise GradingError(refusal(self._module))

    __call__ = _refuse

    def __getattr__(self, attr: str) -> Any:
        self._refuse()

    def __mro_entries__(self, bases: tuple[object, ...]) -> NoReturn:
        self._refuse()

    def __iter__(self) -> NoReturn:
        self._refuse()

    def __getitem__(self, key: object) -> NoReturn:
        self._refuse()

    def __bool__(self) -> NoReturn:
        self._refuse()


def __getattr__(name: str) -> Withheld:
    # the import system's own questions are not names of the module; imported as itself (not
    # bound over another module), this module has no names to withhold
    if (name.startswith("__") and name.endswith("__")) or __name__ == "hipaa_lab.course.withheld":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return Withheld(__name__, name)
