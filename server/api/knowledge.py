"""Routes of the knowledge keepers (知识管理员, issue 15): drafts, review, history,
expiry lists, import and export, the feedback queue and synonyms.

Writes are for editors and admins; history is for anyone signed in. The logic is in
``server/services/knowledge_edit.py``; every change is audited there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Path, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session as DbSession

from core import knowledge_io
from core.enums import Role
from core.knowledge_rules import (
    ANSWER_MAX,
    CATEGORY_MAX,
    KEYWORD_MAX,
    KEYWORDS_MAX,
    SHORT_MAX,
    SOURCE_MAX,
    TITLE_MAX,
)
from server.api.deps import get_db, get_settings
from server.audit import client_ip, record_audit
from server.auth import CurrentUser, current_user, require_role
from server.config import ServerSettings
from server.errors import ApiError, forbidden
from server.services import knowledge_edit as ke

router = APIRouter(tags=["knowledge"])
keeper = require_role(Role.EDITOR, Role.ADMIN)
Db = Annotated[DbSession, Depends(get_db)]
Keeper = Annotated[CurrentUser, Depends(keeper)]
EntryId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00-\x20\x7f/]+$")]
IMPORT_MAX_BYTES = 16 * 1024 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILE_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            XLSX: {"schema": {"type": "string", "format": "binary"}},
            "text/csv": {"schema": {"type": "string"}},
        }
    }
}


class EntryFields(BaseModel):
    """The editable fields of an entry (checked again by ``core.knowledge_rules``)."""

    title: str = Field(min_length=1, max_length=TITLE_MAX)
    answer: str = Field(min_length=1, max_length=ANSWER_MAX)
    category: str = Field("", max_length=CATEGORY_MAX)
    issuing_unit: str = Field("", max_length=SHORT_MAX)
    kind: str = Field("日常咨询", max_length=16)
    keywords: list[Annotated[str, Field(max_length=KEYWORD_MAX)]] = Field(
        default_factory=list, max_length=KEYWORDS_MAX
    )
    scope: str = Field("", max_length=16)
    region: str = Field("", max_length=64)
    matter_code: str | None = Field(None, max_length=64)
    department: str = Field("", max_length=SHORT_MAX)
    service_type: str = Field("consult", max_length=16)
    effective_date: str | None = Field(None, max_length=32)
    expiry_date: str | None = Field(None, max_length=32)
    source: str = Field("", max_length=SOURCE_MAX)
    reason: str = Field("", max_length=500, description="why the change is made")


class NewEntryIn(EntryFields):
    id: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
    )


class EditIn(EntryFields):
    base_version: int = Field(ge=0, le=2**31 - 1, description="the published version edited")
    draft_rev: int | None = Field(
        None, ge=1, le=2**31 - 1, description="the open draft's rev the editor loaded"
    )


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class RetireIn(ReasonIn):
    base_version: int | None = Field(None, ge=0, le=2**31 - 1)


class DraftOut(BaseModel):
    id: str
    entry_id: str
    record_kind: str
    state: str
    state_label: str
    base_version: int
    rev: int
    data: dict[str, Any]
    reason: str
    author_id: int | None
    author: str
    editor: str
    reviewer: str
    created_at: str
    updated_at: str
    submitted_at: str | None
    return_reason: str
    published_version: int | None


class VersionOut(BaseModel):
    entry_id: str
    version: int
    action: str
    title: str
    reason: str
    author: str
    published_by: str
    published_at: str


class VersionFullOut(VersionOut):
    data: dict[str, Any]


Line = Annotated[str, Field(max_length=2000)]


class MatterFields(BaseModel):
    """The fields of a matter guide (办事指南), as ``core.entities.MatterGuide``."""

    name: str = Field(min_length=1, max_length=128)
    department: str = Field("", max_length=128)
    summary: str = Field("", max_length=4000)
    service_types: list[Annotated[str, Field(max_length=16)]] = Field([], max_length=3)
    conditions: list[Line] = Field([], max_length=100)
    materials: list[dict[str, Any]] = Field([], max_length=100)
    steps: list[Line] = Field([], max_length=100)
    time_limit_days: int = Field(0, ge=0, le=3660)
    time_limit_text: str = Field("", max_length=256)
    fee: str = Field("", max_length=256)
    legal_basis: list[Line] = Field([], max_length=100)
    place: str = Field("", max_length=500)
    online_entry: str = Field("", max_length=500)
    contact: str = Field("", max_length=256)
    hours: str = Field("", max_length=256)
    reason: str = Field("", max_length=500)


class NewMatterIn(MatterFields):
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")


class MatterEditIn(MatterFields):
    base_version: int = Field(ge=0, le=2**31 - 1)
    draft_rev: int | None = Field(None, ge=1, le=2**31 - 1)


class MatterPublishedOut(BaseModel):
    code: str
    version: int
    name: str


class PublishedOut(BaseModel):
    entry_id: str
    version: int
    title: str


class RetiredOut(BaseModel):
    entry_id: str
    version: int


class ExpiringOut(BaseModel):
    id: str
    title: str
    department: str
    version: int
    expiry_date: str | None


class ProblemOut(BaseModel):
    row: int
    column: str
    message: str


class ImportOut(BaseModel):
    dry_run: bool
    total: int
    good: int
    bad_rows: list[int]
    problems: list[ProblemOut]
    drafts: int = 0
    published: int = 0


class FeedbackOut(BaseModel):
    id: str
    entry_id: str | None
    kind: str
    text: str
    author_id: int | None
    author: str
    created_at: str
    status: str
    resolution: str | None
    resolved_entry_id: str | None
    resolution_note: str
    resolved_by: str
    resolved_at: str | None


class ResolveIn(BaseModel):
    resolution: Literal["accepted", "rejected"]
    entry_id: str | None = Field(None, min_length=1, max_length=64)
    note: str = Field("", max_length=1000)


class SynonymsIn(BaseModel):
    groups: list[
        Annotated[list[Annotated[str, Field(min_length=1, max_length=32)]], Field(max_length=20)]
    ] = Field(max_length=2000)


class SynonymsOut(BaseModel):
    groups: list[list[str]]


def _fields(body: EntryFields) -> dict[str, Any]:
    return body.model_dump(exclude={"reason", "base_version", "draft_rev", "id"})


def _draft(db: DbSession, d: Any) -> DraftOut:
    return DraftOut(**ke.draft_wire(db, d))


def _policy(settings: ServerSettings) -> ke.Policy:
    return ke.Policy(self_publish=settings.knowledge_self_publish)


@router.post("/knowledge", status_code=201, response_model=DraftOut)
def create_entry(body: NewEntryIn, request: Request, user: Keeper, db: Db) -> DraftOut:
    """A new entry, saved as a draft (agents see it once it is approved)."""
    entry_id = body.id or ke.new_entry_id()
    if db.get(ke.m.KnowledgeEntry, entry_id) is not None:
        raise ApiError(409, "entry_exists", "该编号的知识条目已存在，请用修改")
    draft = ke.save_draft(
        db,
        user,
        entry_id,
        _fields(body),
        base_version=0,
        reason=body.reason,
        source_ip=client_ip(request),
    )
    db.commit()
    return _draft(db, draft)


@router.put("/knowledge/{entry_id}", response_model=DraftOut)
def edit_entry(entry_id: EntryId, body: EditIn, request: Request, user: Keeper, db: Db) -> DraftOut:
    """Save an edit as the entry's draft. ``base_version`` must be the entry's current
    published version (409 ``stale_version`` naming who changed it otherwise)."""
    draft = ke.save_draft(
        db,
        user,
        entry_id,
        _fields(body),
        base_version=body.base_version,
        draft_rev=body.draft_rev,
        reason=body.reason,
        source_ip=client_ip(request),
    )
    db.commit()
    return _draft(db, draft)


@router.post("/knowledge/{entry_id}/submit", response_model=DraftOut)
def submit_entry(entry_id: EntryId, request: Request, user: Keeper, db: Db) -> DraftOut:
    draft = ke.submit(db, user, entry_id, source_ip=client_ip(request))
    db.commit()
    return _draft(db, draft)


@router.post("/knowledge/{entry_id}/approve", response_model=PublishedOut)
def approve_entry(
    entry_id: EntryId,
    request: Request,
    user: Keeper,
    db: Db,
    settings: Annotated[ServerSettings, Depends(get_settings)],
) -> PublishedOut:
    """Publish the draft under review as the next version (a second editor or an admin)."""
    row = ke.approve(db, user, entry_id, policy=_policy(settings), source_ip=client_ip(request))
    out = PublishedOut(entry_id=row.id, version=row.version, title=row.title)
    db.commit()
    return out


@router.post("/knowledge/{entry_id}/return", response_model=DraftOut)
def return_entry(
    entry_id: EntryId, body: ReasonIn, request: Request, user: Keeper, db: Db
) -> DraftOut:
    draft = ke.return_draft(db, user, entry_id, body.reason, source_ip=client_ip(request))
    db.commit()
    return _draft(db, draft)


@router.post("/knowledge/{entry_id}/retire", response_model=RetiredOut)
def retire_entry(
    entry_id: EntryId, body: RetireIn, request: Request, user: Keeper, db: Db
) -> RetiredOut:
    """Take the entry out of every agent's cache at their next sync; history keeps it."""
    version = ke.retire(
        db,
        user,
        entry_id,
        body.reason,
        base_version=body.base_version,
        source_ip=client_ip(request),
    )
    db.commit()
    return RetiredOut(entry_id=entry_id, version=version)


