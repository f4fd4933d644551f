"""The walkthrough player (导办): follow a script step by step inside a session.

Self-contained: give it the workers, the cache and the signed-in user, then call
:meth:`WalkthroughPlayer.show_session`. It picks the latest script for the session's
matter or resumes the session's run at the version it started with, saves the run on
every change (locally and through the outbox, in one transaction), and at an end step
shows the 一次性告知 notice to copy, export as PDF or print.

Keys (while the player has focus): 1–9 answer, Space ticks the focused material,
Enter continues (or starts / finishes), Backspace or Alt+Left goes back.
"""

from __future__ import annotations

import asyncio
import html
import logging
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache, partial
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core.entities import Session
from core.enums import SessionState
from core.localstore.store import LocalStore
from core.localstore.walkthroughs import SavedRun, WalkthroughInfo, WalkthroughStore
from core.walkthrough import (
    OUTCOME_LABELS,
    Notice,
    RunState,
    StepView,
    Walkthrough,
    WalkthroughError,
    advance,
    answer,
    back,
    build_notice,
    check_state,
    finish,
    load_text,
    start,
    tick,
    view,
)
from sync.client import UserInfo
from ui.asking import ask_dialog, ask_save_file, mapped
from ui.folders import NOTICE_PDF, remember_folder, start_folder
from ui.notice_page import NoticeMeta, notice_html, pdf_printer, prepare_printer, print_notice
from ui.operations import Op, Operations
from ui.tasks import owned_slot
from ui.worker import Workers

log = logging.getLogger(__name__)

MAX_OPTIONS = 9


@lru_cache(maxsize=64)
def parse_script(source: str) -> tuple[Walkthrough | None, str]:
    """Parse a pulled script once per source text; the error in words if it fails."""
    try:
        return load_text(source, "脚本"), ""
    except ValueError as exc:
        return None, str(exc)


@dataclass(frozen=True)
class ScriptChoice:
    """A script the agent may start: the version and its parsed form."""

    info: WalkthroughInfo
    walkthrough: Walkthrough | None
    error: str = ""


@dataclass(frozen=True)
class PlayerContext:
    """Everything the player shows for one session, loaded on the database worker."""

    session_id: str | None
    session: Session | None = None
    matter_name: str = ""
    can_edit: bool = False
    read_only_reason: str = ""
    choices: tuple[ScriptChoice, ...] = ()
    run: SavedRun | None = None
    run_info: WalkthroughInfo | None = None
    walkthrough: Walkthrough | None = None
    latest_version: int | None = None
    knowledge: dict[str, tuple[str, int]] = field(default_factory=dict)
    problem: str = ""
    office: str = ""


def load_context(
    store: LocalStore, scripts: WalkthroughStore, session_id: str | None, user_id: int
) -> PlayerContext:
    """Read what the player needs for ``session_id`` (run on the database worker)."""
    if not session_id:
        return PlayerContext(None)
    session = store.session(session_id)
    if session is None:
        return PlayerContext(session_id, problem="本机没有这个会话的数据，请先同步")
    matter = store.matter(session.matter_code) if session.matter_code else None
    office = next((a.office for a in store.agents() if a.id == user_id), "")
    # A code is no name: the notice falls back on the script's matter, never on a code.
    matter_name = matter.name if matter else ""
    can_edit = session.assignee_id == user_id and session.state != SessionState.CLOSED
    reason = ""
    if session.assignee_id != user_id:
        reason = "只有本会话的承办人可以操作导办，这里仅供查看"
    elif session.state == SessionState.CLOSED:
        reason = "会话已办结，导办记录仅供查看"
    if session.matter_code:
        infos = scripts.latest_for_matter(session.matter_code)
    else:
        latest: dict[str, WalkthroughInfo] = {}
        for info in scripts.walkthroughs():
            known = latest.get(info.walkthrough_id)
            if known is None or info.version > known.version:
                latest[info.walkthrough_id] = info
        infos = sorted(latest.values(), key=lambda i: i.title)
    choices = tuple(ScriptChoice(info, *parse_script(info.source)) for info in infos)
    run = scripts.run_for_session(session_id)
    cited = {
        ref.entry_id
        for choice in choices
        if choice.walkthrough is not None
        for step in choice.walkthrough.steps
        for ref in step.knowledge_refs
    }
    base = PlayerContext(
        session_id,
        session,
        matter_name,
        can_edit,
        reason,
        choices,
        knowledge=scripts.knowledge_titles(sorted(cited)),
        office=office,
    )
    if run is None:
        return base
    info = scripts.walkthrough(run.state.walkthrough_id, run.state.version)
    if info is None:
        return _replace(
            base,
            run=run,
            problem=(
                f"本会话的导办脚本（第 {run.state.version} 版）尚未同步到本机，请稍候或立即同步"
            ),
        )
    wt, error = parse_script(info.source)
    if wt is None:
        return _replace(base, run=run, run_info=info, problem=f"导办脚本无法读取：{error}")
    try:
        check_state(wt, run.state)
    except WalkthroughError as exc:
        return _replace(base, run=run, run_info=info, problem=f"导办进度无法恢复：{exc}")
    newest = max(
        (i.version for i in scripts.walkthroughs() if i.walkthrough_id == info.walkthrough_id),
        default=info.version,
    )
    refs = sorted(cited | {ref.entry_id for step in wt.steps for ref in step.knowledge_refs})
    # The notice names the matter of the script that runs (the session may have none).
    script_matter = store.matter(wt.matter_code) if wt.matter_code else None
    return _replace(
        base,
        matter_name=script_matter.name if script_matter else matter_name,
        run=run,
        run_info=info,
        walkthrough=wt,
        latest_version=newest,
        knowledge=scripts.knowledge_titles(refs),
    )


