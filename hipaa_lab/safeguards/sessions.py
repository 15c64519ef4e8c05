"""Who may use the simulated PACS, and their sessions: users, logins, emergency access, logoff.

The PACS (:mod:`~hipaa_lab.safeguards.access`) keeps its users and sessions in one
:class:`Sessions` registry, which audits every change through the PACS's audit function:

* **Unique user IDs** (45 CFR 164.312(a)(2)(i)): every user has one; two users with the same ID
  are refused. A login and a logout are User Authentication events, a refused login too.
* **Emergency access** (break-glass, 164.312(a)(2)(ii) asks for a procedure to obtain necessary
  ePHI in an emergency): :meth:`Sessions.start_break_glass` needs a reason and lasts at most the
  PACS's ``break_glass_limit`` (60 minutes by default; the reason and the limit are this
  hospital's procedure, not the law's words); its start and its end (stopped, expired, logged out)
  are Security Alerts.
* **Automatic logoff** (164.312(a)(2)(iii), an addressable specification that names no time): a
  session idle for ``idle_timeout`` (15 minutes by default, the hospital's choice) ends; the
  logoff is audited when it is noticed (at the session's next request, or
  :meth:`Sessions.sweep`), stamped with the time it took effect.
* **Termination** (164.308(a)(3)(ii)(C) asks for procedures to end access when employment ends;
  "at once" is the hospital's): :meth:`Sessions.terminate`, or a roster row whose status is
  ``terminated`` (:meth:`Sessions.sync_roster`), ends the user's open sessions at once and refuses
  every later login.

Time comes from an injectable ``clock`` (a function returning an aware UTC datetime), so a test
moves time on without sleeping.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hipaa_lab.errors import AccessDenied
from hipaa_lab.safeguards.audit import Action, EventID, EventType, Outcome
from hipaa_lab.safeguards.policy import Role

if TYPE_CHECKING:
    from hipaa_lab.records.roster import Employee

__all__ = [
    "BreakGlass",
    "STAFF",
    "Session",
    "SessionState",
    "Sessions",
    "User",
    "department_modalities",
    "utc_now",
]

Clock = Callable[[], dt.datetime]

#: The outcome of a refused request or login: the PACS works, the request is not carried out.
REFUSED = Outcome.MINOR_FAILURE


class Audit(Protocol):
    """How the registry audits: the PACS's audit function."""

    def __call__(
        self,
        event: EventID,
        action: Action,
        outcome: Outcome,
        user_id: str,
        *,
        time: dt.datetime | None = None,
        **fields: Any,
    ) -> None: ...


def utc_now() -> dt.datetime:
    """The current time, aware, in UTC (the PACS's default clock)."""
    return dt.datetime.now(dt.UTC)


#: Words of a department's name that say which modalities it reads or acquires.
_DEPARTMENT_WORDS = {
    "CT": {"CT"},
    "MR": {"MR"},
    "MRI": {"MR"},
    "CR": {"CR"},
    "DX": {"DX"},
    "XRAY": {"CR", "DX"},
    "RADIOGRAPHY": {"CR", "DX"},
    "US": {"US"},
    "ULTRASOUND": {"US"},
    "SONOGRAPHY": {"US"},
    "MG": {"MG"},
    "MAMMOGRAPHY": {"MG"},
    "BREAST": {"MG"},
}


def department_modalities(department: str) -> frozenset[str]:
    """The modalities whose studies are on a department's worklist, read from its name.

    The hospital's convention for this course: a department named after a modality (``"CT"``,
    ``"MRI"``, ``"Breast Imaging"``...) has that modality's studies on its worklist; any other
    department (``"Internal Medicine"``, ``"Radiology"``) has none, so "Radiology" alone gives no
    one every study.

    >>> sorted(department_modalities("CT & MRI"))
    ['CT', 'MR']
    >>> department_modalities("Radiology")
    frozenset()
    """
    words = re.findall(r"[A-Z]+", department.upper().replace("X-RAY", "XRAY"))
    found: set[str] = set()
    for word in words:
        found |= _DEPARTMENT_WORDS.get(word, set())
    return frozenset(found)


@dataclass(frozen=True)
class User:
    """A member of the workforce the PACS knows: a unique user ID, a name, a role, a department.

    ``role`` is the roster's role as written; :attr:`pacs_role` is the PACS role it maps to, or
    ``None`` (a ``manager`` has none: the PACS refuses every request of such a user).
    """

    user_id: str
    name: str
    role: str
    department: str
    active: bool = True

    @property
    def pacs_role(self) -> Role | None:
        try:
            return Role(self.role)
        except ValueError:
            return None

    @classmethod
    def from_employee(cls, employee: Employee) -> User:
        """The user of a roster row (:class:`hipaa_lab.records.Employee`)."""
        return cls(
            employee.employee_id,
            employee.name,
            employee.role.value,
            employee.department,
            employee.status.value == "active",
        )


