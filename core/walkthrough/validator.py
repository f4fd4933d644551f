"""Check that a walkthrough can actually be used, and say where it cannot.

The loader reports schema problems; this module adds the logic checks that need
the whole script: duplicate ids, branches to missing steps, steps no path
reaches, steps from which no end can be reached (a loop with no way out),
variables used before any question sets them, and knowledge citations that are
unknown or out of date.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from core.walkthrough.loader import parse_text
from core.walkthrough.model import (
    ChecklistItem,
    Step,
    ValidationIssue,
    Walkthrough,
    variables_in,
)

_SEVERITY_ORDER = {"error": 0, "warning": 1}


class _Issues:
    """Collects issues for one file."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.items: list[ValidationIssue] = []

    def error(self, line: int, code: str, message: str, step_id: str | None = None) -> None:
        self.items.append(ValidationIssue(self.filename, line, code, message, step_id, "error"))

    def warning(self, line: int, code: str, message: str, step_id: str | None = None) -> None:
        self.items.append(ValidationIssue(self.filename, line, code, message, step_id, "warning"))


class WalkthroughLoadError(ValueError):
    """Raised by :func:`load_text` when a script has errors.

    Attributes:
        issues: Every issue found, errors and warnings.
    """

    def __init__(self, issues: Iterable[ValidationIssue]) -> None:
        self.issues: tuple[ValidationIssue, ...] = tuple(issues)
        errors = [issue for issue in self.issues if issue.is_error]
        summary = errors[0].format() if errors else "导办脚本无效"
        if len(errors) > 1:
            summary += f"（另有 {len(errors) - 1} 个错误）"
        super().__init__(summary)


def validate_text(
    text: str, filename: str, known_entries: Mapping[str, int] | None = None
) -> tuple[Walkthrough | None, list[ValidationIssue]]:
    """Parse and check a walkthrough.

    Args:
        text: The YAML source.
        filename: Shown in every issue.
        known_entries: Knowledge entry id to its current version. When given,
            citations of unknown entries are errors and citations of older
            versions are warnings; when ``None`` citations are not checked.

    Returns:
        The walkthrough (``None`` if there is any error-level issue) and all
        issues sorted by line.
    """
    result = parse_text(text, filename)
    issues = list(result.issues)
    wt = result.walkthrough
    if wt is not None:
        issues.extend(
            check_logic(
                wt,
                filename,
                graph_intact=result.graph_intact,
                broken_steps=result.broken_steps,
            )
        )
        if known_entries is not None:
            issues.extend(check_knowledge(wt, known_entries, filename))
    issues = _sorted(issues)
    if wt is None or any(issue.is_error for issue in issues):
        return None, issues
    return wt, issues


def validate_file(
    path: str | Path, known_entries: Mapping[str, int] | None = None
) -> tuple[Walkthrough | None, list[ValidationIssue]]:
    """Read a UTF-8 file and validate it (see :func:`validate_text`).

    Args:
        path: The file to read; shown as given in every issue.
        known_entries: As for :func:`validate_text`.

    Returns:
        The walkthrough or ``None``, and the issues. An unreadable file is one
        ``io_error`` issue rather than an exception.
    """
    name = str(path)
    try:
        # utf-8-sig: scripts saved by Windows editors often start with a BOM.
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"文件不是 UTF-8 编码，无法读取（第 {exc.start} 字节附近）"
        return None, [ValidationIssue(name, 0, "bad_encoding", message)]
    except OSError as exc:
        message = f"无法读取文件：{exc.strerror or exc}"
        return None, [ValidationIssue(name, 0, "io_error", message)]
    return validate_text(text, name, known_entries)


