"""Turn walkthrough YAML into model objects, keeping a line number for everything.

``yaml.safe_load`` throws line numbers away, and a script author needs them, so
the loader composes the YAML node tree (``yaml.compose``) and walks it by hand.
Schema problems (a missing field, a wrong type, an unknown key) become
:class:`~core.walkthrough.model.ValidationIssue` values instead of exceptions, so
one pass reports as much as possible. Graph-level checks live in ``validator``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from core.walkthrough.model import (
    MATERIAL_FORMS,
    OUTCOMES,
    ChecklistItem,
    EndInfo,
    FieldHint,
    KnowledgeRef,
    Option,
    Outcome,
    Question,
    Step,
    ValidationIssue,
    Walkthrough,
)

_NULL_TAG: Final = "tag:yaml.org,2002:null"
_INT_TAG: Final = "tag:yaml.org,2002:int"
_BOOL_TAG: Final = "tag:yaml.org,2002:bool"

#: Ids may contain Chinese (``\w`` is Unicode-aware) but no spaces or punctuation
#: other than ``.`` and ``-``, so they survive URLs, file names and logs.
ID_PATTERN: Final[re.Pattern[str]] = re.compile(r"^\w[\w.-]*$")
#: Variables are ASCII identifiers because placeholders are matched as ``{name}``.
VARIABLE_NAME_PATTERN: Final[re.Pattern[str]] = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Matter codes as in docs/matters.md, e.g. ``SCJG-GTGSH-SL``.
MATTER_CODE_PATTERN: Final[re.Pattern[str]] = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")

_TOP_KEYS: Final = (
    "id",
    "matter",
    "title",
    "version",
    "start",
    "variables",
    "description",
    "steps",
)
_STEP_KEYS: Final = (
    "id",
    "title",
    "say",
    "do",
    "checklist",
    "question",
    "next",
    "field_hints",
    "knowledge",
    "end",
)
_ITEM_KEYS: Final = ("id", "name", "form", "count", "required", "note")
_QUESTION_KEYS: Final = ("prompt", "variable", "options")
_OPTION_KEYS: Final = ("key", "label", "next")
_HINT_KEYS: Final = ("field", "hint")
_KNOWLEDGE_KEYS: Final = ("id", "version")
_END_KEYS: Final = ("outcome", "next_steps", "where_to_submit")

# A shared constructor only converts single scalars (ints, bools); it keeps no
# state between calls for those, so one instance is enough.
_SCALARS: Final = SafeConstructor()

_Pairs = dict[str, tuple[ScalarNode, Node]]


@dataclass(frozen=True)
class LoadResult:
    """What the loader made of a text.

    Attributes:
        walkthrough: A best-effort model (broken parts left out), or ``None`` when
            the text is not a walkthrough at all. Only trust it when ``issues``
            holds no errors.
        issues: Schema problems, in the order found.
        graph_intact: ``False`` when a step, an option, ``next`` or ``end`` could
            not be read, so graph checks would report follow-on noise.
        broken_steps: Ids of steps whose ``question``, ``next`` or ``end`` had
            problems; the validator does not call them dead ends as well.
    """

    walkthrough: Walkthrough | None
    issues: tuple[ValidationIssue, ...]
    graph_intact: bool
    broken_steps: frozenset[str] = frozenset()


def line_of(node: Node) -> int:
    """Return the 1-based line where ``node`` starts."""
    return int(node.start_mark.line) + 1


def _describe(node: Node) -> str:
    """Name a node's kind in Chinese for "expected X, got Y" messages."""
    if isinstance(node, MappingNode):
        return "映射"
    if isinstance(node, SequenceNode):
        return "列表"
    if node.tag == _NULL_TAG:
        return "空值"
    if node.tag == _INT_TAG:
        return "整数"
    if node.tag == _BOOL_TAG:
        return "布尔值"
    return "文本"


