"""Keeping the knowledge base: drafts, review, publish, retire, history, import, the
feedback queue and synonyms (issue 15).

Only published text is in ``knowledge_entries`` (what agents pull). A draft lives in
``knowledge_drafts`` until a second editor (or an admin) approves it; it is then
written to the entry as the next version and kept in ``knowledge_versions`` with who,
when and why. Every edit names the published version it was based on; a stale one
is refused with who changed the entry since. Approval is a conditional UPDATE of the
draft (``WHERE state = 'review'``) and the version row is unique per (entry,
version), so two reviewers approving at once publish once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from core.knowledge_io import ImportPlan, RowProblem, plan_import
from core.knowledge_rules import EDITABLE, clean_entry, title_key
from core.protocol import RecordKind
from server import models as m
from server.audit import record_audit
from server.auth import CurrentUser
from server.changes import Audience, record
from server.errors import ApiError, not_found
from server.services.events import publish as publish_event

KNOWLEDGE, MATTER = "knowledge_entry", "matter_guide"
"""What a draft edits (``knowledge_drafts.record_kind``)."""
DRAFT, REVIEW, RETURNED, PUBLISHED, WITHDRAWN = (
    "draft",
    "review",
    "returned",
    "published",
    "withdrawn",
)
OPEN_STATES = (DRAFT, REVIEW, RETURNED)
STATE_LABELS = {DRAFT: "草稿", REVIEW: "待审核", RETURNED: "已退回", PUBLISHED: "已发布"}


@dataclass(frozen=True)
class Policy:
    """Server settings of the review flow."""

    self_publish: bool = False
    """Whether one person may approve their own edits (off by default)."""


# -- reading --------------------------------------------------------------------------


def _names(db: DbSession, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.execute(select(m.User.id, m.User.display_name).where(m.User.id.in_(wanted)))
    return {int(i): str(n) for i, n in rows}


def entry_data(row: m.KnowledgeEntry) -> dict[str, Any]:
    from server.services.pull import SERIALIZERS

    return SERIALIZERS["knowledge_entry"](row)


def draft_wire(
    db: DbSession, d: m.KnowledgeDraft, names: dict[int, str] | None = None
) -> dict[str, Any]:
    names = names if names is not None else _names(db, (d.author_id, d.editor_id, d.reviewer_id))
    return {
        "id": d.id,
        "entry_id": d.entry_id,
        "record_kind": d.record_kind,
        "state": d.state,
        "state_label": STATE_LABELS.get(d.state, d.state),
        "base_version": d.base_version,
        "rev": d.rev,
        "data": dict(d.data),
        "reason": d.reason,
        "author_id": d.author_id,
        "author": names.get(d.author_id or 0, ""),
        "editor": names.get(d.editor_id or 0, ""),
        "reviewer": names.get(d.reviewer_id or 0, ""),
        "created_at": d.created_at.isoformat(),
        "updated_at": d.updated_at.isoformat(),
        "submitted_at": d.submitted_at.isoformat() if d.submitted_at else None,
        "return_reason": d.return_reason,
        "published_version": d.published_version,
    }


def open_draft(db: DbSession, entry_id: str) -> m.KnowledgeDraft | None:
    return db.scalar(select(m.KnowledgeDraft).where(m.KnowledgeDraft.open_entry_id == entry_id))


def list_drafts(db: DbSession, state: str | None = None) -> list[dict[str, Any]]:
    query = select(m.KnowledgeDraft).where(m.KnowledgeDraft.state.in_(OPEN_STATES))
    if state:
        query = query.where(m.KnowledgeDraft.state == state)
    rows = list(db.scalars(query.order_by(m.KnowledgeDraft.updated_at.desc()).limit(2000)))
    names = _names(db, [i for d in rows for i in (d.author_id, d.editor_id, d.reviewer_id)])
    return [draft_wire(db, d, names) for d in rows]


def history(db: DbSession, entry_id: str) -> list[dict[str, Any]]:
    rows = list(
        db.scalars(
            select(m.KnowledgeVersion)
            .where(m.KnowledgeVersion.entry_id == entry_id)
            .order_by(m.KnowledgeVersion.version.desc())
        )
    )
    if not rows:
        raise not_found("找不到该知识条目的历史版本")
    names = _names(db, [i for v in rows for i in (v.author_id, v.published_by)])
    return [_version_wire(v, names) for v in rows]


def _version_wire(v: m.KnowledgeVersion, names: dict[int, str]) -> dict[str, Any]:
    return {
        "entry_id": v.entry_id,
        "version": v.version,
        "action": v.action,
        "title": v.title,
        "reason": v.reason,
        "author": names.get(v.author_id or 0, ""),
        "published_by": names.get(v.published_by or 0, ""),
        "published_at": v.published_at.isoformat(),
    }


def one_version(db: DbSession, entry_id: str, version: int) -> dict[str, Any]:
    v = db.scalar(
        select(m.KnowledgeVersion).where(
            m.KnowledgeVersion.entry_id == entry_id, m.KnowledgeVersion.version == version
        )
    )
    if v is None:
        raise not_found("找不到该版本")
    out = _version_wire(v, _names(db, (v.author_id, v.published_by)))
    out["data"] = dict(v.data)
    return out


def expiring(db: DbSession, *, days: int | None, today: date | None = None) -> list[dict[str, Any]]:
    """Entries whose expiry date falls within ``days`` (from today on), or, with
    ``days=None``, those already expired; soonest first."""
    today = today or date.today()
    query = select(m.KnowledgeEntry).where(m.KnowledgeEntry.expiry_date.is_not(None))
    if days is None:
        query = query.where(m.KnowledgeEntry.expiry_date < today)
    else:
        query = query.where(
            m.KnowledgeEntry.expiry_date >= today,
            m.KnowledgeEntry.expiry_date <= today + timedelta(days=days),
        )
    rows = db.scalars(query.order_by(m.KnowledgeEntry.expiry_date).limit(5000))
    return [
        {
            "id": r.id,
            "title": r.title,
            "department": r.department,
            "version": r.version,
            "expiry_date": r.expiry_date.isoformat() if r.expiry_date else None,
        }
        for r in rows
    ]


# -- version checks ---------------------------------------------------------------------


def _current_version(db: DbSession, entry_id: str) -> int:
    row = db.get(m.KnowledgeEntry, entry_id)
    return row.version if row is not None else 0


def _last_change(db: DbSession, entry_id: str) -> m.KnowledgeVersion | None:
    return db.scalar(
        select(m.KnowledgeVersion)
        .where(m.KnowledgeVersion.entry_id == entry_id)
        .order_by(m.KnowledgeVersion.version.desc())
        .limit(1)
    )


def _check_base(db: DbSession, entry_id: str, base_version: int) -> None:
    """409 naming who changed the entry when ``base_version`` is not its current version
    (0 = a new entry; a retired entry cannot be edited under its old id)."""
    current = _current_version(db, entry_id)
    last = _last_change(db, entry_id)
    retired = current == 0 and last is not None
    if current == base_version and not retired:
        return
    who, when = "他人", ""
    if last is not None:
        who = _names(db, (last.published_by,)).get(last.published_by or 0, "他人")
        when = f"于 {last.published_at:%Y-%m-%d %H:%M} "
    if retired:
        message = f"该条目已由{who}{when}停用，不能再修改"
    else:
        message = (
            f"该条目已由{who}{when}更新为第 {current} 版，您修改的是第 {base_version} 版："
            "请在最新版本上重新修改"
        )
    raise ApiError(409, "stale_version", message)


def _check_title(db: DbSession, entry_id: str, title: str) -> None:
    other = db.scalar(
        select(m.KnowledgeEntry.id).where(
            m.KnowledgeEntry.title == title, m.KnowledgeEntry.id != entry_id
        )
    )
    if other is not None:
        raise ApiError(409, "duplicate_title", f"知识库中已有同名条目（{other}）")


def _valid(fields: dict[str, Any]) -> dict[str, Any]:
    data, problems = clean_entry(fields)
    if problems:
        raise ApiError(422, "invalid_entry", "；".join(p.message for p in problems))
    return data


# -- drafts -----------------------------------------------------------------------------


def new_entry_id() -> str:
    return f"kb-{uuid.uuid4().hex[:12]}"


def save_draft(
    db: DbSession,
    user: CurrentUser,
    entry_id: str,
    fields: dict[str, Any],
    *,
    base_version: int,
    draft_rev: int | None = None,
    reason: str = "",
    source_ip: str | None = None,
    now: datetime | None = None,
) -> m.KnowledgeDraft:
    """Save an edit of ``entry_id`` (a new entry when ``base_version`` is 0) as its
    open draft. ``draft_rev`` is the revision of the open draft the editor loaded
    (None: they knew of none); a draft saved by someone else since is a 409 naming them."""
    now = now or datetime.now()
    data = _valid(fields)
    _check_base(db, entry_id, base_version)
    _check_title(db, entry_id, data["title"])
    return _store_draft(
        db,
        user,
        entry_id,
        entry_id,
        KNOWLEDGE,
        data,
        base_version,
        draft_rev,
        reason,
        source_ip,
        now,
    )


def _store_draft(
    db: DbSession,
    user: CurrentUser,
    key: str,
    entry_id: str,
    kind: str,
    data: dict[str, Any],
    base_version: int,
    draft_rev: int | None,
    reason: str,
    source_ip: str | None,
    now: datetime,
) -> m.KnowledgeDraft:
    """Create the open draft of ``key`` or save over it (compare-and-set on ``rev``)."""
    draft = open_draft(db, key)
    if draft is None:
        if draft_rev is not None:
            raise ApiError(409, "draft_gone", "该草稿已发布或撤回，请重新打开条目")
        draft = m.KnowledgeDraft(
            id=uuid.uuid4().hex,
            entry_id=entry_id,
            open_entry_id=key,
            record_kind=kind,
            base_version=base_version,
            rev=1,
            state=DRAFT,
            data=data,
            reason=reason,
            author_id=user.id,
            editor_id=user.id,
            created_at=now,
            updated_at=now,
        )
        db.add(draft)
        try:
            db.flush()
        except IntegrityError:
            raise ApiError(409, "draft_exists", "他人刚为该条目建立了草稿，请刷新后再改") from None
    else:
        if draft.state == REVIEW:
            raise ApiError(409, "under_review", "该条目的修改正在审核中，审核结束前不能再改")
        if draft_rev != draft.rev or draft.base_version != base_version:
            who = _names(db, (draft.editor_id,)).get(draft.editor_id or 0, "他人")
            raise ApiError(
                409,
                "stale_draft",
                f"该草稿已由{who}于 {draft.updated_at:%Y-%m-%d %H:%M} "
                f"保存为第 {draft.rev} 稿，请刷新后再改",
            )
        done = db.execute(
            update(m.KnowledgeDraft)
            .where(m.KnowledgeDraft.id == draft.id, m.KnowledgeDraft.rev == draft_rev)
            .values(
                rev=draft.rev + 1,
                data=data,
                reason=reason or draft.reason,
                editor_id=user.id,
                state=DRAFT,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:
            raise ApiError(409, "stale_draft", "该草稿刚被他人保存，请刷新后再改")
        db.refresh(draft)
    record_audit(
        db,
        actor_id=user.id,
        action="knowledge.save",
        target_kind=kind,
        target_id=entry_id,
        detail={"draft_id": draft.id, "rev": draft.rev, "base_version": base_version},
        source_ip=source_ip,
        reason=reason or None,
    )
    return draft


def _draft_for(db: DbSession, entry_id: str) -> m.KnowledgeDraft:
    draft = open_draft(db, entry_id)
    if draft is None:
        raise not_found("该条目没有待处理的草稿")
    return draft


def _swap_state(
    db: DbSession, draft: m.KnowledgeDraft, expected: tuple[str, ...], **values: Any
) -> None:
    done = db.execute(
        update(m.KnowledgeDraft)
        .where(m.KnowledgeDraft.id == draft.id, m.KnowledgeDraft.state.in_(expected))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        db.rollback()
        raise ApiError(409, "state_changed", "该草稿的状态刚被他人改变，请刷新")
    db.refresh(draft)


def submit(
    db: DbSession, user: CurrentUser, entry_id: str, *, source_ip: str | None = None
) -> m.KnowledgeDraft:
    draft = _draft_for(db, entry_id)
    if draft.state == REVIEW:
        raise ApiError(409, "under_review", "该草稿已在审核中")
    now = datetime.now()
    _swap_state(db, draft, (DRAFT, RETURNED), state=REVIEW, submitted_at=now, updated_at=now)
    record_audit(
        db,
        actor_id=user.id,
        action="knowledge.submit",
        target_kind="knowledge_entry",
        target_id=entry_id,
        detail={"draft_id": draft.id, "rev": draft.rev},
        source_ip=source_ip,
    )
    return draft


def return_draft(
    db: DbSession, user: CurrentUser, entry_id: str, reason: str, *, source_ip: str | None = None
) -> m.KnowledgeDraft:
    draft = _draft_for(db, entry_id)
    if draft.state != REVIEW:
        raise ApiError(409, "not_under_review", "该草稿不在审核中")
    now = datetime.now()
    _swap_state(
        db,
        draft,
        (REVIEW,),
        state=RETURNED,
        return_reason=reason,
        reviewer_id=user.id,
        reviewed_at=now,
        updated_at=now,
    )
    record_audit(
        db,
        actor_id=user.id,
        action="knowledge.return",
        target_kind="knowledge_entry",
        target_id=entry_id,
        detail={"draft_id": draft.id},
        source_ip=source_ip,
        reason=reason,
    )
    publish_event(
        db,
        "knowledge_draft",
        {"entry_id": entry_id, "state": RETURNED, "title": draft.data.get("title", "")},
        user_ids=[draft.author_id, draft.editor_id],
    )
    return draft


def approve(
    db: DbSession,
    user: CurrentUser,
    entry_id: str,
    *,
    policy: Policy,
    source_ip: str | None = None,
    now: datetime | None = None,
) -> Any:
    """Publish the draft under review as the next version (at most once): the
    ``m.KnowledgeEntry``, or the ``m.MatterGuide`` for a matter guide's draft
    (``entry_id`` is then :func:`matter_key`)."""
    draft = _draft_for(db, entry_id)
    if draft.state != REVIEW:
        raise ApiError(409, "not_under_review", "该草稿尚未提交审核")
    if not policy.self_publish and user.id in (draft.author_id, draft.editor_id):
        raise ApiError(
            403, "own_edit", "不能审核通过自己编辑的内容，请由另一位知识管理员或管理员审核"
        )
    now = now or datetime.now()
    version = draft.base_version + 1
    _swap_state(
        db,
        draft,
        (REVIEW,),
        state=PUBLISHED,
        open_entry_id=None,
        reviewer_id=user.id,
        reviewed_at=now,
        updated_at=now,
        published_version=version,
    )
    if draft.record_kind == MATTER:
        guide = publish_matter_version(db, user, draft, version=version, now=now)
        record_audit(
            db,
            actor_id=user.id,
            action="knowledge.approve",
            target_kind=MATTER,
            target_id=guide.code,
            detail={"draft_id": draft.id, "version": version},
            source_ip=source_ip,
        )
        return guide
    _check_base(db, entry_id, draft.base_version)
    _check_title(db, entry_id, draft.data["title"])
    row = publish_version(
        db,
        entry_id,
        dict(draft.data),
        version=version,
        author_id=draft.author_id,
        published_by=user.id,
        reason=draft.reason,
        now=now,
    )
    record_audit(
        db,
        actor_id=user.id,
        action="knowledge.approve",
        target_kind="knowledge_entry",
        target_id=entry_id,
        detail={"draft_id": draft.id, "version": version},
        source_ip=source_ip,
    )
    publish_event(
        db,
        "knowledge_draft",
        {"entry_id": entry_id, "state": PUBLISHED, "version": version, "title": row.title},
        user_ids=[draft.author_id, draft.editor_id],
    )
    return row


def publish_version(
    db: DbSession,
    entry_id: str,
    data: dict[str, Any],
    *,
    version: int,
    author_id: int | None,
    published_by: int | None,
    reason: str,
    now: datetime,
) -> m.KnowledgeEntry:
    """Write ``data`` as version ``version`` of the entry, keep it in the history, log the
    change for every client and flag the walkthroughs that cite it."""
    db.add(
        m.KnowledgeVersion(
            entry_id=entry_id,
            version=version,
            action="publish",
            title=data["title"],
            data={k: data.get(k) for k in EDITABLE},
            reason=reason,
            author_id=author_id,
            published_by=published_by,
            published_at=now,
        )
    )
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        raise ApiError(409, "already_published", f"第 {version} 版已发布") from None
    row = db.get(m.KnowledgeEntry, entry_id)
    if row is None:
        row = m.KnowledgeEntry(id=entry_id)
        db.add(row)
    for name in EDITABLE:
        value = data.get(name)
        if name in ("effective_date", "expiry_date"):
            value = date.fromisoformat(value) if value else None
        setattr(row, name, value)
    row.version = version
    row.review_state = "published"
    row.updated_at = now
    record(db, "knowledge_entry", entry_id, now=now)
    if version > 1:
        from server.services.walkthroughs import flag_for_knowledge_change

        flag_for_knowledge_change(db, entry_id, version, row.title)
    return row


def retire(
    db: DbSession,
    user: CurrentUser,
    entry_id: str,
    reason: str,
    *,
    base_version: int | None = None,
    source_ip: str | None = None,
    now: datetime | None = None,
) -> int:
    """Take an entry out of every cache (a tombstone at the next sync); the history keeps
    it, with a ``retire`` row. Returns the version number of that row."""
    now = now or datetime.now()
    row = db.get(m.KnowledgeEntry, entry_id)
    if row is None:
        raise not_found("找不到该知识条目（可能已停用）")
    if base_version is not None:
        _check_base(db, entry_id, base_version)
    version = row.version + 1
    db.add(
        m.KnowledgeVersion(
            entry_id=entry_id,
            version=version,
            action="retire",
            title=row.title,
            data=entry_data(row),
            reason=reason,
            author_id=user.id,
            published_by=user.id,
            published_at=now,
        )
    )
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        raise ApiError(409, "stale_version", "该条目刚被他人修改，请刷新") from None
    from server.services.catalog import delete_knowledge

    delete_knowledge(db, entry_id)
    draft = open_draft(db, entry_id)
    if draft is not None:
        draft.state, draft.open_entry_id, draft.updated_at = WITHDRAWN, None, now
    record_audit(
        db,
        actor_id=user.id,
        action="knowledge.retire",
        target_kind="knowledge_entry",
        target_id=entry_id,
        detail={"version": row.version},
        source_ip=source_ip,
        reason=reason,
    )
    return version


# -- import -----------------------------------------------------------------------------


def _existing_titles(db: DbSession) -> dict[str, str]:
    titles = {
        title_key(t): i for i, t in db.execute(select(m.KnowledgeEntry.id, m.KnowledgeEntry.title))
    }
    for d in db.scalars(select(m.KnowledgeDraft).where(m.KnowledgeDraft.state.in_(OPEN_STATES))):
        titles.setdefault(title_key(str(d.data.get("title", ""))), d.entry_id)
    return titles


def plan(db: DbSession, rows: list[tuple[int, dict[str, Any]]]) -> ImportPlan:
    result = plan_import(rows, _existing_titles(db))
    open_ids = set(
        db.scalars(
            select(m.KnowledgeDraft.open_entry_id).where(
                m.KnowledgeDraft.open_entry_id.is_not(None)
            )
        )
    )
    kept: list[tuple[int, dict[str, Any]]] = []
    for number, entry in result.rows:
        if entry["id"] and entry["id"] in open_ids:
            result.problems.append(RowProblem(number, "编号", "该条目已有未发布的草稿"))
        else:
            kept.append((number, entry))
    result.rows = kept
    result.problems.sort(key=lambda p: p.row)
    return result


def apply_import(
    db: DbSession,
    user: CurrentUser,
    result: ImportPlan,
    *,
    publish_now: bool,
    filename: str,
    source_ip: str | None = None,
) -> dict[str, int]:
    """Create a draft for every good row (or, for admins asking it, publish it)."""
    now = datetime.now()
    versions = dict(db.execute(select(m.KnowledgeEntry.id, m.KnowledgeEntry.version)).all())
    reason = f"批量导入：{filename}"[:500]
    created = published = 0
    drafts: list[m.KnowledgeDraft] = []
    for _number, entry in result.rows:
        entry_id = entry.pop("id") or new_entry_id()
        base = int(versions.get(entry_id, 0))
        if publish_now:
            publish_version(
                db,
                entry_id,
                entry,
                version=base + 1,
                author_id=user.id,
                published_by=user.id,
                reason=reason,
                now=now,
            )
            published += 1
        else:
            drafts.append(
                m.KnowledgeDraft(
                    id=uuid.uuid4().hex,
                    entry_id=entry_id,
                    open_entry_id=entry_id,
                    base_version=base,
                    rev=1,
                    state=DRAFT,
                    data=entry,
                    reason=reason,
                    author_id=user.id,
                    editor_id=user.id,
                    created_at=now,
                    updated_at=now,
                )
            )
            created += 1
    db.add_all(drafts)
    db.flush()
    record_audit(
        db,
        actor_id=user.id,
        action="knowledge.import",
        target_kind="knowledge_import",
        target_id=filename[:64] or "import",
        detail={"drafts": created, "published": published, "skipped": len(result.bad_rows)},
        source_ip=source_ip,
    )
    return {"drafts": created, "published": published}


def export_entries(
    db: DbSession,
    *,
    department: str | None = None,
    category: str | None = None,
    q: str | None = None,
) -> list[dict[str, Any]]:
    query = select(m.KnowledgeEntry).order_by(m.KnowledgeEntry.id)
    if department:
        query = query.where(m.KnowledgeEntry.department == department)
    if category:
        query = query.where(m.KnowledgeEntry.category.startswith(category, autoescape=True))
    if q:
        query = query.where(m.KnowledgeEntry.title.contains(q, autoescape=True))
    return [entry_data(r) for r in db.scalars(query)]


# -- feedback -----------------------------------------------------------------------------


def feedback_wire(f: m.KnowledgeFeedback, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": f.id,
        "entry_id": f.entry_id,
        "kind": f.kind,
        "text": f.text,
        "author_id": f.author_id,
        "author": names.get(f.author_id or 0, ""),
        "created_at": f.created_at.isoformat(),
        "status": f.status,
        "resolution": f.resolution,
        "resolved_entry_id": f.resolved_entry_id,
        "resolution_note": f.resolution_note or "",
        "resolved_by": names.get(f.resolved_by or 0, ""),
        "resolved_at": f.resolved_at.isoformat() if f.resolved_at else None,
    }


def feedback_queue(db: DbSession, *, status: str | None = "open") -> list[dict[str, Any]]:
    query = select(m.KnowledgeFeedback)
    if status:
        query = query.where(m.KnowledgeFeedback.status == status)
    rows = list(db.scalars(query.order_by(m.KnowledgeFeedback.created_at).limit(2000)))
    names = _names(db, [i for f in rows for i in (f.author_id, f.resolved_by)])
    return [feedback_wire(f, names) for f in rows]


def resolve_feedback(
    db: DbSession,
    user: CurrentUser,
    feedback_id: str,
    *,
    resolution: str,
    entry_id: str | None,
    note: str,
    source_ip: str | None = None,
) -> m.KnowledgeFeedback:
    """Close one 纠错/新问题 report: ``accepted`` links it to the entry it changed or
    created (that entry or a draft of it must exist), ``rejected`` needs a note saying
    why. The reporter gets a live event and the record at their next sync."""
    row = db.get(m.KnowledgeFeedback, feedback_id)
    if row is None:
        raise not_found("找不到该反馈")
    if resolution == "accepted":
        entry_id = entry_id or row.entry_id
        if not entry_id:
            raise ApiError(422, "entry_required", "采纳时请注明修改或新建的知识条目")
        known = db.get(m.KnowledgeEntry, entry_id) is not None or db.scalar(
            select(func.count())
            .select_from(m.KnowledgeDraft)
            .where(m.KnowledgeDraft.entry_id == entry_id)
        )
        if not known:
            raise ApiError(422, "entry_unknown", "所注明的知识条目不存在")
    elif not note.strip():
        raise ApiError(422, "note_required", "不采纳时请写明原因")
    now = datetime.now()
    done = db.execute(
        update(m.KnowledgeFeedback)
        .where(m.KnowledgeFeedback.id == feedback_id, m.KnowledgeFeedback.status == "open")
        .values(
            status="resolved",
            resolution=resolution,
            resolved_entry_id=entry_id if resolution == "accepted" else None,
            resolution_note=note,
            resolved_by=user.id,
            resolved_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise ApiError(409, "already_resolved", "该反馈已被处理")
    db.refresh(row)
    record(db, "knowledge_feedback", row.id, audience=Audience(user_a=row.author_id))
    publish_event(
        db,
        "knowledge_feedback",
        {
            "feedback_id": row.id,
            "resolution": resolution,
            "entry_id": row.resolved_entry_id,
            "note": note,
        },
        user_ids=[row.author_id],
    )
    record_audit(
        db,
        actor_id=user.id,
        action="knowledge.feedback_resolve",
        target_kind="knowledge_feedback",
        target_id=row.id,
        detail={"resolution": resolution, "entry_id": row.resolved_entry_id},
        source_ip=source_ip,
        reason=note or None,
    )
    return row


# -- synonyms -----------------------------------------------------------------------------

SYNONYMS_ID = "all"


def synonym_groups(db: DbSession) -> list[list[str]]:
    return [list(g.terms) for g in db.scalars(select(m.SynonymGroup).order_by(m.SynonymGroup.id))]


def clean_groups(groups: list[list[str]]) -> list[list[str]]:
    """Groups of at least two distinct terms; a term appears in one group only."""
    seen: set[str] = set()
    out: list[list[str]] = []
    for group in groups:
        terms = [t.strip() for t in group if t and t.strip()]
        terms = [t for t in dict.fromkeys(terms) if t not in seen]
        if len(terms) >= 2:
            seen.update(terms)
            out.append(terms)
    return out


def replace_synonyms(
    db: DbSession, user: CurrentUser, groups: list[list[str]], *, source_ip: str | None = None
) -> list[list[str]]:
    cleaned = clean_groups(groups)
    db.query(m.SynonymGroup).delete()
    db.add_all(m.SynonymGroup(terms=g) for g in cleaned)
    record(db, "synonyms", SYNONYMS_ID)
    record_audit(
        db,
        actor_id=user.id,
        action="knowledge.synonyms",
        target_kind="synonyms",
        target_id=SYNONYMS_ID,
        detail={"groups": len(cleaned)},
        source_ip=source_ip,
    )
    return cleaned


DEMO_SYNONYMS = [
    ["社保", "社会保险"],
    ["上户口", "落户", "户口登记", "报户口"],
    ["公积金", "住房公积金"],
    ["医保", "医疗保险", "医保卡"],
    ["身份证", "居民身份证"],
    ["退休金", "养老金", "养老保险金"],
    ["低保", "最低生活保障"],
    ["残疾证", "残疾人证"],
    ["老人", "老年人", "高龄"],
    ["生娃", "生育", "生孩子"],
    ["失业金", "失业保险金"],
    ["驾照", "驾驶证"],
]


def seed_synonyms(db: DbSession) -> int:
    if db.scalar(select(func.count()).select_from(m.SynonymGroup)):
        return 0
    db.add_all(m.SynonymGroup(terms=g) for g in DEMO_SYNONYMS)
    record(db, "synonyms", SYNONYMS_ID)
    return len(DEMO_SYNONYMS)


# -- pull loaders ---------------------------------------------------------------------------


def _load_synonyms(db: DbSession, ids: list[str]) -> dict[str, Any]:
    return {SYNONYMS_ID: synonym_groups(db)} if SYNONYMS_ID in ids else {}


def _serialize_synonyms(groups: list[list[str]]) -> dict[str, Any]:
    return {"id": SYNONYMS_ID, "groups": groups}


def _load_feedback(db: DbSession, ids: list[str]) -> dict[str, Any]:
    rows = db.scalars(select(m.KnowledgeFeedback).where(m.KnowledgeFeedback.id.in_(ids)))
    return {r.id: r for r in rows}


def _serialize_feedback(row: m.KnowledgeFeedback) -> dict[str, Any]:
    return feedback_wire(row, {})


def _feedback_visible(row: m.KnowledgeFeedback, user: CurrentUser) -> bool:
    return row.author_id == user.id or user.role.keeps_knowledge


def register() -> None:
    from server.services.pull import EXTRA_LOADERS, EXTRA_VISIBILITY

    EXTRA_LOADERS[RecordKind.SYNONYMS] = (_load_synonyms, _serialize_synonyms)
    EXTRA_LOADERS[RecordKind.KNOWLEDGE_FEEDBACK] = (_load_feedback, _serialize_feedback)
    EXTRA_VISIBILITY[RecordKind.KNOWLEDGE_FEEDBACK] = _feedback_visible


register()


def seed_review_draft(db: DbSession, entry: dict[str, Any], *, now: datetime) -> m.KnowledgeDraft:
    """A demo entry not yet approved becomes a draft under review (nobody's own edit)."""
    data, _problems = clean_entry(entry)
    draft = m.KnowledgeDraft(
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"bangban-demo/draft/{entry['id']}").hex,
        entry_id=entry["id"],
        open_entry_id=entry["id"],
        base_version=0,
        rev=1,
        state=REVIEW,
        data=data,
        reason="演示数据：待审核",
        created_at=now,
        updated_at=now,
        submitted_at=now,
    )
    db.add(draft)
    return draft