#: The built-in synthetic staff, used when no roster is given (no real person).
STAFF: tuple[User, ...] = (
    User("U101", "Dana Okafor", "radiologist", "CT"),
    User("U102", "Lee Marsh", "radiologist", "MRI"),
    User("U201", "Rui Santos", "technologist", "CT"),
    User("U202", "Ines Varga", "technologist", "Radiography"),
    User("U301", "Ada Brandt", "referring_physician", "Internal Medicine"),
    User("U401", "Kim Novak", "front_desk", "Registration"),
    User("U501", "Sam Ortiz", "billing", "Billing Office"),
    User("U601", "Jo Lindqvist", "pacs_admin", "Imaging IT"),
    User("U701", "Pat Reyes", "researcher", "Imaging Research"),
    User("U801", "Max Weller", "manager", "Radiology Administration"),
)


@dataclass(frozen=True)
class Session:
    """A login: the handle every request presents. It ends on logout, idle time or termination."""

    session_id: str
    user_id: str


@dataclass(frozen=True)
class BreakGlass:
    """An emergency access: why, when it began and when it ends at the latest."""

    reason: str
    started: dt.datetime
    expires: dt.datetime


@dataclass
class SessionState:
    """A live session: whose, when last active, and its emergency access if one is on."""

    user_id: str
    last_seen: dt.datetime
    break_glass: BreakGlass | None = None


