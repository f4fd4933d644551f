"""Validator tests: every issue code, with its line and step id."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.walkthrough import (
    ValidationIssue,
    WalkthroughLoadError,
    check_knowledge,
    load_text,
    validate_file,
    validate_text,
)

KNOWN = {"kb-1": 2, "kb-2": 1}

# A small valid script that the cases below break in one place each.
VALID = textwrap.dedent(
    """\
    id: test-wt
    matter: RS-SBK-BH
    title: 测试脚本
    version: 1
    steps:
      - id: ask
        title: 询问
        say: 您好
        checklist:
          - id: id_card
            name: 身份证
            form: 原件
            count: 1
        knowledge:
          - id: kb-1
            version: 2
        question:
          prompt: 本人还是代办？
          variable: applicant_type
          options:
            - key: self
              label: 本人办理
              next: check
            - key: agent
              label: 委托代办
              next: done_no
      - id: check
        title: 核对（{applicant_type}）
        next: done_ok
      - id: done_ok
        title: 可以提交
        end:
          outcome: ready_to_submit
      - id: done_no
        title: 转办
        end:
          outcome: referred
    """
)


def _line(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``needle``."""
    found = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            found += 1
            if found == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in text")


def _replace(old: str, new: str, text: str = VALID) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _codes(issues: list[ValidationIssue]) -> list[str]:
    return [issue.code for issue in issues]


def _single(issues: list[ValidationIssue], code: str) -> ValidationIssue:
    matching = [issue for issue in issues if issue.code == code]
    assert len(matching) == 1, issues
    return matching[0]


def test_valid_script_has_no_issues() -> None:
    wt, issues = validate_text(VALID, "ok.yaml", KNOWN)
    assert issues == []
    assert wt is not None
    assert wt.id == "test-wt"
    assert wt.matter_code == "RS-SBK-BH"
    assert wt.start == "ask"
    assert [step.id for step in wt.steps] == ["ask", "check", "done_ok", "done_no"]
    ask = wt.step("ask")
    assert ask.line == _line(VALID, "- id: ask")
    assert ask.question is not None
    assert ask.question.options[1].line == _line(VALID, "- key: agent")
    assert ask.knowledge_refs[0].entry_id == "kb-1"
    assert ask.checklist[0].line == _line(VALID, "- id: id_card")


@dataclass(frozen=True)
class Case:
    """One broken script: what to change and what must be reported where."""

    code: str
    text: str
    line_needle: str
    step_id: str | None
    severity: str = "error"
    message_has: tuple[str, ...] = ()
    occurrence: int = 1


