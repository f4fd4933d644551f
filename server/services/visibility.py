"""Who may see what: the one place the pull, the events and the routes ask."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, true

from core.enums import Role, SessionState
from core.protocol import RecordKind
from core.session_rules import leads_team
from server.auth import CurrentUser
from server.models import ChangeLog, Session

SESSION_KINDS = frozenset(
    {
        RecordKind.SESSION,
        RecordKind.SESSION_NOTE,
        RecordKind.EVALUATION,
        RecordKind.WALKTHROUGH_RUN,
        RecordKind.SHARE_LINK,
        RecordKind.MESSAGE,
    }
)


def session_visible(session: Session, user: CurrentUser) -> bool:
    """A session is visible to its assignee, to its team's leads, and to the team's
    agents while it waits in the team's queue; admins see every session."""
    if leads_team(user.actor, session.team_id):
        return True
    if session.assignee_id == user.id:
        return True
    return session.state == SessionState.WAITING.value and session.team_id == user.team_id


def change_filter(user: CurrentUser) -> ColumnElement[bool]:
    """Rows of the change log that may concern ``user`` (checked again per entity)."""
    if user.role is Role.ADMIN:
        return true()
    conditions: list[ColumnElement[bool]] = [
        ChangeLog.public.is_(True),
        ChangeLog.user_a == user.id,
        ChangeLog.user_b == user.id,
    ]
    if user.team_id is not None:
        if user.role is Role.LEAD:
            conditions.append(ChangeLog.team_id == user.team_id)
        else:
            conditions.append(and_(ChangeLog.queue.is_(True), ChangeLog.team_id == user.team_id))
            conditions.append(
                and_(ChangeLog.kind == RecordKind.AGENT, ChangeLog.team_id == user.team_id)
            )
    return or_(*conditions)