class Sessions:
    """The PACS's users and their sessions.

    Parameters
    ----------
    users
        The users (their IDs must be unique).
    audit
        Records one audit event (the PACS's :meth:`~hipaa_lab.safeguards.access.Pacs._audit`).
    clock, idle_timeout, break_glass_limit
        As :class:`~hipaa_lab.safeguards.access.Pacs` takes them.

    Raises
    ------
    ValueError
        For two users with the same ID, or limits that are not positive.
    """

    def __init__(
        self,
        users: Iterable[User],
        audit: Audit,
        clock: Clock,
        idle_timeout: dt.timedelta,
        break_glass_limit: dt.timedelta,
    ) -> None:
        if idle_timeout <= dt.timedelta(0) or break_glass_limit <= dt.timedelta(0):
            raise ValueError("idle_timeout and break_glass_limit must be positive")
        self.users: dict[str, User] = {}
        for user in users:
            if user.user_id in self.users:
                raise ValueError(f"two users have the ID {user.user_id!r}: IDs must be unique")
            self.users[user.user_id] = user
        self._audit = audit
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.break_glass_limit = break_glass_limit
        self._live_sessions: dict[str, SessionState] = {}
        self._ended: dict[str, tuple[str, str]] = {}  # session id -> (user, why it ended)

    def user(self, user_id: str) -> User:
        """The user with this ID.

        Raises
        ------
        ValueError
            For an ID no user has.
        """
        try:
            return self.users[user_id]
        except KeyError:
            raise ValueError(f"no user {user_id!r} in this PACS") from None

    def login(self, user_id: str) -> Session:
        """Log a user in; audited (User Authentication, Login), a refusal too.

        Raises
        ------
        AccessDenied
            For an ID the PACS does not know, a terminated user, or a role with no PACS access.
        """
        user = self.users.get(user_id)
        why = None
        if user is None:
            why = f"no user {user_id!r} on the roster of this PACS"
        elif not user.active:
            why = f"{user_id}'s access was revoked (terminated)"
        elif user.pacs_role is None:
            roles = ", ".join(r.value for r in Role)
            why = f"{user_id}'s role {user.role!r} has no PACS access (PACS roles: {roles})"
        if why is not None:
            if user_id:
                self._audit(
                    EventID.USER_AUTHENTICATION,
                    Action.EXECUTE,
                    REFUSED,
                    user_id,
                    event_type=EventType.LOGIN,
                    reason=why,
                )
            raise AccessDenied(f"login refused: {why}")
        now = self.clock()
        session = Session(secrets.token_hex(8), user_id)
        self._live_sessions[session.session_id] = SessionState(user_id, now)
        self._audit(
            EventID.USER_AUTHENTICATION,
            Action.EXECUTE,
            Outcome.SUCCESS,
            user_id,
            time=now,
            event_type=EventType.LOGIN,
        )
        return session

    def logout(self, session: Session) -> None:
        """End a session (audited: Logout; an emergency access on it stops too)."""
        state = self.live(session)
        if state is not None:
            self._end(session.session_id, self.clock(), "logged out")

    def _end(self, session_id: str, at: dt.datetime, why: str) -> None:
        state = self._live_sessions.pop(session_id)
        if state.break_glass is not None:
            self._stop_break_glass(
                state, min(at, state.break_glass.expires), f"session ended: {why}"
            )
        self._ended[session_id] = (state.user_id, why)
        self._audit(
            EventID.USER_AUTHENTICATION,
            Action.EXECUTE,
            Outcome.SUCCESS,
            state.user_id,
            time=at,
            event_type=EventType.LOGOUT,
            reason=why,
        )

    def live(self, session: Session) -> SessionState | None:
        """The session's state after ending what has expired (audited), or None if it has ended."""
        state = self._live_sessions.get(session.session_id)
        if state is None or state.user_id != session.user_id:
            return None
        now = self.clock()
        idle_end = state.last_seen + self.idle_timeout
        bg = state.break_glass
        if bg is not None and bg.expires <= min(now, idle_end):
            minutes = int((bg.expires - bg.started).total_seconds() // 60)
            self._stop_break_glass(state, bg.expires, f"expired after {minutes} min")
        if now >= idle_end:
            minutes = int(self.idle_timeout.total_seconds() // 60)
            self._end(session.session_id, idle_end, f"automatic logoff after {minutes} min idle")
            return None
        return state

    def sweep(self) -> None:
        """Notice every idle session and expired emergency access now (each audited)."""
        for session_id, state in list(self._live_sessions.items()):
            self.live(Session(session_id, state.user_id))

    def ended(self, session: Session) -> str:
        user, why = self._ended.get(session.session_id, (session.user_id, "unknown session"))
        return f"{user}'s session has ended ({why}): log in again"

    def terminate(self, user_id: str, reason: str = "employment terminated") -> None:
        """Revoke a user's access at once: open sessions end now, no new login is allowed."""
        user = self.user(user_id)
        self.users[user_id] = User(user.user_id, user.name, user.role, user.department, False)
        now = self.clock()
        for session_id, state in list(self._live_sessions.items()):
            if state.user_id == user_id:
                self._end(session_id, now, f"access revoked: {reason}")

    def sync_roster(self, roster: Iterable[Employee]) -> list[User]:
        """Take the roster's changes: terminated users are revoked at once, others added or
        updated (a terminated user stays terminated); returns the users added or updated."""
        changed = []
        for employee in roster:
            user = User.from_employee(employee)
            known = self.users.get(user.user_id)
            if known is not None and known.active and not user.active:
                self.terminate(user.user_id)
            elif known is None or known.active:
                self.users[user.user_id] = user
                changed.append(user)
        return changed

    # ------------------------------------------------------------------ break-glass

    def start_break_glass(
        self, session: Session, reason: str, *, limit: dt.timedelta | None = None
    ) -> BreakGlass:
        """Start emergency access; a Security Alert (Emergency Override Started) is raised.

        Parameters
        ----------
        reason
            Why (required: a break-glass without a reason is refused, and that is alerted too).
        limit
            How long it may last, at most the PACS's ``break_glass_limit``.

        Raises
        ------
        AccessDenied
            For an ended session or an empty reason.
        """
        state = self.live(session)
        limit = min(limit or self.break_glass_limit, self.break_glass_limit)
        why = None
        if state is None:
            why = self.ended(session)
        elif not reason.strip():
            why = "break-glass needs a reason (who is the emergency, and why the usual access will not do)"
        elif state.break_glass is not None:
            why = "break-glass is already on for this session"
        elif limit <= dt.timedelta(0):
            why = "break-glass needs a positive time limit"
        now = self.clock()
        if why is not None or state is None:
            self._audit(
                EventID.SECURITY_ALERT,
                Action.EXECUTE,
                REFUSED,
                session.user_id,
                time=now,
                event_type=EventType.EMERGENCY_OVERRIDE_STARTED,
                reason=f"refused: {why}",
            )
            raise AccessDenied(f"break-glass refused: {why}")
        state.last_seen = now
        state.break_glass = BreakGlass(reason.strip(), now, now + limit)
        self._audit(
            EventID.SECURITY_ALERT,
            Action.EXECUTE,
            Outcome.SUCCESS,
            session.user_id,
            time=now,
            event_type=EventType.EMERGENCY_OVERRIDE_STARTED,
            reason=state.break_glass.reason,
        )
        return state.break_glass

    def stop_break_glass(self, session: Session) -> None:
        """End emergency access (a Security Alert: Emergency Override Stopped)."""
        state = self.live(session)
        if state is not None and state.break_glass is not None:
            self._stop_break_glass(state, self.clock(), "stopped by the user")

    def _stop_break_glass(self, state: SessionState, at: dt.datetime, why: str) -> None:
        bg = state.break_glass
        assert bg is not None
        state.break_glass = None
        self._audit(
            EventID.SECURITY_ALERT,
            Action.EXECUTE,
            Outcome.SUCCESS,
            state.user_id,
            time=at,
            event_type=EventType.EMERGENCY_OVERRIDE_STOPPED,
            reason=f"{bg.reason} ({why})",
        )
