"""Command line: ``python -m core.walkthrough validate FILE… [--knowledge DIR]``.

Prints one ``file:line: error|warning [code] message`` line per issue and
``file: OK`` for each file without errors. Exit status: 0 when every file is
usable, 1 when any file has an error, 2 for bad arguments or knowledge files.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.walkthrough.validator import validate_file

_SUFFIXES = (".yaml", ".yml")


class KnowledgeFileError(ValueError):
    """A knowledge JSON file could not be read or has the wrong shape."""


def load_knowledge_versions(directory: str | Path) -> dict[str, int]:
    """Read entry ids and versions from every ``*.json`` file in ``directory``.

    Each file holds a list of objects with at least ``id`` and ``version`` (the
    demo files in ``resources/demo/knowledge`` have this shape); an object with
    an ``entries`` list is accepted as well. When an id occurs twice the higher
    version counts.

    Args:
        directory: The folder to read.

    Returns:
        Entry id to version.

    Raises:
        KnowledgeFileError: The folder or a file cannot be read or parsed.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise KnowledgeFileError(f"知识库目录不存在：{folder}")
    versions: dict[str, int] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise KnowledgeFileError(f"无法读取知识库文件 {path}：{exc}") from exc
        if isinstance(data, dict):
            data = data.get("entries")
        if not isinstance(data, list):
            raise KnowledgeFileError(f"知识库文件 {path} 应为条目列表")
        for entry in data:
            if not isinstance(entry, dict):
                raise KnowledgeFileError(f"知识库文件 {path} 中有不是对象的条目")
            entry_id = entry.get("id")
            version = entry.get("version")
            if not isinstance(entry_id, str) or not isinstance(version, int):
                raise KnowledgeFileError(f"知识库文件 {path} 中有缺少 id 或 version 的条目")
            versions[entry_id] = max(version, versions.get(entry_id, version))
    return versions


def _expand(paths: Sequence[str]) -> list[Path]:
    """Files as given; a folder stands for its YAML files in name order."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES))
        else:
            files.append(path)
    return files


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m core.walkthrough",
        description="导办脚本工具 (walkthrough script tools)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="检查导办脚本 (validate scripts)")
    validate.add_argument("files", nargs="+", help="YAML 文件或目录")
    validate.add_argument(
        "--knowledge",
        metavar="DIR",
        help="知识库 JSON 目录，用于检查引用的条目和版本",
    )
    args = parser.parse_args(argv)

    # A Windows console or a C locale may not encode Chinese; never crash on it.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")

    known: dict[str, int] | None = None
    if args.knowledge:
        try:
            known = load_knowledge_versions(args.knowledge)
        except KnowledgeFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    failed = False
    for path in _expand(args.files):
        _, issues = validate_file(path, known)
        for issue in issues:
            print(issue.format())
        if any(issue.is_error for issue in issues):
            failed = True
        else:
            print(f"{path}: OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
