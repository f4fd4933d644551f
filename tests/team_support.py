"""Arranging a server for the team lead's tests (tests/server/test_team_routes.py and
tests/ui/test_team_board.py)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import delete, select

from server import models as m
from server.auth import hash_password
from server.services.sessions import add_event
from tests.figures_data import RECTIFICATIONS, SESSIONS
from tests.support import DEMO_PASSWORD, LiveServer


def user_id(server: LiveServer, username: str) -> int:
    with server.db() as db:
        return int(db.scalar(select(m.User.id).where(m.User.username == username)))


def add_lead(server: LiveServer, username: str, name: str, team: str = "team-zx") -> None:
    with server.db() as db:
        db.add(
            m.User(
                username=username,
                display_name=name,
                password_hash=hash_password(DEMO_PASSWORD),
                role="lead",
                team_id=team,
                staff_number="JN-0199",
            )
        )
        db.commit()


def arrange_figures(server: LiveServer) -> dict[int, int]:
    """Load tests/figures_data.py into team-zx; returns agent number → user id."""
    ids = {
        1: user_id(server, "agent"),
        2: user_id(server, "wangfang"),
        3: user_id(server, "liuyang"),
    }
    with server.db() as db:
        db.execute(delete(m.Rectification))
        for s in SESSIONS:
            agent = ids[s["agent"]] if s.get("agent") else None

            def dt(value: str | None) -> datetime | None:
                return datetime.fromisoformat(value) if value else None

            row = m.Session(
                id=f"fig-{s['ref']}",
                team_id="team-zx",
                assignee_id=agent,
                state=s["state"],
                service_type=s["service_type"],
                channel=s["channel"],
                created_at=dt(s["created_at"]),
                accepted_at=dt(s.get("accepted_at")),
                closed_at=dt(s.get("closed_at")),
                outcome=s.get("outcome"),
                escalation=s.get("escalation"),
                callback_due_at=dt(s.get("callback_due_at")),
                summary=f"测试会话{s['ref']}",
            )
            db.add(row)
            db.flush()
            for kind in s["kinds"]:
                add_event(db, row, kind, at=row.created_at)
            if s.get("score"):
                db.add(
                    m.Evaluation(
                        id=f"eval-{s['ref']}",
                        session_id=row.id,
                        score=s["score"],
                        created_at=row.closed_at or row.created_at,
                    )
                )
        for r in RECTIFICATIONS:
            db.add(
                m.Rectification(
                    id=r["id"],
                    session_id=f"fig-{r['ref']}",
                    evaluation_id=f"eval-{r['ref']}",
                    team_id="team-zx",
                    assignee_id=ids[r["agent"]],
                    state=r["state"],
                    deadline=date.fromisoformat(r["deadline"]),
                    created_at=datetime(2026, 2, 20, 9, 0),
                )
            )
        db.commit()
    return ids