def load_text(
    text: str, filename: str = "<text>", known_entries: Mapping[str, int] | None = None
) -> Walkthrough:
    """Return the walkthrough in ``text`` or raise if it has errors.

    Args:
        text: The YAML source.
        filename: Used in error messages.
        known_entries: As for :func:`validate_text`.

    Raises:
        WalkthroughLoadError: The script has at least one error-level issue.
    """
    wt, issues = validate_text(text, filename, known_entries)
    if wt is None:
        raise WalkthroughLoadError(issues)
    return wt


def check_knowledge(
    wt: Walkthrough, known_entries: Mapping[str, int], filename: str = ""
) -> list[ValidationIssue]:
    """Compare a script's knowledge citations with the entries that exist now.

    The server and the client call this when knowledge changes, to flag scripts
    that need review without parsing them again.

    Args:
        wt: The walkthrough.
        known_entries: Knowledge entry id to its current version.
        filename: Shown in the issues.

    Returns:
        ``unknown_knowledge`` errors, ``stale_knowledge`` warnings (cited version
        older than the current one) and ``knowledge_version_ahead`` warnings
        (cited version newer than the one known here, e.g. an old local cache).
    """
    issues: list[ValidationIssue] = []
    for step in wt.steps:
        for ref in step.knowledge_refs:
            current = known_entries.get(ref.entry_id)
            if current is None:
                issues.append(
                    ValidationIssue(
                        filename,
                        ref.line,
                        "unknown_knowledge",
                        f"步骤 “{step.id}” 引用的知识条目 “{ref.entry_id}” 不存在",
                        step.id,
                    )
                )
            elif ref.version < current:
                issues.append(
                    ValidationIssue(
                        filename,
                        ref.line,
                        "stale_knowledge",
                        f"步骤 “{step.id}” 引用的知识条目 “{ref.entry_id}” 是第 {ref.version} 版，"
                        f"现已更新到第 {current} 版，请复核该步骤的话术",
                        step.id,
                        "warning",
                    )
                )
            elif ref.version > current:
                issues.append(
                    ValidationIssue(
                        filename,
                        ref.line,
                        "knowledge_version_ahead",
                        f"步骤 “{step.id}” 引用知识条目 “{ref.entry_id}” 的第 {ref.version} 版，"
                        f"但这里只有第 {current} 版，知识库可能尚未同步",
                        step.id,
                        "warning",
                    )
                )
    return issues


