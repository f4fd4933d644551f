"""Reading knowledge import files (XLSX, CSV, JSON Lines) and writing the template and
the export, with every problem named by row and column.

Columns are found by their Chinese title (:data:`core.knowledge_rules.FIELD_LABELS`)
or their wire name, so a template filled in by hand and a file exported by another
system both work. Row numbers are what a person sees: in a sheet or CSV the header is
row 1 and the first entry row 2; in JSON Lines the line number.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.knowledge_rules import EDITABLE, FIELD_LABELS, FieldProblem, clean_entry, title_key

FORMATS = ("xlsx", "csv", "jsonl")
ID_COLUMN = ("id", "编号")
_BY_HEADER: dict[str, str] = {label: name for name, label in FIELD_LABELS.items()}
_BY_HEADER |= {n: n for n in EDITABLE} | {h: "id" for h in ID_COLUMN}
MAX_ROWS = 50_000


class ImportFileError(ValueError):
    """The file as a whole cannot be read (message in Chinese)."""


@dataclass(frozen=True)
class RowProblem:
    row: int
    column: str
    """The column title as in the template (标题), or 文件 for the whole row."""
    message: str

    def to_wire(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class ImportPlan:
    """What an import would do: the good rows (wire shape, with their row number) and
    every problem. A row with any problem is left out."""

    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    total: int = 0

    @property
    def bad_rows(self) -> list[int]:
        return sorted({p.row for p in self.problems})


def detect_format(filename: str, data: bytes) -> str:
    name = filename.lower()
    if name.endswith(".xlsx") or data[:2] == b"PK":
        return "xlsx"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "csv"


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 (which many existing bases export)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise ImportFileError("文件编码无法识别：请保存为 UTF-8 或 GB18030 编码的 CSV") from exc


def read_rows(filename: str, data: bytes) -> list[tuple[int, dict[str, Any]]]:
    """Every entry row of the file as (row number, {wire name: value})."""
    fmt = detect_format(filename, data)
    if fmt == "xlsx":
        rows = _xlsx_rows(data)
    elif fmt == "jsonl":
        rows = _jsonl_rows(decode_text(data))
    else:
        rows = _csv_rows(decode_text(data))
    if len(rows) > MAX_ROWS:
        raise ImportFileError(f"一次最多导入 {MAX_ROWS} 行，本文件有 {len(rows)} 行")
    return rows


def _columns(header: Iterable[Any]) -> list[str | None]:
    names = [
        _BY_HEADER.get(str(h).strip().lstrip("\ufeff").rstrip("*")) if h else None for h in header
    ]
    if "title" not in names:
        raise ImportFileError("第 1 行没有「标题」列：请使用导入模板的表头")
    return names


def _table(rows: Iterable[Iterable[Any]]) -> list[tuple[int, dict[str, Any]]]:
    it = iter(rows)
    try:
        header = list(next(it))
    except StopIteration:
        raise ImportFileError("文件是空的") from None
    names = _columns(header)
    out: list[tuple[int, dict[str, Any]]] = []
    for number, values in enumerate(it, start=2):
        values = list(values)
        if not any(v not in (None, "") and str(v).strip() for v in values):
            continue
        record = {n: v for n, v in zip(names, values, strict=False) if n}
        out.append((number, record))
    return out


def _csv_rows(text: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        return _table(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ImportFileError(f"CSV 格式有误：{exc}") from exc


def _xlsx_rows(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise ImportFileError("无法读取该 XLSX 文件（文件损坏或不是 Excel 工作簿）") from exc
    try:
        sheet = book.worksheets[0]
        return _table(sheet.iter_rows(values_only=True))
    finally:
        book.close()


def _jsonl_rows(text: str) -> list[tuple[int, dict[str, Any]]]:
    out: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise ImportFileError(f"第 {number} 行不是有效的 JSON") from exc
        if not isinstance(value, dict):
            raise ImportFileError(f"第 {number} 行应为一个 JSON 对象")
        out.append((number, {_BY_HEADER.get(str(k), str(k)): v for k, v in value.items()}))
    return out


def plan_import(
    rows: list[tuple[int, dict[str, Any]]],
    existing_titles: dict[str, str],
) -> ImportPlan:
    """Check every row (:func:`core.knowledge_rules.clean_entry`) and duplicate titles,
    within the file and against ``existing_titles`` ({title_key: entry id}); a row
    that names an existing entry's id edits that entry and may keep its title."""
    plan = ImportPlan(total=len(rows))
    first_row: dict[str, int] = {}
    for number, raw in rows:
        entry, problems = clean_entry(raw)
        found = [RowProblem(number, p.label, p.message) for p in problems]
        entry_id = str(raw.get("id") or "").strip() or None
        if entry_id and len(entry_id) > 64:
            found.append(RowProblem(number, "编号", "编号超过 64 字"))
        key = title_key(entry["title"])
        if key:
            if key in first_row:
                found.append(
                    RowProblem(number, FIELD_LABELS["title"], f"标题与第 {first_row[key]} 行重复")
                )
            else:
                first_row[key] = number
            owner = existing_titles.get(key)
            if owner is not None and owner != entry_id:
                found.append(RowProblem(number, FIELD_LABELS["title"], "知识库中已有同名条目"))
        if found:
            plan.problems.extend(found)
        else:
            plan.rows.append((number, entry | {"id": entry_id}))
    return plan


def template_header() -> list[str]:
    return [FIELD_LABELS[n] + ("*" if n in ("title", "answer") else "") for n in EDITABLE]


TEMPLATE_EXAMPLE = {
    "title": "社保卡丢了怎么补办？",
    "answer": "可携带本人身份证到任一社保卡服务网点补办，也可在“江宁办事”App 线上申请。",
    "category": "社会保障/社保卡/补换",
    "issuing_unit": "江宁市人力资源和社会保障局",
    "kind": "日常咨询",
    "keywords": "社保卡，补卡，挂失",
    "scope": "市",
    "region": "江宁市",
    "matter_code": "",
    "department": "人社局",
    "service_type": "consult",
    "effective_date": "2026-01-01",
    "expiry_date": "",
    "source": "江宁市社会保障卡管理办法",
}


def csv_bytes(header: list[str], rows: Iterable[list[Any]]) -> bytes:
    """UTF-8 with BOM, so that Excel opens it with the right characters."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def xlsx_bytes(header: list[str], rows: Iterable[list[Any]], *, title: str = "知识库") -> bytes:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(title)
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template(fmt: str) -> bytes:
    row = [_cell(TEMPLATE_EXAMPLE[n]) for n in EDITABLE]
    if fmt == "csv":
        return csv_bytes(template_header(), [row])
    return xlsx_bytes(template_header(), [row], title="导入模板")


def export_header() -> list[str]:
    return ["编号", *(FIELD_LABELS[n] for n in EDITABLE), "版本"]


def export_row(entry: dict[str, Any]) -> list[Any]:
    return [entry["id"], *(_cell(entry.get(n)) for n in EDITABLE), entry.get("version")]


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return "，".join(str(v) for v in value)
    return "" if value is None else value


def problems_of(field_problems: list[FieldProblem]) -> str:
    return "；".join(p.message for p in field_problems)
