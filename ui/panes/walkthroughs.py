"""The 导办脚本 page: every script with its matter, version and review flag; read any
script; admins import a new version from a YAML file (checked here first, then by the
server) and mark a flagged version as reviewed."""

from __future__ import annotations

import asyncio
import html
import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from core.localstore.store import LocalStore
from core.localstore.walkthroughs import WalkthroughInfo, WalkthroughStore
from core.walkthrough import (
    OUTCOME_LABELS,
    ValidationIssue,
    Walkthrough,
    substitute,
    validate_text,
)
from sync.client import ApiClient
from sync.errors import Refused
from ui.asking import ask_open_file
from ui.models.walkthroughs import WalkthroughTableModel
from ui.operations import Op, Operations, failure_text
from ui.tasks import owned_slot
from ui.walkthrough_player import parse_script
from ui.worker import Workers

log = logging.getLogger(__name__)


@dataclass
class ImportCheck:
    """A script file read and checked locally before an upload."""

    path: str
    name: str
    text: str = ""
    walkthrough: Walkthrough | None = None
    issues: list[ValidationIssue] = field(default_factory=list)

    @property
    def errors(self) -> list[ValidationIssue]:
        return [i for i in self.issues if i.is_error]


def check_script_file(path: str, scripts: WalkthroughStore) -> ImportCheck:
    """Read and validate a script against the local knowledge and published versions
    (run on the database worker; the server checks again against its own data)."""
    name = Path(path).name
    check = ImportCheck(path, name)
    try:
        check.text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        check.issues = [ValidationIssue(name, 0, "bad_encoding", "文件不是 UTF-8 编码，无法读取")]
        return check
    except OSError as exc:
        check.issues = [
            ValidationIssue(name, 0, "io_error", f"无法读取文件：{exc.strerror or exc}")
        ]
        return check
    wt, issues = validate_text(check.text, name, scripts.knowledge_versions())
    check.walkthrough, check.issues = wt, issues
    if wt is not None:
        latest = max(
            (i.version for i in scripts.walkthroughs() if i.walkthrough_id == wt.id), default=0
        )
        if wt.version <= latest:
            check.walkthrough = None
            check.issues = [
                ValidationIssue(
                    name,
                    wt.line_of("version"),
                    "version_not_newer",
                    f"导办脚本 “{wt.id}” 已发布到第 {latest} 版，"
                    f"新版本的 version 须大于 {latest}（文件中为 {wt.version}）",
                ),
                *issues,
            ]
    return check


def script_html(info: WalkthroughInfo, wt: Walkthrough | None, error: str, matter: str) -> str:
    """A readable rendering of a whole script for the reading pane."""
    e = html.escape
    parts = [f"<h2>{e(info.title)}</h2>"]
    parts.append(
        f"<p style='color:#616161'>{e(matter or info.matter_code)} · 第 {info.version} 版"
        f" · 编号 {e(info.walkthrough_id)}</p>"
    )
    if info.needs_review:
        note = "<br>".join(e(line) for line in info.review_note.splitlines())
        parts.append(
            f"<p style='background:#fff3e0;color:#e65100;padding:6px'><b>需复核：</b>{note}</p>"
        )
    if wt is None:
        parts.append(f"<p style='color:#b3261e'>脚本无法读取：{e(error)}</p>")
        return "".join(parts)
    if wt.description:
        parts.append(f"<p>{e(wt.description)}</p>")

    # Script-level variables read as their text; answers stay as {name} placeholders.
    def fill(text: str) -> str:
        return substitute(text, wt.variables)

    titles = {step.id: fill(step.title) for step in wt.steps}
    for number, step in enumerate(wt.steps, start=1):
        parts.append(
            f"<h3>{number}. {e(fill(step.title))} <span style='color:#9e9e9e;font-weight:normal'>"
            f"（{e(step.id)}）</span></h3>"
        )
        if step.say:
            parts.append(f"<p><b>话术：</b>{e(fill(step.say))}</p>")
        if step.do:
            parts.append(f"<p><b>操作：</b>{e(fill(step.do))}</p>")
        if step.checklist:
            items = "".join(
                f"<li>{e(fill(item.name))}（{e(item.form)} {item.count} 份）"
                f"{'' if item.required else '［可选］'}"
                f"{'：' + e(fill(item.note)) if item.note else ''}</li>"
                for item in step.checklist
            )
            parts.append(f"<p><b>材料：</b></p><ul>{items}</ul>")
        if step.field_hints:
            hints = "".join(f"<li>{e(h.field)}：{e(fill(h.hint))}</li>" for h in step.field_hints)
            parts.append(f"<p><b>填表提示：</b></p><ul>{hints}</ul>")
        if step.knowledge_refs:
            refs = "、".join(f"{e(r.entry_id)}（第 {r.version} 版）" for r in step.knowledge_refs)
            parts.append(f"<p><b>引用知识：</b>{refs}</p>")
        if step.question is not None:
            options = "".join(
                f"<li>{e(o.label)} → {e(titles.get(o.next, o.next))}</li>"
                for o in step.question.options
            )
            parts.append(f"<p><b>问题：</b>{e(fill(step.question.prompt))}</p><ol>{options}</ol>")
        elif step.next is not None:
            parts.append(f"<p><b>下一步：</b>{e(titles.get(step.next, step.next))}</p>")
        if step.end is not None:
            parts.append(f"<p><b>结束：</b>{e(OUTCOME_LABELS[step.end.outcome])}</p>")
            if step.end.next_steps:
                nexts = "".join(f"<li>{e(fill(t))}</li>" for t in step.end.next_steps)
                parts.append(f"<ul>{nexts}</ul>")
            if step.end.where_to_submit:
                parts.append(f"<p><b>办理地点：</b>{e(fill(step.end.where_to_submit))}</p>")
    return "".join(parts)