def check_logic(
    wt: Walkthrough,
    filename: str = "",
    *,
    graph_intact: bool = True,
    broken_steps: Iterable[str] = (),
) -> list[ValidationIssue]:
    """Run the checks that need the whole script.

    Args:
        wt: A (possibly best-effort) walkthrough from the loader.
        filename: Shown in the issues.
        graph_intact: ``False`` when the loader had to drop steps, options or
            ends; the reachability checks are then skipped because they would
            only report follow-on noise of the schema errors.
        broken_steps: Steps whose question, next or end the loader already
            reported; they are not reported as going nowhere too.

    Returns:
        The issues found, unsorted.
    """
    report = _Issues(filename)
    steps = wt.step_map
    first_line: dict[str, int] = {}
    for step in wt.steps:
        if step.id in first_line:
            report.error(
                step.line_of("id"),
                "duplicate_step",
                f"步骤编号 “{step.id}” 重复，第 {first_line[step.id]} 行已经定义过",
                step.id,
            )
        else:
            first_line[step.id] = step.line_of("id")

    start_ok = bool(wt.start) and wt.start in steps
    if wt.start and not start_ok:
        report.error(
            wt.line_of("start"),
            "unknown_start",
            f"起始步骤 “{wt.start}” 不存在",
            None,
        )

    dead_ends: set[str] = set()
    broken = set(broken_steps)
    for step in wt.steps:
        _check_step_shape(step, report, dead_ends, broken)
        if step.question is not None:
            for option in step.question.options:
                if option.next not in steps:
                    report.error(
                        option.line,
                        "unknown_next",
                        f"步骤 “{step.id}” 的选项 “{option.key}” 指向不存在的步骤 “{option.next}”",
                        step.id,
                    )
        if step.next is not None and step.next not in steps:
            report.error(
                step.line_of("next"),
                "unknown_next",
                f"步骤 “{step.id}” 的 next 指向不存在的步骤 “{step.next}”",
                step.id,
            )

    _check_items(wt, report)

    if not graph_intact or not wt.steps:
        _check_variables_loosely(wt, report)
        return report.items

    successors = {
        step_id: [t for t in step.successors if t in steps] for step_id, step in steps.items()
    }
    reachable = _reach(successors, [wt.start]) if start_ok else set(steps)
    if start_ok:
        for step_id, step in steps.items():
            if step_id not in reachable:
                report.error(
                    step.line,
                    "unreachable_step",
                    f"步骤 “{step_id}” 无法从起始步骤 “{wt.start}” 到达",
                    step_id,
                )

    ends = [step_id for step_id, step in steps.items() if step.is_end]
    if not ends:
        report.error(
            wt.line_of("steps"),
            "no_end_step",
            "导办脚本没有任何结束步骤（end），导办无法结束",
            None,
        )
    else:
        predecessors: dict[str, list[str]] = {step_id: [] for step_id in steps}
        for source, targets in successors.items():
            for target in targets:
                predecessors[target].append(source)
        # A branch to a missing step is already an unknown_next error; count it
        # as a way out so the same mistake is not reported twice.
        dangling = [
            step_id
            for step_id, step in steps.items()
            if any(target not in steps for target in step.successors)
        ]
        finishing = _reach(predecessors, ends + dangling)
        for step_id, step in steps.items():
            if step_id in finishing or step_id in dead_ends or step_id not in reachable:
                continue
            report.error(
                step.line,
                "no_end_reachable",
                f"从步骤 “{step_id}” 出发无法到达任何结束步骤（可能陷入没有出口的循环）",
                step_id,
            )

    if start_ok:
        _check_variables(wt, successors, reachable, report)
    else:
        _check_variables_loosely(wt, report)
    return report.items


def _check_step_shape(step: Step, report: _Issues, dead_ends: set[str], broken: set[str]) -> None:
    """A step must do exactly one thing: ask, move on, or end."""
    kinds = [
        name
        for name, present in (
            ("question", step.question is not None),
            ("next", step.next is not None),
            ("end", step.end is not None),
        )
        if present
    ]
    if len(kinds) > 1:
        report.error(
            step.line,
            "conflicting_fields",
            f"步骤 “{step.id}” 同时设置了 {'、'.join(kinds)}，只能三选一",
            step.id,
        )
    elif not kinds:
        dead_ends.add(step.id)
        if step.id in broken:
            # The loader already said what is wrong with its question/next/end.
            return
        report.error(
            step.line,
            "missing_next",
            f"步骤 “{step.id}” 既没有问题（question）和 next，"
            "也不是结束步骤（end），导办会停在这里",
            step.id,
        )


def _check_items(wt: Walkthrough, report: _Issues) -> None:
    """The same material id in two steps must describe the same material."""
    first: dict[str, tuple[str, ChecklistItem]] = {}
    for step in wt.steps:
        for item in step.checklist:
            if item.id not in first:
                first[item.id] = (step.id, item)
                continue
            other_step, other = first[item.id]
            same = (item.name, item.form, item.count, item.required) == (
                other.name,
                other.form,
                other.count,
                other.required,
            )
            if not same:
                report.warning(
                    item.line,
                    "inconsistent_item",
                    f"步骤 “{step.id}” 的材料 “{item.id}” 与步骤 “{other_step}” 中同编号的材料"
                    "名称、形式、份数或是否必需不一致，勾选状态会共用",
                    step.id,
                )