def _replace(ctx: PlayerContext, **changes: object) -> PlayerContext:
    from dataclasses import replace

    return replace(ctx, **changes)  # type: ignore[arg-type]


class _Box(QFrame):
    """A titled, tinted box for 话术 and 操作 text."""

    def __init__(self, title: str, colour: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("playerBox")
        self.setStyleSheet(
            f"QFrame#playerBox {{ background: {colour}; border-radius: 6px; }}"
            "QLabel { background: transparent; }"
        )
        self.title = QLabel(title)
        self.title.setStyleSheet("color: #546e7a; font-size: 12px;")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setStyleSheet("font-size: 15px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 10)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.text)

    def set_text(self, text: str) -> None:
        self.text.setText(text)
        self.setVisible(bool(text))


class WalkthroughPlayer(QWidget):
    """导办 player for one session at a time."""

    knowledge_requested = Signal(str)
    """A cited knowledge entry's id, when the agent clicks its link."""
    run_saved = Signal(str)
    """The session id, after a save reached the local cache and the outbox."""
    notice_copied = Signal()
    notice_exported = Signal(str)
    """The path of a PDF written."""

    PAGE_EMPTY, PAGE_PICK, PAGE_RUN = range(3)

    def __init__(
        self,
        workers: Workers,
        store: LocalStore,
        scripts: WalkthroughStore,
        user: UserInfo,
        *,
        office: str = "",
        parent: QWidget | None = None,
        ops: Operations | None = None,
    ) -> None:
        super().__init__(parent)
        self.workers = workers
        self.ops = ops or Operations(workers, parent=self)
        self.store = store
        self.scripts = scripts
        self.user = user
        self.office = office
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._ctx = PlayerContext(None)
        self._wt: Walkthrough | None = None
        self._state: RunState | None = None
        self._view: StepView | None = None
        self._rev = 0
        self._edits = 0
        self._save_error = ""
        self._rendering = False

        # -- empty page ------------------------------------------------------------------
        self.message = QLabel(self.tr("请先选择一个会话"))
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #616161; font-size: 14px;")
        empty = QWidget()
        empty_layout = QVBoxLayout(empty)
        empty_layout.addWidget(self.message)

        # -- picker page -------------------------------------------------------------------
        self.pick_title = QLabel()
        self.pick_title.setStyleSheet("font-size: 16px; font-weight: 600;")
        self.pick_title.setWordWrap(True)
        self.pick_hint = QLabel()
        self.pick_hint.setWordWrap(True)
        self.pick_hint.setStyleSheet("color: #616161;")
        self.pick_list = QVBoxLayout()
        self.pick_list.setSpacing(8)
        pick = QWidget()
        pick_layout = QVBoxLayout(pick)
        pick_layout.setContentsMargins(16, 16, 16, 16)
        pick_layout.addWidget(self.pick_title)
        pick_layout.addWidget(self.pick_hint)
        pick_layout.addLayout(self.pick_list)
        pick_layout.addStretch(1)
        self.start_buttons: list[QPushButton] = []

        # -- run page ----------------------------------------------------------------------
        self.script_label = QLabel()
        self.script_label.setStyleSheet("color: #37474f; font-weight: 600;")
        self.review_badge = QLabel(self.tr("需复核"))
        self.review_badge.setStyleSheet(
            "background: #fff3e0; color: #e65100; border: 1px solid #ffb74d;"
            " border-radius: 4px; padding: 1px 6px;"
        )
        self.progress_label = QLabel()
        self.progress_label.setObjectName("walkthroughProgress")
        self.progress_label.setStyleSheet("color: #1565c0; font-weight: 600;")
        header = QHBoxLayout()
        header.addWidget(self.script_label)
        header.addWidget(self.review_badge)
        header.addStretch(1)
        header.addWidget(self.progress_label)
        self.notes_label = QLabel()
        self.notes_label.setWordWrap(True)
        self.notes_label.setStyleSheet("color: #6d4c41; font-size: 12px;")

        self.step_title = QLabel()
        self.step_title.setWordWrap(True)
        self.step_title.setStyleSheet("font-size: 18px; font-weight: 600; margin-top: 4px;")
        self.say_box = _Box(self.tr("话术（对群众说）"), "#e3f2fd")
        self.do_box = _Box(self.tr("操作（坐席要做）"), "#f1f3f4")
        self.question = QLabel()
        self.question.setWordWrap(True)
        self.question.setStyleSheet("font-size: 15px; font-weight: 600; margin-top: 6px;")
        self.options_layout = QVBoxLayout()
        self.options_layout.setSpacing(6)
        self.option_buttons: list[QPushButton] = []
        self.checklist_title = QLabel(self.tr("材料核对（↑↓ 选择，空格勾选群众已有的材料）"))
        self.checklist_title.setStyleSheet("font-weight: 600; margin-top: 6px;")
        self.checklist = QListWidget()
        self.checklist.setObjectName("walkthroughChecklist")
        self.checklist.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.checklist.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.checklist.setWordWrap(True)
        self.checklist.setStyleSheet("QListWidget::item { padding: 4px 2px; }")
        self.checklist.itemChanged.connect(self._on_checklist_item_changed)
        self.hints_title = QLabel(self.tr("填表提示"))
        self.hints_title.setStyleSheet("font-weight: 600; margin-top: 6px;")
        self.hints = QLabel()
        self.hints.setWordWrap(True)
        self.hints.setTextFormat(Qt.TextFormat.RichText)
        self.knowledge_title = QLabel(self.tr("相关知识"))
        self.knowledge_title.setStyleSheet("font-weight: 600; margin-top: 6px;")
        self.knowledge_links = QLabel()
        self.knowledge_links.setWordWrap(True)
        self.knowledge_links.setTextFormat(Qt.TextFormat.RichText)
        self.knowledge_links.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.knowledge_links.linkActivated.connect(self._on_knowledge_links_link_activated)

        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        self.outcome.setStyleSheet(
            "font-size: 15px; font-weight: 600; padding: 6px 10px; border-radius: 6px;"
        )
        self.notice_title = QLabel(self.tr("一次性告知"))
        self.notice_title.setStyleSheet("font-weight: 600; margin-top: 6px;")
        self.notice_view = QPlainTextEdit()
        self.notice_view.setObjectName("noticeText")
        self.notice_view.setReadOnly(True)
        self.notice_view.setMinimumHeight(320)
        self.copy_button = QPushButton(self.tr("复制告知书"))
        self.pdf_button = QPushButton(self.tr("导出 PDF…"))
        self.print_button = QPushButton(self.tr("打印…"))
        for button in (self.copy_button, self.pdf_button, self.print_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        self.pdf_button.clicked.connect(self._on_pdf_button_clicked)
        self.print_button.clicked.connect(self._on_print_button_clicked)
        notice_buttons = QHBoxLayout()
        notice_buttons.addWidget(self.copy_button)
        notice_buttons.addWidget(self.pdf_button)
        notice_buttons.addWidget(self.print_button)
        notice_buttons.addStretch(1)
        self.end_panel = QWidget()
        end_layout = QVBoxLayout(self.end_panel)
        end_layout.setContentsMargins(0, 6, 0, 0)
        end_layout.addWidget(self.outcome)
        end_layout.addWidget(self.notice_title)
        end_layout.addWidget(self.notice_view)
        end_layout.addLayout(notice_buttons)

        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(2, 2, 8, 2)
        content_layout.setSpacing(8)
        content_layout.addWidget(self.step_title)
        content_layout.addWidget(self.say_box)
        content_layout.addWidget(self.do_box)
        content_layout.addWidget(self.question)
        content_layout.addLayout(self.options_layout)
        content_layout.addWidget(self.checklist_title)
        content_layout.addWidget(self.checklist)
        content_layout.addWidget(self.hints_title)
        content_layout.addWidget(self.hints)
        content_layout.addWidget(self.knowledge_title)
        content_layout.addWidget(self.knowledge_links)
        content_layout.addWidget(self.end_panel)
        content_layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(content)
        self.scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        self.back_button = QPushButton(self.tr("← 上一步（Backspace）"))
        self.next_button = QPushButton(self.tr("继续（Enter）"))
        self.next_button.setObjectName("walkthroughNext")
        for button in (self.back_button, self.next_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.back_button.clicked.connect(self._on_back_button_clicked)
        self.next_button.clicked.connect(self._on_next_button_clicked)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #b3261e;")
        footer = QHBoxLayout()
        footer.addWidget(self.back_button)
        footer.addWidget(self.status, 1)
        footer.addWidget(self.next_button)

        run = QWidget()
        run_layout = QVBoxLayout(run)
        run_layout.setContentsMargins(10, 8, 10, 8)
        run_layout.addLayout(header)
        run_layout.addWidget(self.notes_label)
        run_layout.addWidget(self.scroll, 1)
        run_layout.addLayout(footer)

        self.pages = QStackedWidget()
        self.pages.addWidget(empty)
        self.pages.addWidget(pick)
        self.pages.addWidget(run)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages)

        keys: list[tuple[QKeySequence, object]] = []
        for number in range(1, MAX_OPTIONS + 1):
            key = getattr(Qt.Key, f"Key_{number}")
            keys.append((QKeySequence(key), lambda n=number: self._choose(n)))
            keys.append(
                (
                    QKeySequence(Qt.KeyboardModifier.KeypadModifier | key),
                    lambda n=number: self._choose(n),
                )
            )
        keys += [
            (QKeySequence(Qt.Key.Key_Return), self._on_enter),
            (QKeySequence(Qt.KeyboardModifier.KeypadModifier | Qt.Key.Key_Enter), self._on_enter),
            (QKeySequence(Qt.Key.Key_Backspace), self._go_back),
            (QKeySequence(Qt.KeyboardModifier.AltModifier | Qt.Key.Key_Left), self._go_back),
        ]
        self._shortcuts: list[QShortcut] = []
        for sequence, slot in keys:
            shortcut = QShortcut(sequence, self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)  # type: ignore[arg-type]
            self._shortcuts.append(shortcut)

        self._show_message(self.tr("请先选择一个会话"))

    # -- dialogs (each answered as a future, see ui.asking) -----------------------------

    @classmethod
    def ask_pdf_path(cls, parent: QWidget, suggested: str) -> asyncio.Future[str | None]:
        """Ask where to save the PDF; resolves to ``None`` when the agent cancels."""
        asked = ask_save_file(
            parent,
            parent.tr("导出一次性告知书"),
            suggested,
            parent.tr("PDF 文件 (*.pdf)"),
            suffix=".pdf",
        )
        return mapped(asked, lambda path: str(path) if path is not None else None)

    @classmethod
    def ask_printer(cls, parent: QWidget) -> asyncio.Future[QPrinter | None]:
        """Let the agent choose a printer; resolves to ``None`` when cancelled."""
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        prepare_printer(printer)
        dialog = QPrintDialog(printer, parent)
        dialog.setWindowTitle(parent.tr("打印一次性告知书"))
        # The dialog is deleted when it closes; the printer is ours and lives on.
        return ask_dialog(dialog, lambda: printer)

    # -- public API -----------------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        return self._ctx.session_id

    @property
    def state(self) -> RunState | None:
        """The run state shown now (``None`` before a run starts)."""
        return self._state

    @property
    def walkthrough(self) -> Walkthrough | None:
        return self._wt

    async def show_session(self, session_id: str | None) -> None:
        """Show ``session_id``'s run (or the scripts to start); ``None`` clears."""
        edits_before = self._edits
        same_session = session_id == self._ctx.session_id
        ctx = await self.ops.query(load_context, self.store, self.scripts, session_id, self.user.id)
        if ctx.session_id != session_id:
            return
        keep_local = (
            same_session
            and self._state is not None
            and (self._edits != edits_before or (ctx.run is not None and ctx.run.rev < self._rev))
        )
        if keep_local:
            # A save of ours is newer than what was read: keep the run, refresh the rest.
            assert self._state is not None
            if ctx.walkthrough is not None and ctx.run is not None:
                same_run = ctx.run.state.walkthrough_id == self._state.walkthrough_id
                self._ctx = ctx if same_run else self._ctx
            else:
                self._ctx = _replace(
                    self._ctx,
                    session=ctx.session or self._ctx.session,
                    can_edit=ctx.can_edit,
                    read_only_reason=ctx.read_only_reason,
                )
            self._render_run()
            return
        if not same_session:
            self._save_error = ""
        self._ctx = ctx
        self._wt = ctx.walkthrough
        self._state = ctx.run.state if ctx.run is not None and ctx.walkthrough else None
        self._rev = ctx.run.rev if ctx.run is not None else 0
        self._render()

    def notice(self) -> Notice | None:
        """The notice for the run so far (complete once an end step is reached)."""
        if self._wt is None or self._state is None:
            return None
        session = self._ctx.session
        return build_notice(
            self._wt,
            self._state,
            caller_name=(session.caller_name if session else "") or None,
            matter_name=self._ctx.matter_name or None,
        )

    def notice_meta(self) -> NoticeMeta:
        session = self._ctx.session
        return NoticeMeta(
            caller_name=(session.caller_name if session else "") or "",
            staff_name=self.user.display_name,
            staff_number=self.user.staff_number,
            office=self._ctx.office or self.office,
            day=date.today(),
        )

    # -- rendering ------------------------------------------------------------------------

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.pages.setCurrentIndex(self.PAGE_EMPTY)

    def _render(self) -> None:
        ctx = self._ctx
        if ctx.session_id is None:
            self._show_message(self.tr("请先在会话列表中选择一个会话"))
            return
        if ctx.session is None or (ctx.problem and ctx.walkthrough is None):
            self._show_message(ctx.problem or self.tr("本机没有这个会话的数据"))
            return
        if self._state is None:
            self._render_picker()
            return
        self._render_run()

    def _render_picker(self) -> None:
        ctx = self._ctx
        session = ctx.session
        assert session is not None
        for button in self.start_buttons:
            self.pick_list.removeWidget(button)
            button.deleteLater()
        self.start_buttons = []
        if session.matter_code:
            self.pick_title.setText(
                self.tr("导办：{0}").format(ctx.matter_name or session.matter_code)
            )
        else:
            self.pick_title.setText(self.tr("导办：本会话未指定事项"))
        usable = [c for c in ctx.choices if c.walkthrough is not None]
        if not usable:
            if session.matter_code:
                hint = self.tr("事项“{0}”暂无导办脚本。").format(
                    ctx.matter_name or session.matter_code
                )
            else:
                hint = self.tr("本机还没有导办脚本，请稍候同步。")
            self.pick_hint.setText(hint)
        elif not ctx.can_edit:
            self.pick_hint.setText(ctx.read_only_reason + self.tr("（尚未开始导办）"))
        else:
            first = self.tr("按 Enter 开始第一个脚本。") if len(usable) > 1 else ""
            self.pick_hint.setText(
                self.tr("选择导办脚本开始，进度会随时保存，断线或重启后可从原步骤继续。") + first
            )
        for choice in usable:
            info = choice.info
            text = self.tr("开始导办：{0}（第 {1} 版）").format(info.title, info.version)
            if info.needs_review:
                text += self.tr("  ⚠ 需复核")
            button = QPushButton(text)
            button.setObjectName("startWalkthrough")
            button.setMinimumHeight(36)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setEnabled(ctx.can_edit)
            if info.needs_review:
                button.setToolTip(info.review_note)
            button.clicked.connect(lambda _checked=False, c=choice: self._start(c))
            self.pick_list.addWidget(button)
            self.start_buttons.append(button)
        self.pages.setCurrentIndex(self.PAGE_PICK)

    def _render_run(self) -> None:
        wt, state, ctx = self._wt, self._state, self._ctx
        assert wt is not None and state is not None
        try:
            v = view(wt, state)
        except WalkthroughError as exc:
            self._show_message(self.tr("导办进度无法显示：{0}").format(exc))
            return
        self._view = v
        had_focus = self._has_focus()
        self._rendering = True
        try:
            info = ctx.run_info
            version = state.version
            self.script_label.setText(self.tr("{0} · 第 {1} 版").format(wt.title, version))
            self.review_badge.setVisible(bool(info and info.needs_review))
            self.review_badge.setToolTip(info.review_note if info else "")
            self.progress_label.setText(
                self.tr("第 {0} 步，共 {1} 步").format(v.step_number, v.estimated_total)
            )
            notes = []
            if ctx.latest_version and ctx.latest_version > version:
                notes.append(
                    self.tr("已发布第 {0} 版；本会话继续使用开始时的第 {1} 版。").format(
                        ctx.latest_version, version
                    )
                )
            if info and info.needs_review:
                notes.append(self.tr("脚本需复核：{0}").format(info.review_note))
            if not ctx.can_edit:
                notes.append(ctx.read_only_reason)
            self.notes_label.setText("\n".join(notes))
            self.notes_label.setVisible(bool(notes))

            self.step_title.setText(v.title)
            self.say_box.set_text(v.say)
            self.do_box.set_text(v.do)
            self._render_options(v, ctx.can_edit and not v.completed)
            self._render_checklist(v, ctx.can_edit and not v.completed)
            self._render_hints(v)
            self._render_knowledge(v)
            self._render_end(v)
            editable = ctx.can_edit and not v.completed
            self.back_button.setEnabled(editable and v.can_back)
            if v.is_end:
                self.next_button.setText(
                    self.tr("导办已完成") if v.completed else self.tr("完成导办（Enter）")
                )
                self.next_button.setEnabled(editable)
            elif v.options:
                # A question step moves on by its answer, not by Enter.
                self.next_button.setText(
                    self.tr("按 1–{0} 选择答案").format(min(len(v.options), MAX_OPTIONS))
                )
                self.next_button.setEnabled(False)
            else:
                self.next_button.setText(self.tr("继续（Enter）"))
                self.next_button.setEnabled(editable and v.can_advance)
            self._set_status(self._save_error)
        finally:
            self._rendering = False
        self.pages.setCurrentIndex(self.PAGE_RUN)
        if had_focus:
            # Keep the keys working: Space ticks in the checklist, the rest is shortcuts.
            if not self.checklist.isHidden() and self.checklist.count():
                self.checklist.setFocus()
            else:
                self.setFocus()

    def _has_focus(self) -> bool:
        # Only where the agent is working with the player: a refresh of a tool in a
        # background tab must not pull the keyboard away from the note being typed.
        focus = QApplication.focusWidget()
        return focus is not None and (focus is self or self.isAncestorOf(focus))

    def _set_status(self, text: str, *, ok: bool = False) -> None:
        self.status.setStyleSheet("color: #2e7d32;" if ok else "color: #b3261e;")
        self.status.setText(text)

    def _render_options(self, v: StepView, enabled: bool) -> None:
        for button in self.option_buttons:
            self.options_layout.removeWidget(button)
            button.deleteLater()
        self.option_buttons = []
        self.question.setVisible(v.prompt is not None)
        self.question.setText(v.prompt or "")
        for number, option in enumerate(v.options[:MAX_OPTIONS], start=1):
            button = QPushButton(f"{number}   {option.label}")
            button.setObjectName("walkthroughOption")
            button.setMinimumHeight(34)
            button.setStyleSheet("text-align: left; padding-left: 12px; font-size: 14px;")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setEnabled(enabled)
            button.setToolTip(self.tr("按 {0} 键选择").format(number))
            button.clicked.connect(lambda _checked=False, n=number: self._choose(n))
            self.options_layout.addWidget(button)
            self.option_buttons.append(button)

    def _render_checklist(self, v: StepView, enabled: bool) -> None:
        self.checklist.blockSignals(True)
        row = self.checklist.currentRow()
        self.checklist.clear()
        for item_view in v.checklist:
            item = item_view.item
            text = f"{item_view.name}（{item.form} {item.count} 份）"
            if not item.required:
                text += self.tr("［可选］")
            if item_view.note:
                text += f"\n{item_view.note}"
            entry = QListWidgetItem(text)
            entry.setData(Qt.ItemDataRole.UserRole, item.id)
            flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            if enabled:
                flags |= Qt.ItemFlag.ItemIsUserCheckable
            entry.setFlags(flags)
            entry.setCheckState(
                Qt.CheckState.Checked if item_view.ticked else Qt.CheckState.Unchecked
            )
            self.checklist.addItem(entry)
        if self.checklist.count():
            self.checklist.setCurrentRow(min(max(row, 0), self.checklist.count() - 1))
        self.checklist.blockSignals(False)
        shown = bool(v.checklist)
        self.checklist_title.setVisible(shown)
        self.checklist.setVisible(shown)
        height = sum(self.checklist.sizeHintForRow(i) for i in range(self.checklist.count()))
        self.checklist.setFixedHeight(height + 2 * self.checklist.frameWidth() + 4)

    def _render_hints(self, v: StepView) -> None:
        e = html.escape
        rows = "".join(f"<li><b>{e(h.field)}</b>：{e(h.hint)}</li>" for h in v.field_hints)
        self.hints.setText(f"<ul style='margin-left:-20px'>{rows}</ul>" if rows else "")
        self.hints_title.setVisible(bool(rows))
        self.hints.setVisible(bool(rows))

    def _render_knowledge(self, v: StepView) -> None:
        e = html.escape
        links = []
        for ref in v.knowledge_refs:
            title, current = self._ctx.knowledge.get(ref.entry_id, ("", 0))
            label = title or ref.entry_id
            stale = ""
            if current and current != ref.version:
                stale = self.tr("（脚本引用第 {0} 版，现为第 {1} 版）").format(ref.version, current)
            elif not current:
                stale = self.tr("（本机暂无此条目）")
            links.append(
                f"<a href='{e(ref.entry_id)}'>{e(label)}</a>"
                f"<span style='color:#e65100'>{e(stale)}</span>"
            )
        self.knowledge_links.setText("<br>".join(links))
        self.knowledge_title.setVisible(bool(links))
        self.knowledge_links.setVisible(bool(links))

    def _render_end(self, v: StepView) -> None:
        self.end_panel.setVisible(v.is_end)
        if not v.is_end:
            return
        notice = self.notice()
        assert notice is not None and notice.outcome is not None
        colours = {
            "ready_to_submit": ("#e8f5e9", "#1b5e20"),
            "missing_materials": ("#fff3e0", "#e65100"),
            "not_eligible": ("#fde0dc", "#b3261e"),
            "referred": ("#e3f2fd", "#0d47a1"),
        }
        background, colour = colours.get(notice.outcome, ("#eeeeee", "#212121"))
        done = self.tr("（已完成）") if v.completed else ""
        self.outcome.setText(
            self.tr("办理结论：{0}{1}").format(OUTCOME_LABELS[notice.outcome], done)
        )
        self.outcome.setStyleSheet(
            f"font-size: 15px; font-weight: 600; padding: 6px 10px; border-radius: 6px;"
            f" background: {background}; color: {colour};"
        )
        self.notice_view.setPlainText(notice.as_text())

    # -- actions ------------------------------------------------------------------------

    def _start(self, choice: ScriptChoice) -> None:
        if not self._ctx.can_edit or choice.walkthrough is None or self._state is not None:
            return
        wt = choice.walkthrough
        self._wt = wt
        self._ctx = _replace(
            self._ctx,
            run_info=choice.info,
            walkthrough=wt,
            latest_version=choice.info.version,
        )
        self._change(start(wt))

    def _editable(self) -> bool:
        return (
            self._ctx.can_edit
            and self._wt is not None
            and self._state is not None
            and not self._state.completed
            and self.pages.currentIndex() == self.PAGE_RUN
        )

    def _choose(self, number: int) -> None:
        if not self._editable() or self._view is None:
            return
        options = self._view.options
        if not 1 <= number <= min(len(options), MAX_OPTIONS):
            return
        assert self._wt is not None and self._state is not None
        self._try(lambda wt, s: answer(wt, s, options[number - 1].key))

    def _on_enter(self) -> None:
        if self.pages.currentIndex() == self.PAGE_PICK:
            usable = [c for c in self._ctx.choices if c.walkthrough is not None]
            if usable:
                self._start(usable[0])
            return
        if not self._editable() or self._view is None:
            return
        if self._view.is_end:
            self._try(finish)
        elif self._view.can_advance:
            self._try(advance)

    def _go_back(self) -> None:
        if self._editable() and self._view is not None and self._view.can_back:
            self._try(back)

    def _try(self, op) -> None:  # type: ignore[no-untyped-def]
        assert self._wt is not None and self._state is not None
        try:
            new_state = op(self._wt, self._state)
        except WalkthroughError as exc:
            self._set_status(str(exc))
            return
        self._change(new_state)

    def _change(self, new_state: RunState) -> None:
        """Show the new state at once and queue its save (local cache + outbox)."""
        session_id = self._ctx.session_id
        assert session_id is not None
        self._state = new_state
        self._edits += 1
        self._save_error = ""
        # Started now: the op submits to the single database thread before its first
        # await, and tasks start in the order they were made, so saves reach the
        # cache in the order the agent made them.
        self.ops.start(
            Op(
                db=partial(self.scripts.save_run, session_id, new_state, self.user.id),
                outbox=True,
                success=lambda saved: self._on_saved(session_id, saved),
                prefix=self.tr("导办进度未能保存到本机："),
                report=self._on_save_failed,
                expected=(OSError,),
            )
        )
        self._render_run()

    def _on_saved(self, session_id: str, saved: SavedRun) -> None:
        if session_id == self._ctx.session_id:
            self._rev = max(self._rev, saved.rev)
        self.run_saved.emit(session_id)

    def _on_save_failed(self, text: str) -> None:
        # A full disk, a locked file: say so, keep the screen.
        self._save_error = text
        self._set_status(text)

    def _on_checklist_item_changed(self, item: QListWidgetItem) -> None:
        if self._rendering or not self._editable():
            return
        item_id = str(item.data(Qt.ItemDataRole.UserRole))
        ticked = item.checkState() == Qt.CheckState.Checked
        assert self._state is not None
        if self._state.ticks.get(item_id, False) == ticked:
            return
        self._try(lambda wt, s: tick(wt, s, item_id, ticked))

    def _on_back_button_clicked(self) -> None:
        self._go_back()

    def _on_next_button_clicked(self) -> None:
        self._on_enter()

    def _on_knowledge_links_link_activated(self, link: str) -> None:
        self.knowledge_requested.emit(link)

    # -- the notice ---------------------------------------------------------------------

    def notice_page_html(self) -> str | None:
        notice = self.notice()
        return notice_html(notice, self.notice_meta()) if notice is not None else None

    def _on_copy_button_clicked(self) -> None:
        notice = self.notice()
        if notice is None:
            return
        QGuiApplication.clipboard().setText(notice.as_text())
        self._set_status(self.tr("告知书已复制，可粘贴到聊天窗口或短信"), ok=True)
        self.notice_copied.emit()

    @owned_slot()
    async def _on_pdf_button_clicked(self) -> None:
        page = self.notice_page_html()
        if page is None:
            return
        session = self._ctx.session
        caller = (session.caller_name if session else "") or self.tr("办事群众")
        notice = self.notice()
        matter = notice.matter_name if notice is not None else ""
        name = "-".join(
            p for p in (self.tr("一次性告知书"), matter, caller, str(date.today())) if p
        )
        suggested = str(start_folder(NOTICE_PDF) / f"{name}.pdf")
        path = await type(self).ask_pdf_path(self, suggested)
        if path is None:
            return
        page = self.notice_page_html() or page  # what is shown now, the dialog took a while
        try:
            print_notice(page, pdf_printer(path))
            if not Path(path).is_file():
                raise OSError(self.tr("文件未生成，请检查保存位置是否可写"))
        except OSError as exc:
            self._set_status(self.tr("导出失败：{0}").format(exc))
            return
        remember_folder(NOTICE_PDF, path)
        self._set_status(self.tr("已导出：{0}").format(path), ok=True)
        self.notice_exported.emit(path)

    @owned_slot()
    async def _on_print_button_clicked(self) -> None:
        if self.notice_page_html() is None:
            return
        printer = await type(self).ask_printer(self)
        page = self.notice_page_html()
        if printer is None or page is None:
            return
        print_notice(page, printer)
        self._set_status(self.tr("已发送到打印机"), ok=True)
