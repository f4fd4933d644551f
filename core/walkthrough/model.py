"""The walkthrough (导办脚本) domain model: frozen dataclasses, no I/O.

A walkthrough is a directed graph of steps. A step either asks a question whose
options branch to other steps, moves on linearly with ``next``, or is an end step
with an outcome. The loader builds these objects from YAML; the validator, the
engine and the notice builder only read them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Final, Literal, TypeAlias

Outcome: TypeAlias = Literal["ready_to_submit", "missing_materials", "not_eligible", "referred"]
Severity: TypeAlias = Literal["error", "warning"]

#: Every outcome an end step may declare, in the order the docs list them.
OUTCOMES: Final[tuple[Outcome, ...]] = (
    "ready_to_submit",
    "missing_materials",
    "not_eligible",
    "referred",
)

#: How each outcome reads to a caller (used in the 一次性告知 notice and the UI).
OUTCOME_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "ready_to_submit": "材料齐全，可以提交申请",
        "missing_materials": "材料尚不齐全，请补齐后再提交",
        "not_eligible": "暂不符合办理条件",
        "referred": "需转由其他部门或渠道办理",
    }
)

#: The forms a material may take. "原件及复印件" is common in halls: the original is
#: checked and handed back, the copy is kept.
MATERIAL_FORMS: Final[tuple[str, ...]] = ("原件", "复印件", "原件及复印件", "电子件")

#: A variable reference in any text: ``{applicant_type}``. ``{{`` and ``}}`` stand
#: for literal braces, so a script can still show one.
VARIABLE_PATTERN: Final[re.Pattern[str]] = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")

_EMPTY: Final[Mapping[str, int]] = MappingProxyType({})


def _empty_lines() -> Mapping[str, int]:
    return _EMPTY


def variables_in(text: str) -> tuple[str, ...]:
    """Return the variable names a text refers to, in order of first use.

    Args:
        text: Any script text, e.g. a 话术 line.

    Returns:
        The distinct names inside ``{...}``; escaped braces are ignored.
    """
    names: dict[str, None] = {}
    for match in VARIABLE_PATTERN.finditer(text):
        name = match.group(1)
        if name is not None:
            names.setdefault(name, None)
    return tuple(names)


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Fill ``{name}`` placeholders from ``values``.

    A name without a value stays as ``{name}`` so that a gap is visible to the
    agent instead of silently disappearing from what they read out.

    Args:
        text: The text with placeholders.
        values: Variable name to the text that replaces it.

    Returns:
        The text with known placeholders replaced and ``{{``/``}}`` unescaped.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]
        return values.get(name, match.group(0))

    return VARIABLE_PATTERN.sub(replace, text)


@dataclass(frozen=True)
class ValidationIssue:
    """One problem found in a walkthrough file.

    Attributes:
        file: The file name the text came from, as given by the caller.
        line: 1-based line number; 0 when the problem has no place in the file.
        code: A stable English slug (``unknown_next``, ``missing_field`` …) that
            tools and tests can rely on.
        message: What is wrong, in Simplified Chinese, naming the offending id.
        step_id: The step the problem belongs to, if any.
        severity: ``"error"`` makes the script unusable; ``"warning"`` asks for review.
    """

    file: str
    line: int
    code: str
    message: str
    step_id: str | None = None
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        """Whether this issue makes the script unusable."""
        return self.severity == "error"

    def format(self) -> str:
        """Render as ``file:line: severity [code] message`` (the CLI's format)."""
        return f"{self.file}:{self.line}: {self.severity} [{self.code}] {self.message}"

    def __str__(self) -> str:
        return self.format()


@dataclass(frozen=True)
class ChecklistItem:
    """A material (申请材料) the caller should have.

    Attributes:
        id: Unique within its step; the same id in two steps means the same material,
            and a tick applies to it wherever it appears.
        name: What the material is called, e.g. 经营者身份证.
        form: One of :data:`MATERIAL_FORMS`.
        count: How many copies (份).
        required: Whether the matter cannot be submitted without it.
        note: Extra guidance, e.g. 须在有效期内.
        line: Line of the item in the source file.
    """

    id: str
    name: str
    form: str = "原件"
    count: int = 1
    required: bool = True
    note: str = ""
    line: int = 0


@dataclass(frozen=True)
class Option:
    """One answer to a question and the step it leads to.

    Attributes:
        key: Stable identifier of the answer (stored in run state).
        label: What the agent sees and what ``{variable}`` renders as.
        next: The id of the step this answer leads to.
        line: Line of the option in the source file.
    """

    key: str
    label: str
    next: str
    line: int = 0


@dataclass(frozen=True)
class Question:
    """A question whose answer picks the next step and sets a variable.

    Attributes:
        prompt: What to ask the caller.
        variable: The variable the chosen option's label is stored under.
        options: The possible answers, in display order.
        line: Line of the question in the source file.
    """

    prompt: str
    variable: str
    options: tuple[Option, ...]
    line: int = 0

    def option(self, key: str) -> Option | None:
        """Return the option with ``key``, or ``None``."""
        for option in self.options:
            if option.key == key:
                return option
        return None


@dataclass(frozen=True)
class FieldHint:
    """A hint for one field of the online form (表单填写提示).

    Attributes:
        field: The field's label as shown on the form, e.g. 经营场所.
        hint: How to fill it in.
        line: Line of the hint in the source file.
    """

    field: str
    hint: str
    line: int = 0


@dataclass(frozen=True)
class KnowledgeRef:
    """A citation of a knowledge entry at a given version.

    Attributes:
        entry_id: The knowledge entry's id.
        version: The entry version the step was written against.
        line: Line of the reference in the source file.
    """

    entry_id: str
    version: int
    line: int = 0


@dataclass(frozen=True)
class EndInfo:
    """What an end step concludes.

    Attributes:
        outcome: One of :data:`OUTCOMES`.
        next_steps: What the caller does next, one sentence per item.
        where_to_submit: Where or how to hand in the application.
        line: Line of the ``end`` mapping in the source file.
    """

    outcome: Outcome
    next_steps: tuple[str, ...] = ()
    where_to_submit: str = ""
    line: int = 0


@dataclass(frozen=True)
class Step:
    """One step of a walkthrough.

    Exactly one of ``question``, ``next`` and ``end`` is set on a valid step.

    Attributes:
        id: Unique within the walkthrough.
        title: Short heading shown in the player.
        say: What the agent says (话术).
        do: What the agent does (操作), e.g. which page to open.
        checklist: Materials to check at this step.
        question: The branching question, if any.
        next: The following step for a linear step.
        field_hints: Hints for form fields.
        knowledge_refs: Knowledge entries the step relies on.
        end: Set on end steps.
        line: Line where the step starts in the source file.
        lines: Line of each key of the step mapping, for precise messages.
    """

    id: str
    title: str
    say: str = ""
    do: str = ""
    checklist: tuple[ChecklistItem, ...] = ()
    question: Question | None = None
    next: str | None = None
    field_hints: tuple[FieldHint, ...] = ()
    knowledge_refs: tuple[KnowledgeRef, ...] = ()
    end: EndInfo | None = None
    line: int = 0
    lines: Mapping[str, int] = field(default_factory=_empty_lines, compare=False, hash=False)

    @property
    def is_end(self) -> bool:
        """Whether the walkthrough stops here."""
        return self.end is not None

    @property
    def successors(self) -> tuple[str, ...]:
        """Ids this step can lead to, in option order, without repeats."""
        targets: list[str] = []
        if self.question is not None:
            targets.extend(option.next for option in self.question.options)
        if self.next is not None:
            targets.append(self.next)
        return tuple(dict.fromkeys(targets))

    def line_of(self, key: str) -> int:
        """Line of ``key`` in this step, falling back to the step's own line."""
        return self.lines.get(key, self.line)

    def texts(self) -> Iterator[tuple[str, str, int]]:
        """Yield ``(key, text, line)`` for every text that may use variables."""
        yield "title", self.title, self.line_of("title")
        yield "say", self.say, self.line_of("say")
        yield "do", self.do, self.line_of("do")
        for item in self.checklist:
            yield "checklist", item.name, item.line
            yield "checklist", item.note, item.line
        if self.question is not None:
            yield "question", self.question.prompt, self.question.line
        for hint in self.field_hints:
            yield "field_hints", hint.hint, hint.line
        if self.end is not None:
            for text in self.end.next_steps:
                yield "end", text, self.end.line
            yield "end", self.end.where_to_submit, self.end.line


@dataclass(frozen=True)
class Walkthrough:
    """A versioned step-by-step script for one matter (导办脚本).

    Attributes:
        id: Stable id of the script (stays the same across versions).
        matter_code: The matter (事项) code, e.g. ``SCJG-GTGSH-SL``.
        title: Human title.
        version: Positive integer; a running session keeps the version it started with.
        start: Id of the first step.
        steps: All steps in file order.
        variables: Script-level variables and their default text, usable in every
            text and overridden by an answer that sets the same name.
        description: Optional note for script authors and reviewers.
        line: Line of the document in the source file.
        lines: Line of each top-level key, for precise messages.
    """

    id: str
    matter_code: str
    title: str
    version: int
    start: str
    steps: tuple[Step, ...]
    variables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    description: str = ""
    line: int = 1
    lines: Mapping[str, int] = field(default_factory=_empty_lines, compare=False, hash=False)

    @cached_property
    def step_map(self) -> Mapping[str, Step]:
        """Step id to step; with duplicate ids the first one wins."""
        result: dict[str, Step] = {}
        for step in self.steps:
            result.setdefault(step.id, step)
        return MappingProxyType(result)

    def step(self, step_id: str) -> Step:
        """Return the step with ``step_id``.

        Raises:
            KeyError: No such step.
        """
        return self.step_map[step_id]

    def has_step(self, step_id: str) -> bool:
        """Whether a step with ``step_id`` exists."""
        return step_id in self.step_map

    @property
    def end_steps(self) -> tuple[Step, ...]:
        """The end steps, in file order."""
        return tuple(step for step in self.steps if step.is_end)

    def line_of(self, key: str) -> int:
        """Line of a top-level ``key``, falling back to the document's line."""
        return self.lines.get(key, self.line)
