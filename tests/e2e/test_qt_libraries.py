"""Every shared library Qt's xcb platform plugin needs is installed (issue 10).

A fresh machine without one of them starts ``main.py`` only to exit with Qt's
English "could not load the Qt platform plugin xcb"; ``.ci/install-deps`` must
install them all, and this test names any that ``ldd`` cannot find.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the xcb platform plugin exists only on Linux"
)


def qt_dir() -> Path:
    import PySide6

    return Path(PySide6.__file__).resolve().parent / "Qt"


def xcb_binaries() -> list[Path]:
    qt = qt_dir()
    found = [qt / "plugins" / "platforms" / "libqxcb.so"]
    found += sorted((qt / "lib").glob("libQt6XcbQpa.so*"))[:1]
    found += sorted((qt / "plugins" / "xcbglintegrations").glob("*.so"))
    return [p for p in found if p.exists()]


def missing_libraries(binary: Path) -> list[str]:
    out = subprocess.run(
        ["ldd", str(binary)], capture_output=True, text=True, check=False, timeout=60
    ).stdout
    return [line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line]


def test_the_xcb_plugin_and_its_integrations_exist() -> None:
    names = {p.name for p in xcb_binaries()}
    assert "libqxcb.so" in names, f"PySide6 has no xcb plugin under {qt_dir()}"
    assert any(n.startswith("libQt6XcbQpa") for n in names)


@pytest.mark.skipif(shutil.which("ldd") is None, reason="ldd is not installed")
def test_every_library_of_the_xcb_plugin_is_installed() -> None:
    missing = {str(b.relative_to(qt_dir())): missing_libraries(b) for b in xcb_binaries()}
    missing = {b: libs for b, libs in missing.items() if libs}
    assert not missing, (
        "Qt's xcb platform plugin cannot load; install the Debian packages of these "
        f"libraries in .ci/install-deps: {missing}"
    )


def test_install_deps_names_the_packages_qt_itself_names() -> None:
    script = (Path(__file__).resolve().parents[2] / ".ci" / "install-deps").read_text("utf-8")
    for package in ("libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "xvfb", "xauth"):
        assert package in script, package


def test_the_app_names_missing_libraries_itself() -> None:
    import main

    assert main.missing_qt_libraries() == []


def test_without_a_display_the_app_says_so_in_chinese(tmp_path: Path) -> None:
    import os

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}
    }
    env["BANGBAN_HOME"] = str(tmp_path / "home")
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = str(root)
    done = subprocess.run(
        [sys.executable, "main.py"],
        cwd=str(root),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "没有可用的图形界面" in done.stderr and "xvfb-run" in done.stderr
    assert "qt.qpa" not in done.stderr  # Qt never got to print its English error
