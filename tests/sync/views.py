"""What a user should see, read straight from the server's tables, and what the
client's cache holds, both as ``{(kind, id): wire data}`` — so that a test can say
"client and server agree" with one comparison.

The server's side is built from the tables, not from the change log, so that it also
catches a change the log failed to carry (or a compaction that dropped too much).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import selectinload, sessionmaker

from core.enums import Role
from core.localstore import models as lm
from core.localstore.store import _knowledge
from server import models as m
from server import serialize
from server.auth import CurrentUser
from server.services.pull import EXTRA_LOADERS, resolve
from server.services.visibility import change_filter, session_visible

View = dict[tuple[str, str], dict[str, Any]]

CORE_KINDS = {
    "knowledge_entry",
    "matter_guide",
    "calendar",
    "agent",
    "session",
    "session_note",
    "evaluation",
}


def server_user(db: DbSession, username: str) -> CurrentUser:
    user = db.scalar(select(m.User).where(m.User.username == username))
    assert user is not None, username
    return CurrentUser.of(user)


def server_view(db: DbSession, username: str) -> View:
    """Every record ``username`` may see now, as the pull would send it."""
    user = server_user(db, username)
    view: View = {}
    for k in db.scalars(select(m.KnowledgeEntry)):
        view[("knowledge_entry", k.id)] = serialize.knowledge_entry(k)
    for g in db.scalars(select(m.MatterGuide).where(m.MatterGuide.deleted.is_(False))):
        view[("matter_guide", g.code)] = serialize.matter_guide(g)
    for y in db.scalars(select(m.CalendarYear)):
        view[("calendar", str(y.year))] = serialize.calendar_year(y)
    for u in db.scalars(select(m.User).options(selectinload(m.User.team))):
        if (
            user.role is Role.ADMIN
            or u.id == user.id
            or (user.team_id is not None and u.team_id == user.team_id)
        ):
            view[("agent", str(u.id))] = serialize.agent(u)
    visible = set()
    for s in db.scalars(select(m.Session).options(selectinload(m.Session.events))):
        if session_visible(s, user):
            visible.add(s.id)
            view[("session", s.id)] = serialize.session(s)
    for n in db.scalars(select(m.SessionNote).where(m.SessionNote.session_id.in_(visible))):
        view[("session_note", n.id)] = serialize.session_note(n)
    for e in db.scalars(select(m.Evaluation).where(m.Evaluation.session_id.in_(visible))):
        view[("evaluation", e.id)] = serialize.evaluation(e)
    # Kinds that features register (walkthroughs, runs, share links …): those whose
    # change rows reach the user, as their loaders and the visibility rules give them.
    extra = [
        (kind, entity_id)
        for kind, entity_id in db.execute(
            select(m.ChangeLog.kind, m.ChangeLog.entity_id)
            .where(m.ChangeLog.kind.in_(list(EXTRA_LOADERS)), change_filter(user))
            .distinct()
        )
    ]
    for key, data in resolve(db, user, extra).items():
        view[key] = data
    return view


def client_view(sessions: sessionmaker[DbSession]) -> View:
    """Every record in the client's cache (pending local records included)."""
    view: View = {}
    with sessions() as db:
        for k in db.scalars(select(lm.Knowledge)):
            view[("knowledge_entry", k.id)] = _knowledge(k).to_wire()
        for g in db.scalars(select(lm.Matter)):
            view[("matter_guide", g.code)] = dict(g.data)
        for y in db.scalars(select(lm.CalendarYear)):
            view[("calendar", str(y.year))] = dict(y.data)
        for a in db.scalars(select(lm.Agent)):
            view[("agent", str(a.id))] = dict(a.data)
        for s in db.scalars(select(lm.Session)):
            view[("session", s.id)] = dict(s.data)
        for n in db.scalars(select(lm.SessionNote)):
            view[("session_note", n.id)] = dict(n.data)
        for e in db.scalars(select(lm.Evaluation)):
            view[("evaluation", e.id)] = dict(e.data)
        for r in db.scalars(select(lm.Record)):
            view[(r.kind, r.id)] = dict(r.data)
    return view


def pending_local(sessions: sessionmaker[DbSession]) -> int:
    """Local records still marked as not confirmed by the server."""
    with sessions() as db:
        notes = db.scalars(select(lm.SessionNote.id).where(lm.SessionNote.pending.is_(True)))
        evals = db.scalars(select(lm.Evaluation.id).where(lm.Evaluation.pending.is_(True)))
        return len(list(notes)) + len(list(evals))


def differences(client: View, server: View, limit: int = 8) -> str:
    """A readable account of how two views differ (for assertion messages)."""
    lines = []
    for key in sorted(set(client) | set(server)):
        if key not in client:
            lines.append(f"missing on the client: {key}")
        elif key not in server:
            lines.append(f"only on the client: {key}")
        elif client[key] != server[key]:
            changed = sorted(
                f
                for f in set(client[key]) | set(server[key])
                if client[key].get(f) != server[key].get(f)
            )
            lines.append(f"differs: {key} in {changed}")
        if len(lines) >= limit:
            lines.append("…")
            break
    return "\n".join(lines)


def assert_agree(sessions: sessionmaker[DbSession], db: DbSession, username: str) -> None:
    client, server = client_view(sessions), server_view(db, username)
    assert client == server, differences(client, server)