CASES = [
    Case(
        "yaml_syntax",
        _replace("    say: 您好\n", "    say: 您好: 再见\n"),
        "say: 您好: 再见",
        None,
        message_has=("YAML",),
    ),
    Case(
        "missing_field",
        _replace("    title: 询问\n", ""),
        "- id: ask",
        "ask",
        message_has=("ask", "title"),
    ),
    Case(
        "bad_type",
        _replace("count: 1", "count: 两份"),
        "count: 两份",
        "ask",
        message_has=("count", "整数"),
    ),
    Case(
        "bad_value",
        _replace("form: 原件", "form: 扫描件"),
        "form: 扫描件",
        "ask",
        message_has=("扫描件",),
    ),
    Case(
        "unknown_field",
        _replace("    next: done_ok\n", "    nxet: done_ok\n    next: done_ok\n"),
        "nxet: done_ok",
        "check",
        message_has=("nxet",),
    ),
    Case(
        "duplicate_key",
        _replace("    title: 核对（{applicant_type}）\n", "    title: 核对\n    title: 再核对\n"),
        "title: 再核对",
        "check",
        message_has=("title",),
    ),
    Case(
        "duplicate_step",
        _replace("  - id: done_no\n", "  - id: done_ok\n"),
        "- id: done_ok",
        "done_ok",
        message_has=("done_ok", "重复"),
        occurrence=2,
    ),
    Case(
        "duplicate_item",
        _replace(
            "        count: 1\n",
            "        count: 1\n      - id: id_card\n        name: 身份证复印件\n",
        ),
        "- id: id_card",
        "ask",
        message_has=("id_card",),
        occurrence=2,
    ),
    Case(
        "duplicate_option",
        _replace("- key: agent", "- key: self"),
        "- key: self",
        "ask",
        message_has=("self",),
        occurrence=2,
    ),
    Case(
        "unknown_next",
        _replace("next: done_no", "next: foo"),
        "- key: agent",
        "ask",
        message_has=("“ask” 的选项 “agent” 指向不存在的步骤 “foo”",),
    ),
    Case(
        "unknown_start",
        _replace("version: 1\n", "version: 1\nstart: begin\n"),
        "start: begin",
        None,
        message_has=("begin",),
    ),
    Case(
        "unreachable_step",
        VALID + "  - id: orphan\n    title: 孤立\n    next: done_ok\n",
        "- id: orphan",
        "orphan",
        message_has=("orphan",),
    ),
    Case(
        "no_end_reachable",
        _replace("    next: done_ok\n", "    next: check\n"),
        "- id: check",
        "check",
        message_has=("check",),
    ),
    Case(
        "missing_next",
        _replace("    next: done_ok\n", ""),
        "- id: check",
        "check",
        message_has=("check",),
    ),
    Case(
        "conflicting_fields",
        _replace("    next: done_ok\n", "    next: done_ok\n    end:\n      outcome: referred\n"),
        "- id: check",
        "check",
        message_has=("next", "end"),
    ),
    Case(
        "unknown_knowledge",
        _replace("- id: kb-1", "- id: kb-404"),
        "- id: kb-404",
        "ask",
        message_has=("kb-404", "ask"),
    ),
    Case(
        "stale_knowledge",
        _replace("version: 2", "version: 1"),
        "- id: kb-1",
        "ask",
        severity="warning",
        message_has=("kb-1", "第 1 版", "第 2 版"),
    ),
    Case(
        "knowledge_version_ahead",
        _replace("version: 2", "version: 5"),
        "- id: kb-1",
        "ask",
        severity="warning",
        message_has=("kb-1",),
    ),
    Case(
        "unknown_variable",
        _replace("    say: 您好\n", "    say: 您好，{caller_kind}\n"),
        "say: 您好，{caller_kind}",
        "ask",
        message_has=("{caller_kind}", "ask"),
    ),
    Case(
        "inconsistent_item",
        _replace(
            "    next: done_ok\n",
            "    checklist:\n      - id: id_card\n        name: 身份证\n        form: 复印件\n"
            "    next: done_ok\n",
        ),
        "- id: id_card",
        "check",
        severity="warning",
        message_has=("id_card", "ask"),
        occurrence=2,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.code for case in CASES])
def test_each_issue_kind_is_reported_with_line_and_step(case: Case) -> None:
    wt, issues = validate_text(case.text, "broken.yaml", KNOWN)
    issue = _single(issues, case.code)
    assert issue.file == "broken.yaml"
    assert issue.line == _line(case.text, case.line_needle, case.occurrence)
    assert issue.step_id == case.step_id
    assert issue.severity == case.severity
    for fragment in case.message_has:
        assert fragment in issue.message
    if case.severity == "error":
        assert wt is None
    else:
        # A warning never makes a script unusable.
        assert wt is not None
        assert all(not other.is_error for other in issues)


def test_every_code_is_documented() -> None:
    # Codes without a Case are tested in their own functions below.
    covered = {case.code for case in CASES} | {
        "empty_file",
        "no_end_step",
        "maybe_unset_variable",
        "io_error",
        "bad_encoding",
    }
    documented = Path(__file__).resolve().parents[2] / "docs" / "walkthroughs.md"
    text = documented.read_text(encoding="utf-8")
    for code in covered:
        assert f"`{code}`" in text


def test_linear_next_to_missing_step() -> None:
    text = _replace("    next: done_ok\n", "    next: nowhere\n")
    _, issues = validate_text(text, "f.yaml")
    # done_ok is now unreachable, but "check" is not also called a dead end.
    assert _codes(issues) == ["unknown_next", "unreachable_step"]
    issue = _single(issues, "unknown_next")
    assert issue.line == _line(text, "next: nowhere")
    assert issue.step_id == "check"
    assert "nowhere" in issue.message