def parse_text(text: str, filename: str) -> LoadResult:
    """Parse walkthrough YAML into a model and schema issues.

    Args:
        text: The YAML source.
        filename: Used in every issue's ``file``.

    Returns:
        The load result; never raises for bad input.
    """
    try:
        # SafeLoader (not the C loader) so that marks and messages are the same
        # on every installation.
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else 1
        detail = exc.problem or exc.context or "无法解析"
        issue = ValidationIssue(filename, line, "yaml_syntax", f"YAML 语法错误：{detail}")
        return LoadResult(None, (issue,), False)
    except yaml.YAMLError as exc:
        issue = ValidationIssue(filename, 1, "yaml_syntax", f"YAML 语法错误：{exc}")
        return LoadResult(None, (issue,), False)
    if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL_TAG):
        issue = ValidationIssue(filename, 1, "empty_file", "文件为空，没有导办脚本内容")
        return LoadResult(None, (issue,), False)
    builder = _Builder(filename)
    walkthrough = builder.walkthrough(root)
    return LoadResult(
        walkthrough,
        tuple(builder.issues),
        builder.graph_intact,
        frozenset(builder.broken_steps),
    )


class _Builder:
    """Walks one composed document, collecting issues as it goes."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.issues: list[ValidationIssue] = []
        self.graph_intact = True
        self.broken_steps: set[str] = set()

    # -- reporting ------------------------------------------------------------

    def report(self, line: int, code: str, message: str, step_id: str | None = None) -> None:
        self.issues.append(ValidationIssue(self.filename, line, code, message, step_id))

    # -- generic node access --------------------------------------------------

    def mapping(
        self, node: Node, where: str, allowed: tuple[str, ...], step_id: str | None
    ) -> _Pairs | None:
        """Return a mapping's keys with their nodes, reporting bad shape and keys."""
        if not isinstance(node, MappingNode):
            self.report(
                line_of(node),
                "bad_type",
                f"{where}应为映射（键: 值），实际为{_describe(node)}",
                step_id,
            )
            return None
        pairs: _Pairs = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _NULL_TAG:
                self.report(line_of(key_node), "bad_type", f"{where}的字段名必须是文本", step_id)
                continue
            key = str(key_node.value)
            if key in pairs:
                first = line_of(pairs[key][0])
                self.report(
                    line_of(key_node),
                    "duplicate_key",
                    f"{where}的字段 “{key}” 重复出现（第 {first} 行已有）",
                    step_id,
                )
                continue
            if key not in allowed:
                self.report(
                    line_of(key_node),
                    "unknown_field",
                    f"{where}包含未知字段 “{key}”（可用字段：{'、'.join(allowed)}）",
                    step_id,
                )
                continue
            pairs[key] = (key_node, value_node)
        return pairs

    def sequence(self, node: Node, where: str, key: str, step_id: str | None) -> list[Node]:
        """Return a list's items; a null means an empty list."""
        if isinstance(node, ScalarNode) and node.tag == _NULL_TAG:
            return []
        if not isinstance(node, SequenceNode):
            self.report(
                line_of(node),
                "bad_type",
                f"{where}的字段 “{key}” 应为列表，实际为{_describe(node)}",
                step_id,
            )
            return []
        return list(node.value)

    def text(
        self,
        pairs: _Pairs,
        key: str,
        where: str,
        step_id: str | None,
        *,
        required: bool = False,
        default: str = "",
    ) -> str | None:
        """Read a text field. Returns ``None`` when required and absent or bad."""
        if key not in pairs:
            if required:
                return None
            return default
        node = pairs[key][1]
        if isinstance(node, ScalarNode) and node.tag == _NULL_TAG:
            return None if required else default
        if not isinstance(node, ScalarNode):
            self.report(
                line_of(node),
                "bad_type",
                f"{where}的字段 “{key}” 应为文本，实际为{_describe(node)}",
                step_id,
            )
            return None
        # The source text, not the resolved value: ``key: no`` stays "no" instead
        # of becoming False, which is what an author means in a text field.
        return str(node.value)

    def required_text(
        self, pairs: _Pairs, key: str, where: str, line: int, step_id: str | None
    ) -> str | None:
        """Read a required, non-empty text field, reporting when it is missing."""
        if key not in pairs:
            self.report(line, "missing_field", f"{where}缺少必填字段 “{key}”", step_id)
            return None
        node = pairs[key][1]
        value = self.text(pairs, key, where, step_id, required=True)
        if value is None:
            # A wrong type was reported by text(); only a null is still unreported.
            if _is_null(node):
                self.report(
                    line_of(node), "missing_field", f"{where}的字段 “{key}” 不能为空", step_id
                )
            return None
        if not value.strip():
            self.report(line_of(node), "missing_field", f"{where}的字段 “{key}” 不能为空", step_id)
            return None
        return value

    def identifier(
        self,
        pairs: _Pairs,
        key: str,
        where: str,
        line: int,
        step_id: str | None,
        pattern: re.Pattern[str] = ID_PATTERN,
    ) -> str | None:
        """Read a required id-like field and check its spelling."""
        value = self.required_text(pairs, key, where, line, step_id)
        if value is None:
            return None
        if not pattern.fullmatch(value):
            rule = (
                "只能使用英文字母、数字和下划线，且不能以数字开头"
                if pattern is VARIABLE_NAME_PATTERN
                else "只能使用字母、数字、汉字、下划线、点和连字符，不能有空格"
            )
            self.report(
                line_of(pairs[key][1]),
                "bad_value",
                f"{where}的 “{key}” 值 “{value}” 不合规：{rule}",
                step_id,
            )
            return None
        return value

    def integer(
        self,
        pairs: _Pairs,
        key: str,
        where: str,
        step_id: str | None,
        *,
        default: int | None,
        line: int,
    ) -> int | None:
        """Read a positive integer; ``None`` when required and absent or bad."""
        if key not in pairs:
            if default is None:
                self.report(line, "missing_field", f"{where}缺少必填字段 “{key}”", step_id)
            return default
        node = pairs[key][1]
        if not isinstance(node, ScalarNode) or node.tag != _INT_TAG:
            self.report(
                line_of(node),
                "bad_type",
                f"{where}的字段 “{key}” 应为整数，实际为{_describe(node)}",
                step_id,
            )
            return None
        try:
            value = int(_SCALARS.construct_yaml_int(node))
        except ValueError:
            # Only reachable with an explicit ``!!int`` tag on non-digits.
            self.report(line_of(node), "bad_type", f"{where}的字段 “{key}” 应为整数", step_id)
            return None
        if value < 1:
            self.report(
                line_of(node),
                "bad_value",
                f"{where}的字段 “{key}” 应为正整数，实际为 {value}",
                step_id,
            )
            return None
        return value

    def boolean(
        self, pairs: _Pairs, key: str, where: str, step_id: str | None, *, default: bool
    ) -> bool:
        if key not in pairs:
            return default
        node = pairs[key][1]
        if not isinstance(node, ScalarNode) or node.tag != _BOOL_TAG:
            self.report(
                line_of(node),
                "bad_type",
                f"{where}的字段 “{key}” 应为 true 或 false，实际为{_describe(node)}",
                step_id,
            )
            return default
        try:
            return bool(_SCALARS.construct_yaml_bool(node))
        except KeyError:
            # Only reachable with an explicit ``!!bool`` tag on another word.
            self.report(
                line_of(node), "bad_type", f"{where}的字段 “{key}” 应为 true 或 false", step_id
            )
            return default

    # -- the document ---------------------------------------------------------

    def walkthrough(self, root: Node) -> Walkthrough | None:
        where = "导办脚本"
        pairs = self.mapping(root, where, _TOP_KEYS, None)
        if pairs is None:
            self.graph_intact = False
            return None
        doc_line = line_of(root)
        wt_id = self.identifier(pairs, "id", where, doc_line, None)
        matter = self.required_text(pairs, "matter", where, doc_line, None)
        if matter is not None and not MATTER_CODE_PATTERN.fullmatch(matter):
            self.report(
                line_of(pairs["matter"][1]),
                "bad_value",
                f"事项编码 “{matter}” 格式不对，应形如 SCJG-GTGSH-SL",
            )
        title = self.required_text(pairs, "title", where, doc_line, None)
        version = self.integer(pairs, "version", where, None, default=None, line=doc_line)
        description = self.text(pairs, "description", where, None) or ""
        variables = self.variables(pairs)
        steps: list[Step] = []
        if "steps" not in pairs:
            self.report(doc_line, "missing_field", f"{where}缺少必填字段 “steps”")
            self.graph_intact = False
        else:
            steps_node = pairs["steps"][1]
            items = self.sequence(steps_node, where, "steps", None)
            if not items and (isinstance(steps_node, SequenceNode) or _is_null(steps_node)):
                self.report(line_of(steps_node), "missing_field", "导办脚本至少需要一个步骤")
                self.graph_intact = False
            for index, node in enumerate(items, start=1):
                step = self.step(node, index)
                if step is None:
                    self.graph_intact = False
                else:
                    steps.append(step)
        start: str | None
        if "start" in pairs:
            start = self.identifier(pairs, "start", where, doc_line, None)
            if start is None:
                self.graph_intact = False
        else:
            start = steps[0].id if steps else None
        lines = MappingProxyType({key: line_of(key_node) for key, (key_node, _) in pairs.items()})
        return Walkthrough(
            id=wt_id or "",
            matter_code=matter or "",
            title=title or "",
            version=version or 0,
            start=start or "",
            steps=tuple(steps),
            variables=variables,
            description=description,
            line=doc_line,
            lines=lines,
        )

    def variables(self, pairs: _Pairs) -> MappingProxyType[str, str]:
        if "variables" not in pairs:
            return MappingProxyType({})
        node = pairs["variables"][1]
        if _is_null(node):
            return MappingProxyType({})
        if not isinstance(node, MappingNode):
            self.report(
                line_of(node),
                "bad_type",
                f"导办脚本的字段 “variables” 应为映射（变量名: 默认值），实际为{_describe(node)}",
            )
            return MappingProxyType({})
        result: dict[str, str] = {}
        for key_node, value_node in node.value:
            name = str(key_node.value) if isinstance(key_node, ScalarNode) else ""
            if not VARIABLE_NAME_PATTERN.fullmatch(name):
                self.report(
                    line_of(key_node),
                    "bad_value",
                    f"变量名 “{name}” 不合规：只能使用英文字母、数字和下划线，且不能以数字开头",
                )
                continue
            if name in result:
                self.report(line_of(key_node), "duplicate_key", f"变量 “{name}” 重复定义")
                continue
            if not isinstance(value_node, ScalarNode):
                self.report(
                    line_of(value_node),
                    "bad_type",
                    f"变量 “{name}” 的默认值应为文本，实际为{_describe(value_node)}",
                )
                continue
            result[name] = "" if _is_null(value_node) else str(value_node.value)
        return MappingProxyType(result)

    # -- steps ------------------------------------------------------------------

    def step(self, node: Node, index: int) -> Step | None:
        # Peek at the id first so that even problems in the step mapping itself
        # (an unknown or repeated key) name the step.
        peeked = _peek_id(node)
        where = f"步骤 “{peeked}” " if peeked else f"第 {index} 个步骤"
        pairs = self.mapping(node, where, _STEP_KEYS, peeked)
        if pairs is None:
            return None
        line = line_of(node)
        step_id = self.identifier(pairs, "id", where, line, peeked)
        if step_id is None:
            return None
        where = f"步骤 “{step_id}” "
        title = self.required_text(pairs, "title", where, line, step_id) or ""
        say = self.text(pairs, "say", where, step_id) or ""
        do = self.text(pairs, "do", where, step_id) or ""
        checklist = self.checklist(pairs, where, step_id)
        hints = self.field_hints(pairs, where, step_id)
        refs = self.knowledge(pairs, where, step_id)
        reported = len(self.issues)
        question = self.question(pairs, where, step_id)
        next_id: str | None = None
        # A null ``next:`` counts as absent, like a null question or end.
        if "next" in pairs and not _is_null(pairs["next"][1]):
            next_id = self.identifier(pairs, "next", where, line, step_id)
            if next_id is None:
                self.graph_intact = False
        end = self.end(pairs, where, step_id)
        if len(self.issues) > reported:
            self.broken_steps.add(step_id)
        lines = MappingProxyType({key: line_of(key_node) for key, (key_node, _) in pairs.items()})
        return Step(
            id=step_id,
            title=title,
            say=say,
            do=do,
            checklist=checklist,
            question=question,
            next=next_id,
            field_hints=hints,
            knowledge_refs=refs,
            end=end,
            line=line,
            lines=lines,
        )

    def checklist(self, pairs: _Pairs, where: str, step_id: str) -> tuple[ChecklistItem, ...]:
        if "checklist" not in pairs:
            return ()
        items: list[ChecklistItem] = []
        seen: dict[str, int] = {}
        nodes = self.sequence(pairs["checklist"][1], where, "checklist", step_id)
        for index, node in enumerate(nodes, start=1):
            item_where = f"{where}的材料第 {index} 项"
            item_pairs = self.mapping(node, item_where, _ITEM_KEYS, step_id)
            if item_pairs is None:
                continue
            line = line_of(node)
            item_id = self.identifier(item_pairs, "id", item_where, line, step_id)
            if item_id is not None:
                item_where = f"{where}的材料 “{item_id}” "
            name = self.required_text(item_pairs, "name", item_where, line, step_id)
            form = self.text(item_pairs, "form", item_where, step_id, default="原件")
            if form is not None and form not in MATERIAL_FORMS:
                self.report(
                    line_of(item_pairs["form"][1]),
                    "bad_value",
                    f"{item_where}的形式 “{form}” 无效，应为{'、'.join(MATERIAL_FORMS)}之一",
                    step_id,
                )
                form = None
            count = self.integer(item_pairs, "count", item_where, step_id, default=1, line=line)
            required = self.boolean(item_pairs, "required", item_where, step_id, default=True)
            note = self.text(item_pairs, "note", item_where, step_id) or ""
            if item_id is None or name is None or form is None or count is None:
                continue
            if item_id in seen:
                self.report(
                    line,
                    "duplicate_item",
                    f"{where}的材料编号 “{item_id}” 重复（第 {seen[item_id]} 行已有）",
                    step_id,
                )
                continue
            seen[item_id] = line
            items.append(ChecklistItem(item_id, name, form, count, required, note, line))
        return tuple(items)

    def question(self, pairs: _Pairs, where: str, step_id: str) -> Question | None:
        if "question" not in pairs or _is_null(pairs["question"][1]):
            return None
        node = pairs["question"][1]
        q_where = f"{where}的问题"
        q_pairs = self.mapping(node, q_where, _QUESTION_KEYS, step_id)
        if q_pairs is None:
            self.graph_intact = False
            return None
        line = line_of(node)
        prompt = self.required_text(q_pairs, "prompt", q_where, line, step_id)
        variable = self.identifier(
            q_pairs, "variable", q_where, line, step_id, pattern=VARIABLE_NAME_PATTERN
        )
        if "options" not in q_pairs:
            self.report(line, "missing_field", f"{q_where}缺少必填字段 “options”", step_id)
            self.graph_intact = False
            return None
        options: list[Option] = []
        seen: dict[str, int] = {}
        option_nodes = self.sequence(q_pairs["options"][1], q_where, "options", step_id)
        if not option_nodes:
            self.report(
                line_of(q_pairs["options"][1]),
                "missing_field",
                f"{q_where}至少需要一个选项",
                step_id,
            )
        for index, option_node in enumerate(option_nodes, start=1):
            o_where = f"{where}的选项第 {index} 项"
            o_pairs = self.mapping(option_node, o_where, _OPTION_KEYS, step_id)
            if o_pairs is None:
                self.graph_intact = False
                continue
            o_line = line_of(option_node)
            key = self.identifier(o_pairs, "key", o_where, o_line, step_id)
            if key is not None:
                o_where = f"{where}的选项 “{key}” "
            label = self.required_text(o_pairs, "label", o_where, o_line, step_id)
            target = self.identifier(o_pairs, "next", o_where, o_line, step_id)
            if key is None or target is None:
                self.graph_intact = False
                continue
            if key in seen:
                self.report(
                    o_line,
                    "duplicate_option",
                    f"{where}的选项 “{key}” 重复（第 {seen[key]} 行已有）",
                    step_id,
                )
                continue
            seen[key] = o_line
            options.append(Option(key, label or key, target, o_line))
        if prompt is None or variable is None or not options:
            self.graph_intact = False
            return None
        return Question(prompt, variable, tuple(options), line)

    def field_hints(self, pairs: _Pairs, where: str, step_id: str) -> tuple[FieldHint, ...]:
        if "field_hints" not in pairs:
            return ()
        hints: list[FieldHint] = []
        nodes = self.sequence(pairs["field_hints"][1], where, "field_hints", step_id)
        for index, node in enumerate(nodes, start=1):
            h_where = f"{where}的填表提示第 {index} 项"
            h_pairs = self.mapping(node, h_where, _HINT_KEYS, step_id)
            if h_pairs is None:
                continue
            line = line_of(node)
            name = self.required_text(h_pairs, "field", h_where, line, step_id)
            hint = self.required_text(h_pairs, "hint", h_where, line, step_id)
            if name is not None and hint is not None:
                hints.append(FieldHint(name, hint, line))
        return tuple(hints)

    def knowledge(self, pairs: _Pairs, where: str, step_id: str) -> tuple[KnowledgeRef, ...]:
        if "knowledge" not in pairs:
            return ()
        refs: list[KnowledgeRef] = []
        nodes = self.sequence(pairs["knowledge"][1], where, "knowledge", step_id)
        for index, node in enumerate(nodes, start=1):
            k_where = f"{where}的知识引用第 {index} 项"
            k_pairs = self.mapping(node, k_where, _KNOWLEDGE_KEYS, step_id)
            if k_pairs is None:
                continue
            line = line_of(node)
            entry_id = self.required_text(k_pairs, "id", k_where, line, step_id)
            version = self.integer(k_pairs, "version", k_where, step_id, default=None, line=line)
            if entry_id is not None and version is not None:
                refs.append(KnowledgeRef(entry_id, version, line))
        return tuple(refs)

    def end(self, pairs: _Pairs, where: str, step_id: str) -> EndInfo | None:
        if "end" not in pairs or _is_null(pairs["end"][1]):
            return None
        node = pairs["end"][1]
        e_where = f"{where}的结束信息"
        e_pairs = self.mapping(node, e_where, _END_KEYS, step_id)
        if e_pairs is None:
            self.graph_intact = False
            return None
        line = line_of(node)
        outcome = self.required_text(e_pairs, "outcome", e_where, line, step_id)
        if outcome is not None and outcome not in OUTCOMES:
            self.report(
                line_of(e_pairs["outcome"][1]),
                "bad_value",
                f"{e_where}的结果 “{outcome}” 无效，应为 {'、'.join(OUTCOMES)} 之一",
                step_id,
            )
            outcome = None
        next_steps = self.next_steps(e_pairs, e_where, step_id)
        where_to_submit = self.text(e_pairs, "where_to_submit", e_where, step_id) or ""
        if outcome is None:
            self.graph_intact = False
            return None
        return EndInfo(_as_outcome(outcome), next_steps, where_to_submit, line)

    def next_steps(self, pairs: _Pairs, where: str, step_id: str) -> tuple[str, ...]:
        if "next_steps" not in pairs:
            return ()
        node = pairs["next_steps"][1]
        if _is_null(node):
            return ()
        if isinstance(node, ScalarNode):
            # A single sentence is accepted as a one-item list.
            return (str(node.value),)
        result: list[str] = []
        for item in self.sequence(node, where, "next_steps", step_id):
            if not isinstance(item, ScalarNode) or _is_null(item):
                self.report(
                    line_of(item),
                    "bad_type",
                    f"{where}的 “next_steps” 每一项都应为文本，实际为{_describe(item)}",
                    step_id,
                )
                continue
            result.append(str(item.value))
        return tuple(result)


def _peek_id(node: Node) -> str | None:
    """The step's ``id`` if it is a plausible id, read without reporting anything."""
    if not isinstance(node, MappingNode):
        return None
    for key_node, value_node in node.value:
        if (
            isinstance(key_node, ScalarNode)
            and key_node.value == "id"
            and isinstance(value_node, ScalarNode)
            and ID_PATTERN.fullmatch(str(value_node.value))
        ):
            return str(value_node.value)
    return None


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL_TAG


def _as_outcome(value: str) -> Outcome:
    # Narrows a checked string to the Literal type without a cast.
    for outcome in OUTCOMES:
        if outcome == value:
            return outcome
    raise ValueError(value)