def _check_variables(
    wt: Walkthrough,
    successors: Mapping[str, list[str]],
    reachable: set[str],
    report: _Issues,
) -> None:
    """Report variables used where no question before them could have set them.

    ``unknown_variable`` (error): no path from the start sets the variable before
    the step. ``maybe_unset_variable`` (warning): some paths do, others do not.
    """
    steps = wt.step_map
    declared = set(wt.variables)
    # May-analysis: a variable is possibly set at S when a question step Q that
    # sets it reaches S in one or more moves.
    possible: dict[str, set[str]] = {step_id: set(declared) for step_id in steps}
    for step_id in sorted(reachable, key=_order(wt)):
        question = steps[step_id].question
        if question is None:
            continue
        for target in _reach(successors, successors[step_id]):
            possible[target].add(question.variable)
    # Must-analysis over the reachable part: set on every path to S.
    all_vars = {step.question.variable for step in steps.values() if step.question is not None}
    predecessors: dict[str, list[str]] = {step_id: [] for step_id in steps}
    for source in sorted(reachable, key=_order(wt)):
        for target in successors[source]:
            predecessors[target].append(source)
    must: dict[str, set[str]] = {step_id: set(all_vars) for step_id in reachable}
    must[wt.start] = set()
    changed = True
    ordered = sorted(reachable, key=_order(wt))
    while changed:
        changed = False
        for step_id in ordered:
            incoming: set[str] | None = set() if step_id == wt.start else None
            for pred in predecessors[step_id]:
                out = must[pred] | _sets(steps[pred])
                incoming = out if incoming is None else incoming & out
            new = incoming or set()
            if new != must[step_id]:
                must[step_id] = new
                changed = True
    for step_id in ordered:
        step = steps[step_id]
        seen: set[str] = set()
        for _key, text, line in step.texts():
            for name in variables_in(text):
                if name in seen or name in declared:
                    continue
                seen.add(name)
                if name not in possible[step_id]:
                    report.error(
                        line,
                        "unknown_variable",
                        f"步骤 “{step_id}” 使用了变量 “{{{name}}}”，"
                        "但到达该步骤之前没有任何问题设置它",
                        step_id,
                    )
                elif name not in must[step_id]:
                    report.warning(
                        line,
                        "maybe_unset_variable",
                        f"步骤 “{step_id}” 使用了变量 “{{{name}}}”，"
                        "但有的路径到达该步骤时还没有回答设置它的问题",
                        step_id,
                    )


def _check_variables_loosely(wt: Walkthrough, report: _Issues) -> None:
    """Without a usable graph, still catch variables that nothing sets at all."""
    known = set(wt.variables) | {
        step.question.variable for step in wt.steps if step.question is not None
    }
    for step in wt.steps:
        seen: set[str] = set()
        for _key, text, line in step.texts():
            for name in variables_in(text):
                if name in known or name in seen:
                    continue
                seen.add(name)
                report.error(
                    line,
                    "unknown_variable",
                    f"步骤 “{step.id}” 使用了变量 “{{{name}}}”，但没有任何问题设置它",
                    step.id,
                )


def _sets(step: Step) -> set[str]:
    return {step.question.variable} if step.question is not None else set()


def _reach(graph: Mapping[str, list[str]], sources: Iterable[str]) -> set[str]:
    """Every node reachable from ``sources`` (inclusive) along ``graph``."""
    seen: set[str] = set()
    queue = deque(sources)
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        seen.add(node)
        queue.extend(graph.get(node, ()))
    return seen


def _order(wt: Walkthrough) -> Callable[[str], int]:
    index = {step_id: position for position, step_id in enumerate(wt.step_map)}

    def key(step_id: str) -> int:
        return index[step_id]

    return key


def _sorted(issues: list[ValidationIssue]) -> list[ValidationIssue]:
    # Line first so the list reads top to bottom like the file; a stable sort
    # keeps the discovery order for issues on the same line.
    return sorted(issues, key=lambda issue: (issue.line, _SEVERITY_ORDER[issue.severity]))