@router.get("/knowledge/drafts", response_model=list[DraftOut])
def drafts(
    user: Keeper,
    db: Db,
    state: Annotated[Literal["draft", "review", "returned"] | None, Query()] = None,
) -> list[dict[str, Any]]:
    """Drafts and entries under review (never pulled by agents)."""
    return ke.list_drafts(db, state)


@router.get("/knowledge/expiring", response_model=list[ExpiringOut])
def expiring(
    user: Keeper,
    db: Db,
    settings: Annotated[ServerSettings, Depends(get_settings)],
    days: Annotated[int | None, Query(ge=0, le=3660)] = None,
) -> list[dict[str, Any]]:
    """即将失效: entries whose expiry date falls within ``days`` (the setting, 30)."""
    return ke.expiring(db, days=settings.knowledge_expiry_days if days is None else days)


@router.get("/knowledge/expired", response_model=list[ExpiringOut])
def expired(user: Keeper, db: Db) -> list[dict[str, Any]]:
    """已失效: published entries past their expiry date."""
    return ke.expiring(db, days=None)


@router.get("/knowledge/import-template", response_class=Response, responses=FILE_ANSWER)
def import_template(
    user: Keeper, fmt: Annotated[Literal["xlsx", "csv"], Query(alias="format")] = "xlsx"
) -> Response:
    """The import template: one header row (标题* …) and an example row."""
    media = "text/csv; charset=utf-8" if fmt == "csv" else XLSX
    return Response(
        knowledge_io.template(fmt),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="knowledge-template.{fmt}"'},
    )


