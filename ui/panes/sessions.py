"""The sessions pane: the list of sessions and the one at hand."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from core.entities import MatterGuide, Session, SessionNote
from core.enums import Channel, ServiceType, SessionState
from core.masking import mask_id_number, mask_phone
from ui.models.sessions import SessionTableModel

EVENT_LABELS = {
    "created": "创建",
    "assigned": "分配",
    "accepted": "接入",
    "started": "开始办理",
    "held": "挂起",
    "resumed": "恢复",
    "escalated": "转办",
    "callback": "待回电",
    "closed": "办结",
    "evaluated": "好差评",
    "transferred": "转交",
    "reassigned": "改派",
    "revealed": "查看完整号码",
}


@dataclass
class SessionDetail:
    session: Session
    notes: list[tuple[SessionNote, bool]] = field(default_factory=list)
    matter: MatterGuide | None = None
    assignee_name: str = ""


class SessionsPane(QWidget):
    session_selected = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, first_response_seconds: int = 60) -> None:
        super().__init__(parent)
        self.model = SessionTableModel(self, first_response_seconds=first_response_seconds)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)

        self.title = QLabel(self.tr("会话"))
        self.title.setStyleSheet("font-size: 16px; font-weight: 600;")
        self.empty = QLabel(self.tr("正在从服务器同步会话…"))
        self.empty.setStyleSheet("color: #757575;")

        self.detail = QTextBrowser()
        self.detail.setOpenExternalLinks(False)
        self.detail.setPlaceholderText(self.tr("选择一个会话查看详情"))

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.title)
        top_layout.addWidget(self.empty)
        top_layout.addWidget(self.table)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(splitter)

    def set_sessions(self, sessions: list[Session], matter_names: dict[str, str]) -> None:
        current = self.current_session_id()
        self.model.set_sessions(sessions, matter_names)
        self.empty.setVisible(not sessions)
        self.empty.setText(self.tr("暂无会话"))
        if current is not None:
            row = self.model.row_of(current)
            if row >= 0:
                self.table.selectRow(row)

    def current_session_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        s = self.model.session_at(rows[0].row())
        return s.id if s else None

    def _on_table_selection_changed(self, _selected: QItemSelection, _old: QItemSelection) -> None:
        session_id = self.current_session_id()
        if session_id:
            self.session_selected.emit(session_id)

    def show_detail(self, detail: SessionDetail) -> None:
        s = detail.session
        e = html.escape
        rows = [
            ("状态", SessionState(s.state).label),
            ("来电人", s.caller_name or "（未留姓名）"),
            ("电话", mask_phone(s.caller_phone) or "—"),
            ("证件号", mask_id_number(s.caller_id_number) or "—"),
            ("渠道", Channel(s.channel).label),
            ("服务", ServiceType(s.service_type).label),
            ("事项", detail.matter.name if detail.matter else (s.matter_code or "一般咨询")),
            ("承办人", detail.assignee_name or "—"),
        ]
        parts = [f"<h3>{e(s.summary or '（无诉求描述）')}</h3><table cellspacing='4'>"]
        parts += [f"<tr><td style='color:#616161'>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in rows]
        parts.append("</table><h4>时间线</h4><ul>")
        for event in s.timeline:
            when = str(event.get("at", ""))[11:16]
            label = EVENT_LABELS.get(event.get("kind", ""), event.get("kind", ""))
            who = event.get("actor_name") or ""
            detail_text = "，".join(
                str(v)
                for k, v in (event.get("detail") or {}).items()
                if k in ("reason", "summary", "to", "department")
            )
            parts.append(f"<li>{e(when)} {e(who)} {e(label)} {e(detail_text)}</li>")
        parts.append("</ul><h4>内部备注</h4>")
        if not detail.notes:
            parts.append("<p style='color:#757575'>暂无备注</p>")
        for note, pending in detail.notes:
            flag = " <span style='color:#e65100'>（待同步）</span>" if pending else ""
            when = f"{note.created_at:%H:%M}"
            parts.append(f"<p><b>{e(note.author_name)}</b> {when}{flag}<br>{e(note.text)}</p>")
        self.detail.setHtml("".join(parts))
