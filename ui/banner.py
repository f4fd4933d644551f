"""The message line over a page: green when something was done, red when it was
refused; it hides itself after a while (the team board and the admin page use it)."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QWidget

SECONDS = 12
"""How long a message stays."""

_DONE = "color: #1b5e20; background: #e8f5e9;"
_REFUSED = "color: #b3261e; background: #fde0dc;"


class Banner(QLabel):
    def __init__(self, name: str, parent: QWidget | None = None, *, seconds: int = SECONDS) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setWordWrap(True)
        self.hide()
        self.seconds = seconds
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)

    def say(self, text: str, *, error: bool = False) -> None:
        colours = _REFUSED if error else _DONE
        self.setStyleSheet(f"{colours} padding: 6px 10px; border-radius: 4px;")
        self.setText(text)
        self.show()
        self._timer.start(self.seconds * 1000)

    def stop(self) -> None:
        """No more hiding (the page is closing)."""
        self._timer.stop()