@router.post("/knowledge/import", response_model=ImportOut)
async def import_entries(
    request: Request,
    user: Keeper,
    db: Db,
    file: Annotated[UploadFile, File(description="XLSX, CSV (UTF-8 or GB18030) or JSON Lines")],
    dry_run: Annotated[bool, Query()] = True,
    publish: Annotated[bool, Query(description="admins only: publish instead of drafts")] = False,
) -> ImportOut:
    """Check (``dry_run=true``, the default) or import a file of entries. Every problem
    is named by row and column; rows with problems are never imported. The import makes
    drafts, or (``publish=true``, admins only) publishes the good rows at once."""
    if publish and user.role is not Role.ADMIN:
        raise forbidden("只有管理员可以导入后直接发布")
    data = await file.read(IMPORT_MAX_BYTES + 1)
    if len(data) > IMPORT_MAX_BYTES:
        raise ApiError(413, "file_too_large", "导入文件不能超过 16 MB")
    filename = (file.filename or "import")[:200]
    try:
        rows = knowledge_io.read_rows(filename, data)
    except knowledge_io.ImportFileError as exc:
        raise ApiError(422, "bad_file", str(exc)) from None
    plan = ke.plan(db, rows)
    out = ImportOut(
        dry_run=dry_run,
        total=plan.total,
        good=len(plan.rows),
        bad_rows=plan.bad_rows,
        problems=[ProblemOut(**p.to_wire()) for p in plan.problems[:5000]],
    )
    if not dry_run and plan.rows:
        done = ke.apply_import(
            db, user, plan, publish_now=publish, filename=filename, source_ip=client_ip(request)
        )
        db.commit()
        out.drafts, out.published = done["drafts"], done["published"]
    return out


