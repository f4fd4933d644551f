"""A photo the caller sent, whole: a window beside the console (not modal: the agent
reads the document in it while answering), scaled to fit the screen, Esc closes it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

SCREEN_SHARE = 0.8
"""The most of the screen the photo may take at first."""


class PhotoDialog(QDialog):
    def __init__(self, parent: QWidget | None, image: QImage, title: str = "") -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle(title or self.tr("群众发来的照片"))
        self.setModal(False)
        screen = (parent.screen() if parent is not None else None) or (
            QGuiApplication.primaryScreen()
        )
        room = screen.availableGeometry().size() * SCREEN_SHARE if screen else None
        pixmap = QPixmap.fromImage(image)
        if room is not None and (pixmap.width() > room.width() or pixmap.height() > room.height()):
            pixmap = pixmap.scaled(
                room,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        self.image = QLabel()
        self.image.setObjectName("photo")
        self.image.setAccessibleName(self.tr("群众发来的照片"))
        self.image.setPixmap(pixmap)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scroll = QScrollArea()
        scroll.setWidget(self.image)
        scroll.setWidgetResizable(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        if close is not None:
            close.setText(self.tr("关闭"))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(buttons)
        self.resize(pixmap.width() + 40, pixmap.height() + 80)