def test_no_end_step_at_all() -> None:
    text = textwrap.dedent(
        """\
        id: loop
        matter: RS-SBK-BH
        title: 没有结束
        version: 1
        steps:
          - id: a
            title: 甲
            next: b
          - id: b
            title: 乙
            next: a
        """
    )
    wt, issues = validate_text(text, "loop.yaml")
    assert wt is None
    issue = _single(issues, "no_end_step")
    assert issue.line == _line(text, "steps:")
    assert issue.step_id is None


def test_loop_with_no_way_out_reports_every_trapped_step() -> None:
    text = _replace(
        "    next: done_ok\n",
        "    question:\n      prompt: 再来？\n"
        "      variable: again\n      options:\n"
        "        - {key: y, label: 是, next: trap}\n"
        "        - {key: n, label: 否, next: done_ok}\n",
    )
    text += (
        "  - id: trap\n    title: 陷阱\n    next: trap2\n"
        "  - id: trap2\n    title: 陷阱2\n    next: trap\n"
    )
    _, issues = validate_text(text, "trap.yaml")
    trapped = [issue for issue in issues if issue.code == "no_end_reachable"]
    assert [(issue.step_id, issue.line) for issue in trapped] == [
        ("trap", _line(text, "- id: trap")),
        ("trap2", _line(text, "- id: trap2")),
    ]


MAYBE = textwrap.dedent(
    """\
    id: maybe
    matter: GA-JZZ-SL
    title: 部分路径设置变量
    version: 1
    steps:
      - id: first
        title: 第一步
        question:
          prompt: 是否需要确认户籍？
          variable: route
          options:
            - {key: ask, label: 需要, next: ask_hukou}
            - {key: skip, label: 不需要, next: hint}
      - id: ask_hukou
        title: 户籍
        question:
          prompt: 是否本市户籍？
          variable: hukou
          options:
            - {key: local, label: 本市户籍, next: hint}
            - {key: other, label: 外地户籍, next: hint}
      - id: hint
        title: 提示
        say: 您是{hukou}，按{route}处理
        next: done
      - id: done
        title: 结束
        end: {outcome: ready_to_submit}
    """
)


def test_variable_set_on_some_paths_only_is_a_warning() -> None:
    wt, issues = validate_text(MAYBE, "maybe.yaml")
    assert wt is not None
    issue = _single(issues, "maybe_unset_variable")
    assert len(issues) == 1
    assert issue.severity == "warning"
    assert issue.step_id == "hint"
    assert issue.line == _line(MAYBE, "say: 您是{hukou}")
    assert "{hukou}" in issue.message


def test_variable_set_on_every_path_is_fine() -> None:
    text = _replace(
        "{key: skip, label: 不需要, next: hint}",
        "{key: skip, label: 不需要, next: ask_hukou}",
        MAYBE,
    )
    wt, issues = validate_text(text, "every.yaml")
    assert wt is not None
    assert issues == []


def test_declared_variables_and_escaped_braces_are_fine() -> None:
    text = _replace("version: 1\n", "version: 1\nvariables:\n  hall: 市民中心\n")
    text = _replace("    say: 您好\n", "    say: 请到{hall}办理，{{不是变量}}\n", text)
    wt, issues = validate_text(text, "vars.yaml")
    assert issues == []
    assert wt is not None
    assert wt.variables == {"hall": "市民中心"}


def test_empty_file() -> None:
    wt, issues = validate_text("\n# 只有注释\n", "empty.yaml")
    assert wt is None
    assert [(issue.code, issue.line) for issue in issues] == [("empty_file", 1)]


def test_top_level_not_a_mapping() -> None:
    wt, issues = validate_text("- a\n- b\n", "list.yaml")
    assert wt is None
    assert _single(issues, "bad_type").line == 1


def test_missing_top_level_fields_point_at_document() -> None:
    text = "id: x\nsteps:\n  - id: a\n    title: 甲\n    end: {outcome: referred}\n"
    _, issues = validate_text(text, "top.yaml")
    missing = sorted(issue.message for issue in issues if issue.code == "missing_field")
    assert len(missing) == 3
    assert any("matter" in message for message in missing)
    assert any("version" in message for message in missing)


