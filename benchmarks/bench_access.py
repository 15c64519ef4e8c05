"""Access decisions per second: the simulated PACS's policy against PyCasbin's own enforcers.

    python benchmarks/bench_access.py [--n N] [--seed S] [--facade N] [--cpu C]

``--n`` requests (default 100,000), each a role, action, purpose and set of facts drawn from
``--seed``, are decided against the shipped policy as a learner would
write it (``hipaa_lab/data/access/policy.csv`` with its comments, under ``model.conf``), on one
core (the process is pinned to ``--cpu`` where the system allows it). Each contender decides the
same requests in the same run, and every contender's answers are checked against the plain
enforcer's (a contender that disagrees is marked ``!! k wrong``):

* ``plain casbin Enforcer``: ``casbin.Enforcer(model, policy)``, the baseline: walks every rule;
* ``casbin Enforcer, auto_build_role_links off``: the same with role links off (the model has no
  roles, so this should change nothing);
* ``casbin SyncedEnforcer``: the thread-safe wrapper (a lock around each decision);
* ``casbin FastEnforcer [0,1,2]``: rules indexed by role, action and purpose (exact keys only:
  a rule with a wildcard or pattern in those fields would be missed);
* ``hipaa-lab AccessPolicy.decide``: casbin's decision kept in a table by request, from a fresh
  policy, misses included (what :class:`~hipaa_lab.safeguards.policy.AccessPolicy` does);
* ``hipaa-lab Pacs.read`` (``--facade`` requests, 0 to skip): the whole facade, end to end:
  session and idle check, the facts, the decision, one audit event to an in-memory sink, the
  decision row, and the copies of the study's instance for an allowed read.

Aim (issue 10): at least 20,000 decisions a second on one core.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

Request = tuple[str, str, str, frozenset[str]]


def requests(n: int, seed: int) -> list[Request]:
    from hipaa_lab.safeguards.policy import Condition, Operation, Purpose, Role

    rng = random.Random(seed)
    conditions = [c.value for c in Condition]
    facts = [frozenset(c) for k in range(4) for c in itertools.combinations(conditions, k)]
    roles, ops, purposes = (
        [r.value for r in Role],
        [o.value for o in Operation],
        [p.value for p in Purpose],
    )
    return [
        (rng.choice(roles), rng.choice(ops), rng.choice(purposes), rng.choice(facts))
        for _ in range(n)
    ]


def run(name: str, decide: Callable[..., Any], reqs: Sequence[Request], truth: list[bool] | None) -> tuple[float, list[bool]]:  # fmt: skip
    start = time.perf_counter()
    answers = [bool(decide(*r)) for r in reqs]
    seconds = time.perf_counter() - start
    wrong = 0 if truth is None else sum(a != t for a, t in zip(answers, truth, strict=True))
    mark = f"   !! {wrong} wrong" if wrong else ""
    print(
        f"{name:45s} {len(reqs) / seconds:12,.0f} decisions/s  ({seconds:6.2f} s){mark}", flush=True
    )
    return len(reqs) / seconds, answers


def facade(n: int, seed: int) -> float:
    """Pacs.read through the whole facade: n reads by users of every role, a mix of allowed and
    refused, with an in-memory audit sink."""
    import datetime as dt

    from hipaa_lab.errors import AccessDenied
    from hipaa_lab.safeguards import access

    class Sink:
        def __init__(self) -> None:
            self.events: list[Any] = []

        def record(self, event: Any) -> None:
            self.events.append(event)

    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    sink = Sink()
    pacs = access.Pacs.synthetic(sink, seed=seed, patients=8, clock=lambda: now)
    sessions = [pacs.login(u.user_id) for u in access.STAFF if u.pacs_role is not None]
    purposes = ["treatment", "payment", "operations", "research"]
    uids = [s.study_uid for s in pacs.studies]
    rng = random.Random(seed)
    plan = [(rng.choice(sessions), rng.choice(uids), rng.choice(purposes)) for _ in range(n)]
    before = len(sink.events)
    allowed = 0
    start = time.perf_counter()
    for session, uid, purpose in plan:
        try:
            pacs.read(session, uid, purpose)
            allowed += 1
        except AccessDenied:
            pass
    seconds = time.perf_counter() - start
    assert len(sink.events) - before == n, "one audit event per request"
    print(
        f"{'hipaa-lab Pacs.read (whole facade)':45s} {n / seconds:12,.0f} requests/s   "
        f"({seconds:6.2f} s; {allowed} allowed, {n - allowed} refused, {n} audit events)",
        flush=True,
    )
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="requests (default 100,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--facade", type=int, default=20_000, help="Pacs.read requests (0: skip)")
    parser.add_argument("--cpu", type=int, default=0, help="the core to pin to (default 0)")
    args = parser.parse_args()

    import casbin

    from hipaa_lab.safeguards.policy import (
        AccessPolicy,
        default_model_path,
        default_policy_path,
        holds,
    )

    pinned = "not pinned"
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {args.cpu})
            pinned = f"pinned to CPU {args.cpu}"
        except OSError as exc:
            pinned = f"not pinned ({exc})"
    load = os.getloadavg()
    print(
        f"{args.n:,} requests, seed {args.seed}; {os.cpu_count()} CPUs, {pinned}; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start"
    )
    model, policy = str(default_model_path()), str(default_policy_path())
    rules = len(AccessPolicy.from_files().rules)
    print(f"policy: {rules} rules ({policy})\n")
    reqs = requests(args.n, args.seed)

    def enforcer(cls: Any, **kwargs: Any) -> Any:
        e = cls(model, policy, **kwargs)
        e.add_function("holds", holds)
        return e

    plain_rate, truth = run("plain casbin Enforcer (baseline)", enforcer(casbin.Enforcer).enforce, reqs, None)  # fmt: skip
    no_links = enforcer(casbin.Enforcer)
    no_links.enable_auto_build_role_links(False)
    rates = {}
    rates["links off"], _ = run("casbin Enforcer, auto_build_role_links off", no_links.enforce, reqs, truth)  # fmt: skip
    rates["synced"], _ = run("casbin SyncedEnforcer", enforcer(casbin.SyncedEnforcer).enforce, reqs, truth)  # fmt: skip
    fast = enforcer(casbin.FastEnforcer, cache_key_order=[0, 1, 2])
    rates["fast"], _ = run("casbin FastEnforcer [0,1,2]", fast.enforce, reqs, truth)
    ours = AccessPolicy.from_files()
    rates["ours"], _ = run("hipaa-lab AccessPolicy.decide (table)", lambda *r: ours.decide(*r).allowed, reqs, truth)  # fmt: skip
    facade_rate = facade(args.facade, args.seed) if args.facade else None

    print()
    names = {
        "links off": "Enforcer, role links off",
        "synced": "SyncedEnforcer",
        "fast": "FastEnforcer",
        "ours": "hipaa-lab AccessPolicy",
    }
    for key, label in names.items():
        print(f"ratio {label} / plain casbin Enforcer  {rates[key] / plain_rate:10.2f}x")
    if facade_rate is not None:
        print(
            f"ratio hipaa-lab Pacs.read / plain casbin Enforcer  {facade_rate / plain_rate:10.2f}x"
        )
    print(f"aim: >= 20,000 decisions/s on one core: AccessPolicy {rates['ours']:,.0f}")
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at end")


if __name__ == "__main__":
    main()
