"""A revealed number lives only while its session is on screen (issue 11, part 6): a
refresh of the same session keeps it, showing another session or clearing the view
forgets it, and a reveal that answers after the person moved on shows nothing."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from tests.ui.test_session_models import ME, session
from ui.session_view import SessionDetail, SessionView

FULL = "13812345678"


def shown(view: SessionView) -> str:
    return view.phone.text() + " " + view.id_number.text()


def test_a_revealed_number_is_forgotten_once_its_session_leaves_the_screen(
    qtbot: QtBot,
) -> None:
    view = SessionView()
    qtbot.addWidget(view)
    mine = session("a1", "active", assignee=ME, phone="138****5678")
    other = session("h1", "on_hold", assignee=ME, phone="139****0000")

    view.show_detail(SessionDetail(mine))
    assert FULL not in shown(view) and "****" in view.phone.text()
    assert view.show_revealed("a1", FULL, "")
    assert view.phone.text() == FULL
    # The same session refreshed (sync, an event) keeps what was revealed.
    view.show_detail(SessionDetail(mine), keep_reveal=True)
    assert view.phone.text() == FULL

    # Another session: the number is gone, and coming back does not bring it back.
    view.show_detail(SessionDetail(other))
    assert FULL not in shown(view)
    view.show_detail(SessionDetail(mine), keep_reveal=True)
    assert FULL not in shown(view) and not view.revealed

    # Cleared (the session left the list): forgotten too.
    assert view.show_revealed("a1", FULL, "")
    view.clear()
    view.show_detail(SessionDetail(mine), keep_reveal=True)
    assert FULL not in shown(view)

    # A reveal answered after the person moved on is not shown on the wrong session.
    view.show_detail(SessionDetail(other))
    assert not view.show_revealed("a1", FULL, "")
    assert FULL not in shown(view)
