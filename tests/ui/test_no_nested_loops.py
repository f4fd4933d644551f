"""No nested event loop anywhere in ``ui/``: no ``exec()``, no static ``QMessageBox``
functions, no static ``QFileDialog.get…`` (see ``ui/asking.py`` for why)."""

from __future__ import annotations

import re
from pathlib import Path

UI = Path(__file__).resolve().parents[2] / "ui"

FORBIDDEN = [
    (re.compile(r"\.exec_?\("), "exec() spins a nested event loop"),
    (
        re.compile(r"QMessageBox\.(question|warning|information|critical|about|aboutQt)\("),
        "a static QMessageBox function spins a nested event loop",
    ),
    (re.compile(r"QFileDialog\.get\w*\("), "a static QFileDialog function spins a nested loop"),
    (re.compile(r"QInputDialog\.get\w*\("), "a static QInputDialog function spins a nested loop"),
]

OWNED_ELSEWHERE: set[tuple[str, str]] = set()


def offences(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if code.lstrip().startswith(('"', "'", "``")):
                continue  # docstrings that explain the rule
            for pattern, why in FORBIDDEN:
                match = pattern.search(code)
                if match and (path.name, match.group(0)) not in OWNED_ELSEWHERE:
                    found.append(f"{path.relative_to(root.parent)}:{number}: {why}: {line.strip()}")
    return found


def test_no_nested_event_loop_in_ui() -> None:
    assert offences(UI) == []


def test_the_check_finds_what_it_forbids(tmp_path: Path) -> None:
    package = tmp_path / "ui"
    package.mkdir()
    (package / "bad.py").write_text(
        "def f(d, p):\n"
        "    d.exec()\n"
        "    QMessageBox.warning(p, 'a', 'b')\n"
        "    QFileDialog.getSaveFileName(p)\n",
        encoding="utf-8",
    )
    assert len(offences(package)) == 3
