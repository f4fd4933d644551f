"""Where a save dialog starts: the folder the person used last for that kind of file.

Remembered in ``QSettings`` under ``folders/<kind>``; the first time, and whenever the
remembered folder is gone, the user's Documents folder (the home folder when there
is none) — never the application's data folder, which a person neither knows nor
should be filing into.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

FIGURES_EXPORT = "figures_export"
NOTICE_PDF = "notice_pdf"


def documents_folder() -> Path:
    """The user's Documents folder, or their home folder when it does not exist."""
    located = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    if located and Path(located).is_dir():
        return Path(located)
    return Path.home()


def start_folder(kind: str) -> Path:
    """The folder a save dialog for ``kind`` opens in."""
    value = QSettings().value(f"folders/{kind}")
    if value:
        folder = Path(str(value))
        if folder.is_dir():
            return folder
    return documents_folder()


def remember_folder(kind: str, saved: Path | str) -> None:
    """Remember the folder of a file just saved (``saved`` may be the file or a folder)."""
    path = Path(saved)
    folder = path if path.is_dir() else path.parent
    QSettings().setValue(f"folders/{kind}", str(folder))
