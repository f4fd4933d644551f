"""Telling the person that something arrived: a tray message and a short sound.

Where the desktop has no system tray (or Qt runs offscreen) the message goes to the
window's status bar only, and where there is no audio device the sound falls back
to the system beep; nothing complains. Qt Multimedia is loaded only when a real
display is in use, because loading it probes audio back-ends noisily.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from core.resources import resource_path

log = logging.getLogger(__name__)

SOUND = resource_path("sounds", "new_session.wav")
HEADLESS = frozenset({"offscreen", "minimal", "vnc"})


def _badge_icon() -> QIcon:
    pixmap = QPixmap(32, 32)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor("#1565c0"))
    painter.setPen(QColor("#1565c0"))
    painter.drawEllipse(2, 2, 28, 28)
    painter.end()
    return QIcon(pixmap)


class Notifier(QObject):
    """Shows notifications; ``history`` keeps what was shown (for the status bar and tests)."""

    notified = Signal(str, str)
    """(title, text) of each notification, whatever the way it was shown."""
    activated = Signal()
    """The person clicked the tray icon or a tray message: bring the console forward."""

    def __init__(self, parent: QObject | None = None, *, sound: bool = True) -> None:
        super().__init__(parent)
        self.history: list[tuple[str, str]] = []
        self.sounds_played = 0
        self.sound_enabled = sound
        self._headless = QGuiApplication.platformName() in HEADLESS
        self.tray: QSystemTrayIcon | None = None
        if not self._headless and QSystemTrayIcon.isSystemTrayAvailable():
            icon = QApplication.windowIcon()
            self.tray = QSystemTrayIcon(icon if not icon.isNull() else _badge_icon(), self)
            self.tray.setToolTip(self.tr("帮办工作台"))
            self.tray.activated.connect(self._on_tray_activated)
            self.tray.messageClicked.connect(self.activated)
            self.tray.show()
        self._effect: Any = None
        self._effect_tried = False

    def _on_tray_activated(self, _reason: QSystemTrayIcon.ActivationReason) -> None:
        self.activated.emit()

    @property
    def sound_method(self) -> str:
        """How a sound is played here: ``effect`` (the WAV), ``beep`` or ``off``."""
        if not self.sound_enabled:
            return "off"
        self._load_effect()
        return "effect" if self._effect is not None else "beep"

    def _load_effect(self) -> None:
        if self._effect_tried:
            return
        self._effect_tried = True
        if self._headless or not SOUND.exists():
            return
        try:
            from PySide6.QtMultimedia import QMediaDevices, QSoundEffect
        except ImportError:
            return
        if not QMediaDevices.audioOutputs():
            return
        effect = QSoundEffect(self)
        effect.setSource(QUrl.fromLocalFile(str(SOUND)))
        effect.setVolume(0.6)
        self._effect = effect

    def play_sound(self) -> None:
        if not self.sound_enabled:
            return
        self._load_effect()
        self.sounds_played += 1
        if self._effect is not None:
            self._effect.play()
        elif not self._headless:
            QApplication.beep()

    def notify(self, title: str, text: str, *, sound: bool = False) -> None:
        self.history.append((title, text))
        if self.tray is not None:
            self.tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 6000)
        if sound:
            self.play_sound()
        self.notified.emit(title, text)

    def close(self) -> None:
        if self.tray is not None:
            self.tray.hide()