# -- matter guides (办事指南) -------------------------------------------------------------------


def matter_key(code: str) -> str:
    """The draft and history key of a matter guide (entry ids and codes may coincide)."""
    return f"{MATTER}:{code}"


def save_matter_draft(
    db: DbSession,
    user: CurrentUser,
    code: str,
    fields: dict[str, Any],
    *,
    base_version: int,
    draft_rev: int | None = None,
    reason: str = "",
    source_ip: str | None = None,
    now: datetime | None = None,
) -> m.KnowledgeDraft:
    """A matter guide's edit as a draft, by the same rules as a knowledge entry's."""
    from core.entities import MatterGuide as WireGuide

    now = now or datetime.now()
    try:
        data = WireGuide.from_wire(fields | {"code": code, "version": base_version}).to_wire()
    except (TypeError, ValueError, KeyError) as exc:
        raise ApiError(422, "invalid_guide", f"办事指南的内容有误：{exc}") from None
    if not str(data.get("name", "")).strip():
        raise ApiError(422, "invalid_guide", "缺少事项名称")
    row = db.get(m.MatterGuide, code)
    current = row.version if row is not None and not row.deleted else 0
    if current != base_version:
        last = _last_change(db, matter_key(code))
        who = (
            _names(db, (last.published_by,)).get(last.published_by or 0, "他人") if last else "他人"
        )
        raise ApiError(
            409,
            "stale_version",
            f"该办事指南已由{who}更新为第 {current} 版，您修改的是第 {base_version} 版："
            "请在最新版本上重新修改",
        )
    return _store_draft(
        db,
        user,
        matter_key(code),
        code,
        MATTER,
        data,
        base_version,
        draft_rev,
        reason,
        source_ip,
        now,
    )


def publish_matter_version(
    db: DbSession, user: CurrentUser, draft: m.KnowledgeDraft, *, version: int, now: datetime
) -> m.MatterGuide:
    from server.services.catalog import upsert_matter

    code = draft.entry_id
    row = db.get(m.MatterGuide, code)
    current = row.version if row is not None and not row.deleted else 0
    if current != draft.base_version:
        db.rollback()
        raise ApiError(409, "stale_version", "该办事指南在审核期间已被他人更新，请重新修改")
    data = dict(draft.data) | {"code": code, "version": version}
    db.add(
        m.KnowledgeVersion(
            entry_id=matter_key(code),
            version=version,
            action="publish",
            title=str(data.get("name", ""))[:128],
            data=data,
            reason=draft.reason,
            author_id=draft.author_id,
            published_by=user.id,
            published_at=now,
        )
    )
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        raise ApiError(409, "already_published", f"第 {version} 版已发布") from None
    guide = upsert_matter(db, data)
    guide.version = version  # upsert_matter keeps an existing row's version
    return guide
