"""Conversation messages in the local cache against a real server (issue 13): a reply is
on screen at once as 发送中 and in the outbox in the same transaction; the push makes it
已送达 with the server's order; what the server would refuse is refused here in words;
a refused message stays, marked 未发送; a notice keeps its kind; photos are kept for
offline reading."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from core.localstore.messages import ChatActions, MessageState
from core.localstore.session_actions import ActionError, Me
from server import models as m
from tests.support import LiveServer
from tests.sync.conftest import Client


def sid(ref: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/{ref}"))


def me_of(client: Client) -> Me:
    user = client.api.me()
    return Me(user.id, user.display_name, user.role, user.team_id)


CHAT, HOTLINE = sid("S010"), sid("S011")


def test_a_reply_shows_at_once_and_is_sent_with_its_kind(
    client: Client, live_server: LiveServer
) -> None:
    client.engine.sync_blocking()
    chat = ChatActions(client.store, me_of(client))
    before = len(chat.messages(CHAT))
    result = chat.send(CHAT, "  一次性告知\n需要带：身份证原件  ", notice=True)
    [item] = client.store.pending_mutations()
    assert (item.kind, item.op, item.target_id) == ("message", "create", item.payload["message_id"])
    assert item.payload["kind"] == "notice"
    assert item.payload["text"] == "一次性告知\n需要带：身份证原件"
    shown = chat.messages(CHAT)
    assert len(shown) == before + 1 and shown[-1].state is MessageState.SENDING
    assert shown[-1].notice and result.changes.kinds == {"message"}
    client.engine.sync_blocking()
    assert client.store.outbox_size() == 0
    last = chat.messages(CHAT)[-1]
    assert last.state is MessageState.SENT and last.seq is not None and last.notice
    with live_server.db() as db:
        row = db.scalar(select(m.Message).where(m.Message.id == item.payload["message_id"]))
        assert row is not None and row.kind == "notice" and row.sender == "staff"


def test_what_the_server_would_refuse_is_refused_here_in_words(client: Client) -> None:
    client.engine.sync_blocking()
    chat = ChatActions(client.store, me_of(client))
    cases = [
        (CHAT, "   ", "请输入要发送的内容"),
        (CHAT, "长" * 2001, "一条消息最多 2000 字"),
        (HOTLINE, "您好", "只有线上咨询会话可以给群众发消息"),
        ("no-such-session", "您好", "本地没有该会话"),
    ]
    for session_id, text, words in cases:
        with pytest.raises(ActionError) as err:
            chat.send(session_id, text)
        assert words in err.value.message
    assert client.store.outbox_size() == 0


def test_a_refused_message_stays_marked_unsent(client: Client, live_server: LiveServer) -> None:
    client.engine.sync_blocking()
    chat = ChatActions(client.store, me_of(client))
    chat.send(CHAT, "马上为您查询")
    with live_server.db() as db:  # closed at the server meanwhile (another desk)
        row = db.get(m.Session, CHAT)
        assert row is not None
        row.state = "closed"
        db.commit()
    client.engine.sync_blocking()
    last = chat.messages(CHAT)[-1]
    assert last.text == "马上为您查询" and last.state is MessageState.FAILED
    assert "已办结" in last.problem
    assert any("已办结" in p.reason for p in client.store.open_problems())


def test_photos_are_kept_for_offline_reading(client: Client) -> None:
    client.engine.sync_blocking()
    chat = ChatActions(client.store, me_of(client))
    assert chat.photo("at-1") is None
    chat.keep_photo(CHAT, "at-1", b"\x89PNG fake bytes")
    assert chat.photo("at-1") == b"\x89PNG fake bytes"
    assert [r["id"] for r in client.store.records("photo", CHAT)] == ["at-1"]
