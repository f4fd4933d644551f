"""Panes that list synced records before their full screens exist."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QListWidget, QVBoxLayout, QWidget

from core.entities import Agent
from core.enums import Presence, Role


class TeamPane(QWidget):
    """班组: the lead's team at a glance (members and presence)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel(self.tr("班组成员"))
        title.setStyleSheet("font-size: 16px; font-weight: 600;")
        self.list = QListWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(title)
        layout.addWidget(self.list)

    def set_agents(self, agents: list[Agent], open_counts: dict[int, int]) -> None:
        self.list.clear()
        for a in agents:
            presence = Presence(a.presence).label if a.presence in set(Presence) else a.presence
            self.list.addItem(
                f"{a.display_name}（{a.staff_number}，{Role(a.role).label}） · {presence} · "
                f"在办 {open_counts.get(a.id, 0)}/{a.capacity}"
            )
