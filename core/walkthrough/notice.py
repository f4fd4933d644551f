"""The 一次性告知 notice: everything the caller still needs, written down once.

Built from the path a run took: the materials of every step visited, split by
whether the agent ticked them, plus the end step's next steps and where to
submit. :meth:`Notice.as_text` gives plain text that pastes cleanly into a chat
window or a text message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from core.walkthrough.engine import RunState, check_state, materials, variable_values
from core.walkthrough.model import (
    OUTCOME_LABELS,
    ChecklistItem,
    Outcome,
    Walkthrough,
    substitute,
)

_NUMERALS: Final = "一二三四五六七八九十"


@dataclass(frozen=True)
class NoticeItem:
    """A material as listed in the notice.

    Attributes:
        id: The checklist item id.
        name: Name with variables filled in.
        form: 原件, 复印件 …
        count: Number of copies.
        required: Whether it is required.
        note: Note with variables filled in.
    """

    id: str
    name: str
    form: str
    count: int
    required: bool
    note: str = ""

    def describe(self) -> str:
        """One line, e.g. ``经营者身份证（原件 1 份）：须在有效期内``."""
        text = f"{self.name}（{self.form} {self.count} 份）"
        if self.note:
            text += f"：{self.note}"
        return text


@dataclass(frozen=True)
class Notice:
    """The one-time notice (一次性告知) for a caller.

    Attributes:
        walkthrough_id: The script it came from.
        version: The script version.
        matter_code: The matter code.
        matter_name: The matter's name (never the script's title: the caller asked
            about 社会保障卡补换, not about 社会保障卡补换导办).
        caller_name: How to address the caller, if known.
        outcome: The end step's outcome, except that ``ready_to_submit`` becomes
            ``missing_materials`` while required materials are unticked; ``None``
            when the run has not reached an end step.
        have: Materials the agent ticked.
        missing: Required materials not ticked.
        optional_missing: Optional materials not ticked.
        next_steps: What the caller does next.
        where_to_submit: Where or how to submit.
    """

    walkthrough_id: str
    version: int
    matter_code: str
    matter_name: str
    caller_name: str | None
    outcome: Outcome | None
    have: tuple[NoticeItem, ...]
    missing: tuple[NoticeItem, ...]
    optional_missing: tuple[NoticeItem, ...]
    next_steps: tuple[str, ...]
    where_to_submit: str

    @property
    def outcome_label(self) -> str:
        """The outcome in words, or a note that the guidance is not finished."""
        if self.outcome is None:
            return "导办尚未结束，以下为目前已确认的情况"
        return OUTCOME_LABELS[self.outcome]

    def as_text(self) -> str:
        """Plain text for a chat window or SMS: headings and numbered lists."""
        greeting = f"{self.caller_name}，您好！" if self.caller_name else "您好！"
        lines = [
            "【一次性告知】",
            f"事项：{self.matter_name}（{self.matter_code}）",
            "",
            f"{greeting}关于您咨询的“{self.matter_name}”，现将办理所需事项一次性告知如下：",
            "",
            f"办理结论：{self.outcome_label}",
        ]
        sections: list[tuple[str, list[str]]] = []
        # A caller told "not eligible" gains nothing from two empty material
        # lists; anyone who may still submit sees both, even when empty.
        has_materials = bool(self.have or self.missing or self.optional_missing)
        if has_materials or self.outcome not in ("not_eligible", "referred"):
            sections.append(("您已备齐的材料", _numbered(i.describe() for i in self.have)))
            sections.append(("还需补充的材料", _numbered(i.describe() for i in self.missing)))
        if self.optional_missing:
            sections.append(
                (
                    "可选材料（有则一并提供）",
                    _numbered(item.describe() for item in self.optional_missing),
                )
            )
        if self.next_steps:
            sections.append(("下一步", _numbered(self.next_steps)))
        if self.where_to_submit:
            sections.append(("办理地点和方式", [self.where_to_submit]))
        for index, (heading, body) in enumerate(sections):
            lines.append("")
            lines.append(f"{_NUMERALS[index]}、{heading}")
            lines.extend(body or ["无"])
        lines.append("")
        if self.missing:
            lines.append("请按以上清单一次备齐材料，避免往返。如有疑问，欢迎再次联系我们。")
        else:
            lines.append("如有疑问，欢迎再次联系我们。")
        return "\n".join(lines)


def build_notice(
    wt: Walkthrough,
    state: RunState,
    caller_name: str | None = None,
    matter_name: str | None = None,
) -> Notice:
    """Build the notice for a run, normally at its end step.

    It also works mid-run (outcome ``None``), so an agent whose call drops can
    still send what has been established so far.

    Args:
        wt: The script.
        state: The run state.
        caller_name: How to address the caller, e.g. 张女士.
        matter_name: The matter's name, as the matter catalogue has it; when not
            given, the script title without its 「导办」 words
            (:func:`matter_name_from_title`).

    Raises:
        WalkthroughError: The state does not fit the script.
    """
    check_state(wt, state)
    values = variable_values(wt, state)
    have: list[NoticeItem] = []
    missing: list[NoticeItem] = []
    optional_missing: list[NoticeItem] = []
    for item in materials(wt, state):
        entry = _notice_item(item, values)
        if state.ticks.get(item.id, False):
            have.append(entry)
        elif item.required:
            missing.append(entry)
        else:
            optional_missing.append(entry)
    end = wt.step(state.current).end
    outcome: Outcome | None = None
    next_steps: tuple[str, ...] = ()
    where_to_submit = ""
    if end is not None:
        outcome = end.outcome
        # A script may end on "ready" while the agent left required items
        # unticked; the caller must not read "材料齐全" above a list of gaps.
        if outcome == "ready_to_submit" and missing:
            outcome = "missing_materials"
        next_steps = tuple(substitute(text, values) for text in end.next_steps)
        where_to_submit = substitute(end.where_to_submit, values)
    return Notice(
        walkthrough_id=wt.id,
        version=wt.version,
        matter_code=wt.matter_code,
        matter_name=matter_name or matter_name_from_title(wt.title),
        caller_name=caller_name,
        outcome=outcome,
        have=tuple(have),
        missing=tuple(missing),
        optional_missing=tuple(optional_missing),
        next_steps=next_steps,
        where_to_submit=where_to_submit,
    )


_SCRIPT_WORDS: Final = ("（演示）", "(演示)", "导办脚本", "导办流程", "导办")


def matter_name_from_title(title: str) -> str:
    """The matter a script's title speaks of: 「社会保障卡补换导办」 → 「社会保障卡补换」.

    Only for a matter the catalogue does not know; the catalogue's name comes first.
    """
    name = title.strip()
    changed = True
    while changed:
        changed = False
        for word in _SCRIPT_WORDS:
            if name.endswith(word) and len(name) > len(word):
                name = name[: -len(word)].rstrip()
                changed = True
    return name


def _notice_item(item: ChecklistItem, values: Mapping[str, str]) -> NoticeItem:
    return NoticeItem(
        id=item.id,
        name=substitute(item.name, values),
        form=item.form,
        count=item.count,
        required=item.required,
        note=substitute(item.note, values),
    )


def _numbered(texts: Iterable[str]) -> list[str]:
    return [f"{index}. {text}" for index, text in enumerate(texts, start=1)]