def issues_html(heading: str, issues: list[ValidationIssue], colour: str = "#b3261e") -> str:
    e = html.escape
    rows = []
    for issue in issues:
        where = f"第 {issue.line} 行" if issue.line else "文件"
        label = "错误" if issue.is_error else "提醒"
        rows.append(f"<li>{where}（{label}）：{e(issue.message)}</li>")
    return f"<p style='color:{colour}'><b>{e(heading)}</b></p><ul>{''.join(rows)}</ul>"


class WalkthroughsPane(QWidget):
    """导办脚本: list, read, and (admins) import or mark reviewed."""

    imported = Signal(str)
    """The key of a version the server just published (sync to receive it)."""
    reviewed = Signal(str)
    """The key of a version whose review flag an admin cleared."""

    def __init__(
        self,
        workers: Workers,
        store: LocalStore,
        scripts: WalkthroughStore,
        api: ApiClient | None,
        *,
        is_admin: bool,
        parent: QWidget | None = None,
        ops: Operations | None = None,
    ) -> None:
        super().__init__(parent)
        self.workers = workers
        self.ops = ops or Operations(workers, parent=self)
        self.store = store
        self.scripts = scripts
        self.api = api
        self.is_admin = is_admin
        self.model = WalkthroughTableModel(self)

        title = QLabel(self.tr("导办脚本"))
        title.setStyleSheet("font-size: 16px; font-weight: 600;")
        self.count = QLabel()
        self.count.setStyleSheet("color: #757575;")
        self.history = QCheckBox(self.tr("显示历史版本"))
        self.history.toggled.connect(self._on_history_toggled)
        self.import_button = QPushButton(self.tr("导入脚本…"))
        self.import_button.setToolTip(self.tr("选择 YAML 文件，校验通过后发布为新版本"))
        self.import_button.clicked.connect(self._on_import_button_clicked)
        self.review_button = QPushButton(self.tr("标记已复核"))
        self.review_button.setEnabled(False)
        self.review_button.clicked.connect(self._on_review_button_clicked)
        for button in (self.import_button, self.review_button):
            button.setVisible(is_admin)
        bar = QHBoxLayout()
        bar.addWidget(title)
        bar.addWidget(self.count)
        bar.addStretch(1)
        bar.addWidget(self.history)
        bar.addWidget(self.review_button)
        bar.addWidget(self.import_button)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)

        self.result = QTextBrowser()
        self.result.setObjectName("importResult")
        self.result.setMaximumHeight(180)
        self.result.setVisible(False)
        self.reader = QTextBrowser()
        self.reader.setPlaceholderText(self.tr("选择一个脚本阅读全文"))

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.result)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.reader)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        self._selected_key: str | None = None

    def take_focus(self) -> None:
        """The page came to the front: the list of scripts, a row selected."""
        self.table.setFocus(Qt.FocusReason.ShortcutFocusReason)
        if not self.table.currentIndex().isValid() and self.model.rowCount():
            self.table.setCurrentIndex(self.model.index(0, 0))

    # -- dialogs --------------------------------------------------------------------------

    @classmethod
    def ask_import_file(cls, parent: QWidget) -> asyncio.Future[Path | None]:
        """Ask for the YAML file to import; resolves to ``None`` when cancelled."""
        return ask_open_file(
            parent,
            parent.tr("导入导办脚本"),
            Path.home(),
            parent.tr("导办脚本 (*.yaml *.yml);;所有文件 (*)"),
        )

    # -- data -------------------------------------------------------------------------------

    async def reload(self) -> None:
        """Read the scripts from the cache (after a sync brought new versions)."""
        infos = await self.ops.query(self.scripts.walkthroughs)
        matters = await self.ops.query(self.store.matters)
        key = self._selected_key
        self.model.set_walkthroughs(infos, {m.code: m.name for m in matters})
        latest = {i.walkthrough_id for i in infos}
        flagged = sum(1 for i in infos if i.needs_review)
        text = self.tr("共 {0} 个脚本").format(len(latest))
        if flagged:
            text += self.tr("，{0} 个版本需复核").format(flagged)
        self.count.setText(text)
        if key is not None:
            row = self.model.row_of(key)
            if row >= 0:
                self.table.selectRow(row)
                await self._show(self.model.info_at(row))

    def selected(self) -> WalkthroughInfo | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.info_at(rows[0].row()) if rows else None

    async def _show(self, info: WalkthroughInfo | None) -> None:
        self.review_button.setEnabled(bool(self.is_admin and info and info.needs_review))
        if info is None:
            self.reader.clear()
            return
        wt, error = await self.ops.query(parse_script, info.source)
        self.reader.setHtml(script_html(info, wt, error, self.model.matter_name(info.matter_code)))

    # -- slots -----------------------------------------------------------------------------

    @owned_slot(bool)
    async def _on_history_toggled(self, checked: bool) -> None:
        self.model.set_show_history(checked)
        if self._selected_key is not None:
            row = self.model.row_of(self._selected_key)
            if row >= 0:
                self.table.selectRow(row)

    @owned_slot(QItemSelection, QItemSelection)
    async def _on_table_selection_changed(self, _new: QItemSelection, _old: QItemSelection) -> None:
        info = self.selected()
        self._selected_key = info.key if info else self._selected_key
        await self._show(info)

    @owned_slot()
    async def _on_import_button_clicked(self) -> None:
        if not self.is_admin:
            return
        self.import_button.setEnabled(False)
        try:
            chosen = await type(self).ask_import_file(self)
            if chosen:
                await self._import(str(chosen))
        finally:
            self.import_button.setEnabled(True)

    async def _import(self, path: str) -> None:
        self._show_result(self.tr("正在校验 {0}…").format(Path(path).name), "#616161")
        checked = await self.ops.run(
            Op(db=partial(check_script_file, path, self.scripts), report=self._show_result)
        )
        if not checked.ok or checked.value is None:
            return
        check = checked.value
        if check.walkthrough is None:
            self.result.setHtml(
                issues_html(
                    self.tr("{0} 有 {1} 处错误，未上传：").format(check.name, len(check.errors)),
                    check.issues,
                )
            )
            return
        if self.api is None:
            self._show_result(self.tr("当前无法连接服务器，脚本未上传"))
            return
        wt = check.walkthrough
        self._show_result(self.tr("校验通过，正在上传第 {0} 版…").format(wt.version), "#616161")
        uploaded = await self.ops.run(
            Op(
                net=partial(
                    self.api.post,
                    "/admin/walkthroughs",
                    {"source": check.text, "filename": check.name},
                ),
                report=lambda _text: None,
                failure=self._on_upload_failed,
            )
        )
        if not uploaded.ok:
            return
        answer = uploaded.value
        key = str(answer.get("id") if isinstance(answer, dict) else "")
        done = self.tr("已发布「{0}」第 {1} 版，同步后各客户端即可使用。").format(
            wt.title, wt.version
        )
        warnings = [i for i in check.issues if not i.is_error]
        if warnings:
            self.result.setHtml(
                f"<p style='color:#2e7d32'><b>{html.escape(done)}</b></p>"
                + issues_html(self.tr("请留意："), warnings, "#e65100")
            )
            self.result.setVisible(True)
        else:
            self._show_result(done, "#2e7d32")
        self._selected_key = key or self._selected_key
        self.imported.emit(key)

    @owned_slot()
    async def _on_review_button_clicked(self) -> None:
        info = self.selected()
        if info is None or not info.needs_review or self.api is None:
            return
        done = await self.ops.run(
            Op(
                net=partial(self.api.post, f"/admin/walkthroughs/{info.key}/reviewed"),
                prefix=self.tr("未能标记为已复核："),
                report=self._show_result,
                trigger=self.review_button,
            )
        )
        if not done.ok:
            return
        self.review_button.setEnabled(False)
        self._show_result(
            self.tr("已将「{0}」第 {1} 版标记为已复核").format(info.title, info.version),
            "#2e7d32",
        )
        self.reviewed.emit(info.key)

    def _on_upload_failed(self, exc: Exception) -> None:
        if isinstance(exc, Refused):
            # The server checks against its own knowledge base, which may be newer.
            self._show_result(self.tr("服务器未接受该脚本：\n{0}").format(exc.message))
        else:
            self._show_result(
                self.tr("脚本未能上传：{0}（文件未改动，可稍后再导入）").format(failure_text(exc))
            )

    def _show_result(self, text: str, colour: str = "#b3261e") -> None:
        lines = "<br>".join(html.escape(line) for line in text.splitlines())
        self.result.setHtml(f"<p style='color:{colour}'>{lines}</p>")
        self.result.setVisible(True)
