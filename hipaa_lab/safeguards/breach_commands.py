"""``hipaa-lab breach plan``: who must be told of a breach of unsecured PHI, and by when.

::

    hipaa-lab breach plan --discovered YYYY-MM-DD --affected STATE=N [STATE=N ...]
                          [--encrypted] [--key-compromised] [--business-associate]
                          [--law-enforcement-delay-until YYYY-MM-DD] [--as-of YYYY-MM-DD]
                          [--format json|text]

Prints the plan of :func:`hipaa_lab.safeguards.breach.plan`: as text for a compliance officer
(default), or as JSON. Exit status: 0 a plan was made (whether or not notification is required),
2 a usage error (a bad date, count or State code; facts that contradict each other).
"""

from __future__ import annotations

import argparse
import datetime as dt

from hipaa_lab.errors import BreachInputError, UsageError

__all__ = ["add_parser", "main"]


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; expected YYYY-MM-DD") from None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``breach`` subcommand and its ``plan`` action."""
    p = sub.add_parser(
        "breach", help="breach notification (45 CFR 164.400-414): who to notify, by when"
    )
    bsub = p.add_subparsers(dest="action", required=True)
    a = bsub.add_parser(
        "plan", help="decide whether notification is required; list each notice and its deadline"
    )
    a.add_argument(
        "--discovered",
        type=_day,
        required=True,
        metavar="YYYY-MM-DD",
        help="the day the breach was known, or with reasonable diligence would have been known",
    )
    a.add_argument(
        "--affected",
        nargs="+",
        required=True,
        metavar="STATE=N",
        help="affected individuals by State or jurisdiction of residence (USPS code), e.g. NY=600",
    )
    a.add_argument(
        "--encrypted", action="store_true", help="the PHI was encrypted per HHS guidance"
    )
    a.add_argument(
        "--key-compromised", action="store_true", help="the decryption key was compromised too"
    )
    a.add_argument(
        "--business-associate",
        action="store_true",
        help="plan as the business associate (it notifies the covered entity)",
    )
    a.add_argument(
        "--law-enforcement-delay-until",
        type=_day,
        default=None,
        metavar="YYYY-MM-DD",
        help="a law-enforcement official's written statement asks to delay notice until this day",
    )
    a.add_argument(
        "--as-of", type=_day, default=None, metavar="YYYY-MM-DD", help="today (default: today)"
    )
    a.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=main)


def _affected(items: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        state, sep, n = item.partition("=")
        state = state.strip().upper()
        if not sep or not state or not n.strip().lstrip("-").isdigit():
            raise UsageError(f"--affected {item!r}: expected STATE=N, e.g. NY=600")
        if state in counts:
            raise UsageError(f"--affected: {state} is given twice; give each State once")
        counts[state] = int(n)
    return counts


def main(args: argparse.Namespace) -> int:
    from hipaa_lab.safeguards.breach import BreachFacts, plan

    try:
        facts = BreachFacts(
            discovered=args.discovered,
            affected=_affected(args.affected),
            encrypted=args.encrypted,
            key_compromised=args.key_compromised,
            business_associate=args.business_associate,
            law_enforcement_delay_until=args.law_enforcement_delay_until,
        )
        result = plan(facts, as_of=args.as_of)
    except BreachInputError as exc:
        raise UsageError(str(exc)) from None
    print(result.dumps() if args.format == "json" else result.to_text())
    return 0
