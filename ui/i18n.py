"""Qt's own texts in Chinese: the file dialogs, message-box buttons, context menus.

Our own texts are Chinese at the source (``self.tr``); Qt's widgets carry English
texts that its ``qtbase`` catalogue translates. Without it a 另存为 dialog says
"Look in:" and "File name:".
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

CHINESE = QLocale(
    QLocale.Language.Chinese, QLocale.Script.SimplifiedChineseScript, QLocale.Country.China
)

_installed: list[QTranslator] = []
"""Kept referenced here as well as by their Qt parent, so that no garbage collection
of a Python wrapper can take a translator away from the application."""


QT_GAPS: dict[tuple[str, str], str] = {
    ("QFileDialog", "&Look in:"): "查找范围(&L)：",
    ("QFileDialog", "Files of &type:"): "文件类型(&T)：",
}
"""Texts Qt 6 added mnemonics to after its Chinese catalogue was last updated: the
catalogue knows 「Look in:」 but not 「&Look in:」, so the file dialog said "Look in:"."""


class _GapTranslator(QTranslator):
    """Our Chinese for the few Qt texts that ``qtbase_zh_CN.qm`` lacks."""

    def translate(  # type: ignore[override]
        self, context: str, source: str, disambiguation: str | None = None, n: int = -1
    ) -> str | None:
        # None, not "": an empty string would be taken as the translation of everything.
        return QT_GAPS.get((context, source))

    def isEmpty(self) -> bool:
        return False


def install_qt_translations(app: QCoreApplication) -> bool:
    """Load Qt's Simplified Chinese catalogue (``qtbase_zh_CN.qm``) into ``app``.

    Also makes Chinese the default locale, so that dates and numbers in Qt's widgets
    (a date picker's month names, say) read the same. Safe to call more than once.

    Returns:
        Whether the catalogue was found and installed.
    """
    QLocale.setDefault(CHINESE)
    if any(t.parent() is app for t in _installed):
        return True
    translator = QTranslator(app)
    folder = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    if not translator.load(CHINESE, "qtbase", "_", folder):
        return False
    app.installTranslator(translator)
    _installed.append(translator)
    # Installed last, asked first; it answers only for its own few texts.
    gaps = _GapTranslator(app)
    app.installTranslator(gaps)
    _installed.append(gaps)
    return True
