"""Where the shipped resource files are: the checkout's ``resources/`` or the wheel's copy.

In a checkout the files are read where they are kept (``resources/`` beside ``core/``);
an installed wheel carries the same tree as the package ``bangban_resources`` (see
``setup.py``). Code never builds paths relative to its own file for these: it asks
:func:`resource_path`.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

PACKAGE = "bangban_resources"


@cache
def resources_root() -> Path:
    """The folder holding ``demo/``, ``join/``, ``sounds/`` and ``walkthroughs/``."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "resources").is_dir():
        return checkout / "resources"
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"找不到程序资源文件（{PACKAGE}），请重新安装")
    return Path(next(iter(spec.submodule_search_locations)))


def resource_path(*parts: str) -> Path:
    """``resource_path("templates", "base.html")``: a shipped file or folder."""
    return resources_root().joinpath(*parts)