@router.get("/knowledge/export", response_class=Response, responses=FILE_ANSWER)
def export_entries(
    request: Request,
    user: Keeper,
    db: Db,
    fmt: Annotated[Literal["xlsx", "csv"], Query(alias="format")] = "xlsx",
    department: Annotated[str | None, Query(max_length=128)] = None,
    category: Annotated[str | None, Query(max_length=256)] = None,
    q: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    """The published base (or the entries of a department, a category path or with a
    title containing ``q``) as a sheet in the template's columns; importable again."""
    entries = ke.export_entries(db, department=department, category=category, q=q)
    rows = [knowledge_io.export_row(e) for e in entries]
    header = knowledge_io.export_header()
    record_audit(
        db,
        actor_id=user.id,
        action="knowledge.export",
        target_kind="knowledge_entry",
        target_id="export",
        detail={"rows": len(rows), "format": fmt, "department": department, "category": category},
        source_ip=client_ip(request),
    )
    db.commit()
    if fmt == "csv":
        body, media = knowledge_io.csv_bytes(header, rows), "text/csv; charset=utf-8"
    else:
        body, media = knowledge_io.xlsx_bytes(header, rows), XLSX
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="knowledge.{fmt}"'},
    )


@router.get("/knowledge/feedback", response_model=list[FeedbackOut])
def feedback(
    user: Keeper,
    db: Db,
    status: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
) -> list[dict[str, Any]]:
    """The editors' queue: 纠错 and 新问题 reports, oldest first."""
    return ke.feedback_queue(db, status=None if status == "all" else status)


@router.post("/knowledge/feedback/{feedback_id}/resolve", response_model=FeedbackOut)
def resolve_feedback(
    feedback_id: EntryId, body: ResolveIn, request: Request, user: Keeper, db: Db
) -> dict[str, Any]:
    """Resolve a report: accepted (linked to the entry changed or created) or rejected
    (with the reason); the reporter is told."""
    row = ke.resolve_feedback(
        db,
        user,
        feedback_id,
        resolution=body.resolution,
        entry_id=body.entry_id,
        note=body.note,
        source_ip=client_ip(request),
    )
    out = ke.feedback_wire(row, ke._names(db, (row.author_id, row.resolved_by)))
    db.commit()
    return out


@router.get("/knowledge/{entry_id}/history", response_model=list[VersionOut])
def entry_history(
    entry_id: EntryId, user: Annotated[CurrentUser, Depends(current_user)], db: Db
) -> list[dict[str, Any]]:
    """Every published version (and a retirement), newest first, with who, when, why."""
    return ke.history(db, entry_id)


