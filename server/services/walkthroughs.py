"""Walkthrough scripts (导办脚本) on the server: publishing versions, the review flag,
and the pull loader of kind ``walkthrough``.

Every published version is its own row keyed ``<walkthrough_id>@<version>`` and is never
changed afterwards except for its review flag: a session keeps the version it started
with, so every client receives every version. A new version must carry a version number
greater than the latest stored one (the author states it in the YAML; the server never
renumbers, so the file in the authors' repository matches what was published).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from core.protocol import RecordKind
from core.resources import resource_path
from core.walkthrough import (
    ValidationIssue,
    Walkthrough,
    load_text,
    validate_text,
)
from server import models as m
from server.audit import record_audit
from server.changes import record
from server.services.pull import EXTRA_LOADERS

log = logging.getLogger(__name__)

SAMPLES_DIR = resource_path("walkthroughs")
KIND = RecordKind.WALKTHROUGH

# Column limits of ``server.models.Walkthrough``: checked before the insert so that an
# over-long id is a message with a line number, not a database error.
MAX_ID = 64
MAX_TITLE = 128
MAX_SOURCE = 200_000


class InvalidWalkthrough(Exception):
    """The script cannot be published; ``issues`` say where and why.

    Attributes:
        issues: Every issue found (errors first matter; warnings may be included).
        code: ``invalid_walkthrough`` or ``version_not_newer``.
    """

    def __init__(self, issues: list[ValidationIssue], code: str = "invalid_walkthrough") -> None:
        self.issues = issues
        self.code = code
        errors = [i for i in issues if i.is_error]
        super().__init__(errors[0].format() if errors else "导办脚本无效")


@dataclass(frozen=True)
class Published:
    """A version that was just stored.

    Attributes:
        row: The stored row.
        warnings: Warning-level issues (a stale citation, a variable set on some paths).
    """

    row: m.Walkthrough
    warnings: list[ValidationIssue]


def key_of(walkthrough_id: str, version: int) -> str:
    """The id clients see for one version."""
    return f"{walkthrough_id}@{version}"


@lru_cache(maxsize=256)
def parse_source(source: str) -> Walkthrough:
    """Parse a stored (already validated) source; cached because saves replay it.

    Raises:
        core.walkthrough.WalkthroughLoadError: The source no longer loads (a stored row
            edited by hand, or a validator that became stricter).
    """
    return load_text(source, "<stored>")


def knowledge_versions(db: DbSession) -> dict[str, int]:
    """Every knowledge entry id with its current version."""
    return {
        entry_id: int(version)
        for entry_id, version in db.execute(
            select(m.KnowledgeEntry.id, m.KnowledgeEntry.version)
        ).all()
    }


def latest_version(db: DbSession, walkthrough_id: str) -> int | None:
    value = db.scalar(
        select(func.max(m.Walkthrough.version)).where(
            m.Walkthrough.walkthrough_id == walkthrough_id
        )
    )
    return int(value) if value is not None else None


def check_for_publishing(
    db: DbSession, source: str, filename: str
) -> tuple[Walkthrough, list[ValidationIssue]]:
    """Validate ``source`` against this server's knowledge entries and matters.

    Returns:
        The walkthrough and its warnings.

    Raises:
        InvalidWalkthrough: Errors in the script, or a version not above the latest.
    """
    if len(source) > MAX_SOURCE:
        raise InvalidWalkthrough(
            [
                ValidationIssue(
                    filename, 0, "too_large", f"脚本过大（超过 {MAX_SOURCE // 1000} 千字符）"
                )
            ]
        )
    wt, issues = validate_text(source, filename, knowledge_versions(db))
    if wt is None:
        raise InvalidWalkthrough(issues)
    extra: list[ValidationIssue] = []
    if len(wt.id) > MAX_ID:
        extra.append(
            ValidationIssue(
                filename, wt.line_of("id"), "bad_value", f"脚本编号过长（最多 {MAX_ID} 个字符）"
            )
        )
    if len(wt.title) > MAX_TITLE:
        extra.append(
            ValidationIssue(
                filename,
                wt.line_of("title"),
                "bad_value",
                f"脚本标题过长（最多 {MAX_TITLE} 个字符）",
            )
        )
    if db.get(m.MatterGuide, wt.matter_code) is None:
        extra.append(
            ValidationIssue(
                filename,
                wt.line_of("matter"),
                "unknown_matter",
                f"事项编码 “{wt.matter_code}” 在服务器的事项目录中不存在",
            )
        )
    if extra:
        raise InvalidWalkthrough(extra + issues)
    latest = latest_version(db, wt.id)
    if latest is not None and wt.version <= latest:
        raise InvalidWalkthrough(
            [
                ValidationIssue(
                    filename,
                    wt.line_of("version"),
                    "version_not_newer",
                    f"导办脚本 “{wt.id}” 已发布到第 {latest} 版，"
                    f"新版本的 version 须大于 {latest}（文件中为 {wt.version}）",
                )
            ],
            code="version_not_newer",
        )
    return wt, [i for i in issues if not i.is_error]


def publish(
    db: DbSession,
    source: str,
    filename: str,
    *,
    user_id: int | None,
    now: datetime | None = None,
) -> Published:
    """Validate and store a new version, and log it so every client pulls it.

    A version that already cites an outdated knowledge entry is published flagged
    ``needs_review`` with the warning as its note.

    Raises:
        InvalidWalkthrough: See :func:`check_for_publishing`.
    """
    now = now or datetime.now()
    wt, warnings = check_for_publishing(db, source, filename)
    stale = [w.message for w in warnings if w.code == "stale_knowledge"]
    row = m.Walkthrough(
        key=key_of(wt.id, wt.version),
        walkthrough_id=wt.id,
        version=wt.version,
        matter_code=wt.matter_code,
        title=wt.title,
        source=source,
        created_at=now,
        created_by=user_id,
        needs_review=bool(stale),
        review_note="\n".join(stale),
    )
    db.add(row)
    db.flush()
    record(db, KIND, row.key, now=now)
    record_audit(
        db,
        at=now,
        actor_id=user_id,
        action="walkthrough.publish",
        target_kind=KIND,
        target_id=row.key,
        detail={"title": wt.title, "matter_code": wt.matter_code, "filename": filename},
    )
    return Published(row, warnings)


def mark_reviewed(
    db: DbSession, key: str, *, user_id: int | None, now: datetime | None = None
) -> m.Walkthrough | None:
    """Clear the review flag of one version (an admin checked its steps)."""
    row = db.get(m.Walkthrough, key)
    if row is None:
        return None
    now = now or datetime.now()
    note = row.review_note
    row.needs_review = False
    row.review_note = ""
    record(db, KIND, row.key, now=now)
    record_audit(
        db,
        at=now,
        actor_id=user_id,
        action="walkthrough.review",
        target_kind=KIND,
        target_id=row.key,
        detail={"note": note},
    )
    return row


def flag_for_knowledge_change(
    db: DbSession, entry_id: str, new_version: int | None, title: str = ""
) -> list[str]:
    """Flag every stored version that cites ``entry_id`` at another version.

    Called by :mod:`server.services.catalog` whenever an entry's version changes
    (``new_version``) or the entry is deleted (``None``). Each flagged version gets a
    note naming the entry and the steps that cite it, and a change row so clients
    show the badge.

    Returns:
        The keys of the versions flagged now.
    """
    flagged: list[str] = []
    rows = db.scalars(
        select(m.Walkthrough).where(m.Walkthrough.source.contains(entry_id, autoescape=True))
    )
    for row in rows:
        try:
            wt = parse_source(row.source)
        except ValueError:
            log.warning("stored walkthrough %s no longer loads; not checked", row.key)
            continue
        cited = [
            (step.id, ref.version)
            for step in wt.steps
            for ref in step.knowledge_refs
            if ref.entry_id == entry_id
        ]
        if not cited or (new_version is not None and all(v == new_version for _, v in cited)):
            continue
        steps = "、".join(dict.fromkeys(step_id for step_id, _ in cited))
        versions = "、".join(str(v) for v in sorted({v for _, v in cited}))
        name = f"知识条目 “{entry_id}”" + (f"（{title}）" if title else "")
        if new_version is None:
            note = f"{name}已被删除，步骤 {steps} 引用了它，请复核"
        else:
            note = (
                f"{name}已更新到第 {new_version} 版，步骤 {steps} 引用的是第 {versions} 版，"
                "请复核话术"
            )
        if note in (row.review_note or ""):
            continue
        row.needs_review = True
        row.review_note = f"{row.review_note}\n{note}".strip()
        record(db, KIND, row.key)
        flagged.append(row.key)
    return flagged


def seed_walkthroughs(
    db: DbSession, *, directory: Path = SAMPLES_DIR, now: datetime | None = None
) -> int:
    """Publish the sample scripts that are not stored yet (idempotent).

    A sample whose version is not newer than what the server holds is skipped: the
    server has moved on (an admin imported a later version).

    Raises:
        InvalidWalkthrough: A sample does not validate against the seeded knowledge.
    """
    count = 0
    for path in sorted(directory.glob("*.yaml")):
        source = path.read_text(encoding="utf-8-sig")
        try:
            wt: Walkthrough | None = parse_source(source)
        except ValueError:
            wt = None  # publish below reports the issues with the file name
        if wt is not None:
            latest = latest_version(db, wt.id)
            if latest is not None and latest >= wt.version:
                continue
        publish(db, source, path.name, user_id=None, now=now)
        count += 1
    return count


def serialize(row: m.Walkthrough) -> dict[str, Any]:
    """The wire shape of one version (kind ``walkthrough``)."""
    return {
        "id": row.key,
        "walkthrough_id": row.walkthrough_id,
        "version": row.version,
        "matter_code": row.matter_code,
        "title": row.title,
        "source": row.source,
        "created_at": row.created_at.isoformat(),
        "needs_review": bool(row.needs_review),
        "review_note": row.review_note or "",
    }


def _load(db: DbSession, ids: list[str]) -> dict[str, Any]:
    rows = db.scalars(select(m.Walkthrough).where(m.Walkthrough.key.in_(ids)))
    return {r.key: r for r in rows}


EXTRA_LOADERS[KIND] = (_load, serialize)