def test_yes_no_keys_stay_text() -> None:
    text = _replace("- key: self", '- key: "yes"')
    text = _replace("- key: agent", "- key: no", text)
    wt, issues = validate_text(text, "yn.yaml")
    assert issues == []
    assert wt is not None
    question = wt.step("ask").question
    assert question is not None
    assert [option.key for option in question.options] == ["yes", "no"]


def test_schema_errors_suppress_graph_noise() -> None:
    # The broken option of "ask" would make "check" unreachable; only the real
    # problem is reported.
    text = _replace(
        "        - key: self\n          label: 本人办理\n          next: check\n",
        "        - key: self\n          label: 本人办理\n",
    )
    _, issues = validate_text(text, "noise.yaml")
    assert _codes(issues) == ["missing_field"]
    assert issues[0].step_id == "ask"


def test_issues_are_sorted_by_line() -> None:
    text = _replace("next: done_no", "next: foo")
    text = _replace("count: 1", "count: 0", text)
    _, issues = validate_text(text, "sorted.yaml")
    assert [issue.line for issue in issues] == sorted(issue.line for issue in issues)
    # done_no is no longer reachable once its only branch points elsewhere.
    assert _codes(issues) == ["bad_value", "unknown_next", "unreachable_step"]


def test_issue_format() -> None:
    issue = ValidationIssue("a.yaml", 3, "unknown_next", "消息", "s1")
    assert issue.format() == "a.yaml:3: error [unknown_next] 消息"
    assert str(issue) == issue.format()


def test_without_known_entries_citations_are_not_checked() -> None:
    text = _replace("- id: kb-1", "- id: kb-404")
    wt, issues = validate_text(text, "f.yaml")
    assert issues == []
    assert wt is not None
    later = check_knowledge(wt, {"kb-1": 2}, "f.yaml")
    assert _codes(later) == ["unknown_knowledge"]


def test_load_text_raises_with_issues() -> None:
    with pytest.raises(WalkthroughLoadError) as caught:
        load_text(_replace("next: done_no", "next: foo"), "bad.yaml")
    assert _codes(list(caught.value.issues)) == ["unknown_next", "unreachable_step"]
    assert "foo" in str(caught.value)
    assert load_text(VALID).id == "test-wt"


def test_validate_file_reads_utf8_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + VALID.encode("utf-8"))
    wt, issues = validate_file(path, KNOWN)
    assert issues == []
    assert wt is not None


def test_validate_file_io_error(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    wt, issues = validate_file(path)
    assert wt is None
    assert [(issue.code, issue.line, issue.file) for issue in issues] == [
        ("io_error", 0, str(path))
    ]


def test_validate_file_bad_encoding(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    path.write_bytes(VALID.encode("gbk"))
    wt, issues = validate_file(path)
    assert wt is None
    assert _codes(issues) == ["bad_encoding"]


@settings(database=None, max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(":-[]{}#&*!|>'\"%@` \n\tab1中文_")), max_size=200))
def test_validator_never_raises_on_garbage(text: str) -> None:
    wt, issues = validate_text(text, "junk.yaml")
    assert wt is None or not any(issue.is_error for issue in issues)
    assert all(issue.line >= 0 for issue in issues)


@settings(database=None, max_examples=150, deadline=None)
@given(st.data())
def test_validator_never_raises_on_damaged_scripts(data: st.DataObject) -> None:
    lines = VALID.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["drop", "dup", "dedent", "blank"]))
        if action == "drop":
            del lines[index]
        elif action == "dup":
            lines.insert(index, lines[index])
        elif action == "dedent":
            lines[index] = lines[index][2:]
        else:
            lines[index] = lines[index].split(":")[0] + ":\n"
        if not lines:
            break
    wt, issues = validate_text("".join(lines), "damaged.yaml", KNOWN)
    if wt is None:
        assert any(issue.is_error for issue in issues)
    for issue in issues:
        assert issue.message
        assert issue.code.replace("_", "").isalpha()