@router.get("/knowledge/{entry_id}/history/{version}", response_model=VersionFullOut)
def entry_version(
    entry_id: EntryId,
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
    user: Annotated[CurrentUser, Depends(current_user)],
    db: Db,
) -> dict[str, Any]:
    """The full text of one published version."""
    return ke.one_version(db, entry_id, version)


@router.get("/synonyms", response_model=SynonymsOut)
def get_synonyms(user: Keeper, db: Db) -> SynonymsOut:
    """同义词与俗称 (clients get them by sync, kind ``synonyms``)."""
    return SynonymsOut(groups=ke.synonym_groups(db))


@router.put("/synonyms", response_model=SynonymsOut)
def put_synonyms(body: SynonymsIn, request: Request, user: Keeper, db: Db) -> SynonymsOut:
    """Replace the whole list; groups of fewer than two terms are dropped, and a term
    already in an earlier group is left out of later ones."""
    groups = ke.replace_synonyms(db, user, body.groups, source_ip=client_ip(request))
    db.commit()
    return SynonymsOut(groups=groups)


# -- matter guides (办事指南): the same flow, keyed by the matter's code ------------------------


def _matter_fields(body: MatterFields) -> dict[str, Any]:
    return body.model_dump(exclude={"reason", "base_version", "draft_rev", "code"})


@router.post("/matters", status_code=201, response_model=DraftOut)
def create_matter(body: NewMatterIn, request: Request, user: Keeper, db: Db) -> DraftOut:
    """A new matter guide, saved as a draft."""
    draft = ke.save_matter_draft(
        db,
        user,
        body.code,
        _matter_fields(body),
        base_version=0,
        reason=body.reason,
        source_ip=client_ip(request),
    )
    db.commit()
    return _draft(db, draft)


@router.put("/matters/{code}", response_model=DraftOut)
def edit_matter(
    code: EntryId, body: MatterEditIn, request: Request, user: Keeper, db: Db
) -> DraftOut:
    """Save an edit of a matter guide as its draft (``base_version`` as for entries)."""
    draft = ke.save_matter_draft(
        db,
        user,
        code,
        _matter_fields(body),
        base_version=body.base_version,
        draft_rev=body.draft_rev,
        reason=body.reason,
        source_ip=client_ip(request),
    )
    db.commit()
    return _draft(db, draft)


@router.post("/matters/{code}/submit", response_model=DraftOut)
def submit_matter(code: EntryId, request: Request, user: Keeper, db: Db) -> DraftOut:
    draft = ke.submit(db, user, ke.matter_key(code), source_ip=client_ip(request))
    db.commit()
    return _draft(db, draft)


@router.post("/matters/{code}/approve", response_model=MatterPublishedOut)
def approve_matter(
    code: EntryId,
    request: Request,
    user: Keeper,
    db: Db,
    settings: Annotated[ServerSettings, Depends(get_settings)],
) -> MatterPublishedOut:
    row = ke.approve(
        db, user, ke.matter_key(code), policy=_policy(settings), source_ip=client_ip(request)
    )
    out = MatterPublishedOut(code=row.code, version=row.version, name=row.name)
    db.commit()
    return out


@router.post("/matters/{code}/return", response_model=DraftOut)
def return_matter(
    code: EntryId, body: ReasonIn, request: Request, user: Keeper, db: Db
) -> DraftOut:
    draft = ke.return_draft(
        db, user, ke.matter_key(code), body.reason, source_ip=client_ip(request)
    )
    db.commit()
    return _draft(db, draft)


@router.get("/matters/{code}/history", response_model=list[VersionOut])
def matter_history(
    code: EntryId, user: Annotated[CurrentUser, Depends(current_user)], db: Db
) -> list[dict[str, Any]]:
    """Every published version of a matter guide made through review, newest first."""
    return ke.history(db, ke.matter_key(code))
