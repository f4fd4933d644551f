"""Run a walkthrough: pure functions over an immutable, JSON-safe :class:`RunState`.

Every operation takes the walkthrough and a state and returns a new state, so the
UI can keep the old one for undo, the sync layer can save each new one as a
``walkthrough_run`` mutation, and the server can replay the same rules. Nothing
here reads the clock or draws random numbers: the same calls give the same state.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from core.walkthrough.model import (
    ChecklistItem,
    FieldHint,
    KnowledgeRef,
    Option,
    Step,
    Walkthrough,
    substitute,
)

#: Bumped when the shape of :meth:`RunState.to_dict` changes incompatibly.
STATE_FORMAT: Final = 1


class WalkthroughError(Exception):
    """An illegal engine call or a saved state that does not fit the script.

    The message is Simplified Chinese and meant to be shown to the agent.
    """


def _frozen_str_map(values: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(values))


def _frozen_bool_map(values: Mapping[str, bool]) -> Mapping[str, bool]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True)
class RunState:
    """Where one session is in one walkthrough.

    Attributes:
        walkthrough_id: The script's id.
        version: The script version the run started with (a session keeps it).
        path: Step ids visited, from the start step to the current step.
        choices: One entry per move along ``path``: the option key chosen at a
            question step, or ``None`` for a linear ``next``. Kept so that
            :func:`back` undoes exactly the answer that was given, even when two
            options lead to the same step or the path loops.
        answers: Question variable to the chosen option key (latest answer wins).
        ticks: Checklist item id to whether the agent ticked it.
        completed: Set by :func:`finish`; a completed run is read-only.
    """

    walkthrough_id: str
    version: int
    path: tuple[str, ...]
    choices: tuple[str | None, ...] = ()
    answers: Mapping[str, str] = field(default_factory=dict, hash=False)
    ticks: Mapping[str, bool] = field(default_factory=dict, hash=False)
    completed: bool = False

    def __post_init__(self) -> None:
        if not self.path:
            raise WalkthroughError("运行记录没有任何步骤")
        if len(self.choices) != len(self.path) - 1:
            raise WalkthroughError("运行记录的路径与选择记录长度不一致")
        # Copies behind read-only views: a caller's dict changing later must not
        # change a state that was already saved or compared.
        object.__setattr__(self, "path", tuple(self.path))
        object.__setattr__(self, "choices", tuple(self.choices))
        object.__setattr__(self, "answers", _frozen_str_map(self.answers))
        object.__setattr__(self, "ticks", _frozen_bool_map(self.ticks))

    @property
    def current(self) -> str:
        """Id of the current step."""
        return self.path[-1]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict; keys of ``answers``/``ticks`` are sorted.

        ``position`` repeats the current step id for readers (such as the server)
        that do not need the full path.
        """
        return {
            "format": STATE_FORMAT,
            "walkthrough_id": self.walkthrough_id,
            "version": self.version,
            "position": self.current,
            "path": list(self.path),
            "choices": list(self.choices),
            "answers": {key: self.answers[key] for key in sorted(self.answers)},
            "ticks": {key: self.ticks[key] for key in sorted(self.ticks)},
            "completed": self.completed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunState:
        """Rebuild a state saved with :meth:`to_dict`.

        Args:
            data: The decoded JSON object.

        Raises:
            WalkthroughError: The data is not a saved run state.
        """
        if not isinstance(data, Mapping):
            raise WalkthroughError("运行记录格式不正确：应为 JSON 对象")
        fmt = data.get("format", STATE_FORMAT)
        if fmt != STATE_FORMAT:
            raise WalkthroughError(f"运行记录的格式版本 {fmt!r} 不受支持")
        wt_id = data.get("walkthrough_id")
        version = data.get("version")
        path = data.get("path")
        choices = data.get("choices", [])
        answers = data.get("answers", {})
        ticks = data.get("ticks", {})
        completed = data.get("completed", False)
        if not isinstance(wt_id, str) or not wt_id:
            raise WalkthroughError("运行记录格式不正确：缺少 walkthrough_id")
        if not isinstance(version, int) or isinstance(version, bool):
            raise WalkthroughError("运行记录格式不正确：version 应为整数")
        if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
            raise WalkthroughError("运行记录格式不正确：path 应为步骤编号列表")
        if not isinstance(choices, list) or not all(
            choice is None or isinstance(choice, str) for choice in choices
        ):
            raise WalkthroughError("运行记录格式不正确：choices 应为选项列表")
        if not isinstance(answers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in answers.items()
        ):
            raise WalkthroughError("运行记录格式不正确：answers 应为“变量: 选项”对象")
        if not isinstance(ticks, Mapping) or not all(
            isinstance(k, str) and isinstance(v, bool) for k, v in ticks.items()
        ):
            raise WalkthroughError("运行记录格式不正确：ticks 应为“材料: true/false”对象")
        if not isinstance(completed, bool):
            raise WalkthroughError("运行记录格式不正确：completed 应为 true 或 false")
        position = data.get("position")
        if position is not None and path and position != path[-1]:
            raise WalkthroughError("运行记录格式不正确：position 与 path 的最后一步不一致")
        return cls(
            walkthrough_id=wt_id,
            version=version,
            path=tuple(path),
            choices=tuple(choices),
            answers=dict(answers),
            ticks=dict(ticks),
            completed=completed,
        )


@dataclass(frozen=True)
class ItemView:
    """A checklist item as the player shows it.

    Attributes:
        item: The item from the script.
        name: Its name with variables filled in.
        note: Its note with variables filled in.
        ticked: Whether the agent ticked it.
    """

    item: ChecklistItem
    name: str
    note: str
    ticked: bool


@dataclass(frozen=True)
class StepView:
    """Everything the player needs to show the current step, texts rendered.

    Attributes:
        step: The step from the script.
        title: Title with variables filled in.
        say: 话术 with variables filled in.
        do: 操作 with variables filled in.
        prompt: The question, or ``None``.
        options: The question's options (labels are shown as written).
        checklist: The step's materials with their tick state.
        field_hints: Field hints with variables filled in.
        knowledge_refs: Cited knowledge entries.
        step_number: 1-based position (``len(path)``).
        estimated_total: See :func:`progress`.
        can_back: Whether :func:`back` is allowed.
        can_advance: Whether :func:`advance` is allowed.
        is_end: Whether this is an end step.
        completed: Whether :func:`finish` was called.
    """

    step: Step
    title: str
    say: str
    do: str
    prompt: str | None
    options: tuple[Option, ...]
    checklist: tuple[ItemView, ...]
    field_hints: tuple[FieldHint, ...]
    knowledge_refs: tuple[KnowledgeRef, ...]
    step_number: int
    estimated_total: int
    can_back: bool
    can_advance: bool
    is_end: bool
    completed: bool


def start(wt: Walkthrough) -> RunState:
    """Begin a run at the script's start step.

    Raises:
        WalkthroughError: The script has no usable start step.
    """
    if not wt.has_step(wt.start):
        raise WalkthroughError(f"导办脚本 “{wt.id}” 的起始步骤 “{wt.start}” 不存在")
    return RunState(walkthrough_id=wt.id, version=wt.version, path=(wt.start,))


def check_state(wt: Walkthrough, state: RunState) -> None:
    """Check that a (possibly restored) state fits the script.

    Args:
        wt: The script, at the version the run started with.
        state: The state to check.

    Raises:
        WalkthroughError: Another script or version, a step or material that does
            not exist, a move the script does not allow, or answers that do not
            match the moves.
    """
    if state.walkthrough_id != wt.id or state.version != wt.version:
        raise WalkthroughError(
            f"运行记录属于导办脚本 “{state.walkthrough_id}” 第 {state.version} 版，"
            f"与当前脚本 “{wt.id}” 第 {wt.version} 版不一致"
        )
    if state.path[0] != wt.start:
        raise WalkthroughError(f"运行记录没有从起始步骤 “{wt.start}” 开始")
    for step_id in state.path:
        if not wt.has_step(step_id):
            raise WalkthroughError(f"运行记录中的步骤 “{step_id}” 在脚本中不存在")
    for index, choice in enumerate(state.choices):
        step = wt.step(state.path[index])
        if _target(step, choice) != state.path[index + 1]:
            raise WalkthroughError(
                f"运行记录中从步骤 “{step.id}” 到 “{state.path[index + 1]}” 的跳转不符合脚本"
            )
    if dict(state.answers) != _answers(wt, state.path, state.choices):
        raise WalkthroughError("运行记录中的回答与走过的步骤不一致")
    known_items = {item.id for step in wt.steps for item in step.checklist}
    for item_id in state.ticks:
        if item_id not in known_items:
            raise WalkthroughError(f"运行记录勾选了脚本中不存在的材料 “{item_id}”")
    if state.completed and not wt.step(state.current).is_end:
        raise WalkthroughError("运行记录标记为已完成，但当前步骤不是结束步骤")


def current_step(wt: Walkthrough, state: RunState) -> Step:
    """Return the step the run is on.

    Raises:
        WalkthroughError: The state does not fit the script.
    """
    check_state(wt, state)
    return wt.step(state.current)


def answer(wt: Walkthrough, state: RunState, option_key: str) -> RunState:
    """Answer the current step's question and move to the option's step.

    Args:
        wt: The script.
        state: The current state.
        option_key: The chosen option's ``key``.

    Raises:
        WalkthroughError: The run is completed, the step asks nothing, or there
            is no such option.
    """
    step = _editable_step(wt, state)
    if step.question is None:
        raise WalkthroughError(f"步骤 “{step.id}” 没有需要回答的问题")
    option = step.question.option(option_key)
    if option is None:
        raise WalkthroughError(f"步骤 “{step.id}” 没有选项 “{option_key}”")
    answers = dict(state.answers)
    answers[step.question.variable] = option.key
    return RunState(
        walkthrough_id=state.walkthrough_id,
        version=state.version,
        path=(*state.path, option.next),
        choices=(*state.choices, option.key),
        answers=answers,
        ticks=state.ticks,
    )


def advance(wt: Walkthrough, state: RunState) -> RunState:
    """Move on from a linear step (one with ``next``).

    Raises:
        WalkthroughError: The run is completed, the step asks a question, or it
            is an end step.
    """
    step = _editable_step(wt, state)
    if step.next is None:
        if step.question is not None:
            raise WalkthroughError(f"步骤 “{step.id}” 需要先回答问题才能继续")
        raise WalkthroughError(f"步骤 “{step.id}” 是结束步骤，没有下一步")
    return RunState(
        walkthrough_id=state.walkthrough_id,
        version=state.version,
        path=(*state.path, step.next),
        choices=(*state.choices, None),
        answers=state.answers,
        ticks=state.ticks,
    )


def back(wt: Walkthrough, state: RunState) -> RunState:
    """Return to the previous step and forget the answer given there.

    Ticks are kept: a material the caller has does not disappear because the
    agent went back a step.

    Raises:
        WalkthroughError: The run is completed or already at the first step.
    """
    _editable_step(wt, state)
    if len(state.path) < 2:
        raise WalkthroughError("已经是第一步，无法返回")
    path = state.path[:-1]
    choices = state.choices[:-1]
    return RunState(
        walkthrough_id=state.walkthrough_id,
        version=state.version,
        path=path,
        choices=choices,
        answers=_answers(wt, path, choices),
        ticks=state.ticks,
    )


def tick(wt: Walkthrough, state: RunState, item_id: str, ticked: bool = True) -> RunState:
    """Tick or untick a material of any step on the path taken.

    Args:
        wt: The script.
        state: The current state.
        item_id: The checklist item's id.
        ticked: ``True`` when the caller has the material.

    Raises:
        WalkthroughError: The run is completed or the item is not on the path.
    """
    _editable_step(wt, state)
    if item_id not in {item.id for item in materials(wt, state)}:
        raise WalkthroughError(f"材料 “{item_id}” 不在已走过的步骤中，无法勾选")
    ticks = dict(state.ticks)
    ticks[item_id] = ticked
    return RunState(
        walkthrough_id=state.walkthrough_id,
        version=state.version,
        path=state.path,
        choices=state.choices,
        answers=state.answers,
        ticks=ticks,
    )


def finish(wt: Walkthrough, state: RunState) -> RunState:
    """Mark the run as completed at its end step; it is read-only afterwards.

    Raises:
        WalkthroughError: Already completed, or the current step is not an end.
    """
    step = _editable_step(wt, state)
    if not step.is_end:
        raise WalkthroughError(f"尚未到达结束步骤（当前为 “{step.id}”），不能完成导办")
    return RunState(
        walkthrough_id=state.walkthrough_id,
        version=state.version,
        path=state.path,
        choices=state.choices,
        answers=state.answers,
        ticks=state.ticks,
        completed=True,
    )


def is_finished(wt: Walkthrough, state: RunState) -> bool:
    """Whether the run has reached an end step (the notice can be built).

    ``state.completed`` additionally tells whether :func:`finish` confirmed it.
    """
    check_state(wt, state)
    return wt.step(state.current).is_end


def can_back(state: RunState) -> bool:
    """Whether :func:`back` would succeed (for enabling a button)."""
    return len(state.path) > 1 and not state.completed


def can_advance(wt: Walkthrough, state: RunState) -> bool:
    """Whether :func:`advance` would succeed (for enabling a button)."""
    return not state.completed and wt.step(state.current).next is not None


def progress(wt: Walkthrough, state: RunState) -> tuple[int, int]:
    """Return ``(step_number, estimated_total)`` for 「第 3 步，共 8 步」.

    The estimate is the steps taken so far plus the longest of the shortest
    routes from the current step to each end it can reach. Taking the longest
    errs on the high side: a total that later shrinks reassures a caller more
    than one that keeps growing. Detours and loops can still raise it.
    """
    check_state(wt, state)
    taken = len(state.path)
    distances = _distances_from(wt, state.current)
    remaining = max(
        (distance for step_id, distance in distances.items() if wt.step(step_id).is_end),
        default=0,
    )
    return taken, taken + remaining


def materials(wt: Walkthrough, state: RunState) -> tuple[ChecklistItem, ...]:
    """Checklist items of every step on the path taken, first occurrence wins."""
    seen: dict[str, ChecklistItem] = {}
    for step_id in state.path:
        for item in wt.step(step_id).checklist:
            seen.setdefault(item.id, item)
    return tuple(seen.values())


def variable_values(wt: Walkthrough, state: RunState) -> dict[str, str]:
    """Variable name to display text: script defaults, overridden by answer labels."""
    values = dict(wt.variables)
    for index, choice in enumerate(state.choices):
        question = wt.step(state.path[index]).question
        if choice is None or question is None:
            continue
        option = question.option(choice)
        if option is not None:
            values[question.variable] = option.label
    return values


def render(wt: Walkthrough, state: RunState, text: str) -> str:
    """Fill ``{variable}`` placeholders in ``text`` from the run's answers."""
    return substitute(text, variable_values(wt, state))


def view(wt: Walkthrough, state: RunState) -> StepView:
    """Return the current step with texts rendered, ticks and progress attached.

    Raises:
        WalkthroughError: The state does not fit the script.
    """
    step = current_step(wt, state)
    values = variable_values(wt, state)
    number, total = progress(wt, state)
    return StepView(
        step=step,
        title=substitute(step.title, values),
        say=substitute(step.say, values),
        do=substitute(step.do, values),
        prompt=substitute(step.question.prompt, values) if step.question else None,
        options=step.question.options if step.question else (),
        checklist=tuple(
            ItemView(
                item=item,
                name=substitute(item.name, values),
                note=substitute(item.note, values),
                ticked=state.ticks.get(item.id, False),
            )
            for item in step.checklist
        ),
        field_hints=tuple(
            FieldHint(hint.field, substitute(hint.hint, values), hint.line)
            for hint in step.field_hints
        ),
        knowledge_refs=step.knowledge_refs,
        step_number=number,
        estimated_total=total,
        can_back=can_back(state),
        can_advance=can_advance(wt, state),
        is_end=step.is_end,
        completed=state.completed,
    )


def _editable_step(wt: Walkthrough, state: RunState) -> Step:
    check_state(wt, state)
    if state.completed:
        raise WalkthroughError("导办已完成，不能再修改")
    return wt.step(state.current)


def _target(step: Step, choice: str | None) -> str | None:
    """Where ``choice`` (or a linear move when ``None``) leads from ``step``."""
    if choice is None:
        return step.next
    if step.question is None:
        return None
    option = step.question.option(choice)
    return option.next if option is not None else None


def _answers(
    wt: Walkthrough, path: tuple[str, ...], choices: tuple[str | None, ...]
) -> dict[str, str]:
    answers: dict[str, str] = {}
    for index, choice in enumerate(choices):
        question = wt.step(path[index]).question
        if choice is not None and question is not None:
            answers[question.variable] = choice
    return answers


def _distances_from(wt: Walkthrough, source: str) -> dict[str, int]:
    """Breadth-first number of moves from ``source`` to every reachable step."""
    distances = {source: 0}
    queue = deque([source])
    while queue:
        step_id = queue.popleft()
        for target in wt.step(step_id).successors:
            if target not in distances and wt.has_step(target):
                distances[target] = distances[step_id] + 1
                queue.append(target)
    return distances
