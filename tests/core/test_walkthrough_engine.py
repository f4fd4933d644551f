"""Engine and notice tests, including property tests on random valid scripts."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from core.walkthrough import (
    RunState,
    Walkthrough,
    WalkthroughError,
    advance,
    answer,
    back,
    build_notice,
    can_advance,
    can_back,
    check_state,
    current_step,
    finish,
    is_finished,
    load_text,
    materials,
    progress,
    render,
    start,
    tick,
    validate_text,
    view,
)

SCRIPT = textwrap.dedent(
    """\
    id: engine-test
    matter: GA-JZZ-SL
    title: 居住证申领（测试）
    version: 3
    variables:
      hall: 江宁市政务服务中心
    steps:
      - id: who
        title: 申请人
        say: 请问是本人办理还是委托代办？
        checklist:
          - {id: id_card, name: 申请人身份证, form: 原件}
        question:
          prompt: 谁来办理？
          variable: applicant_type
          options:
            - {key: self, label: 本人办理, next: housing}
            - {key: agent, label: 委托代办, next: agent_docs}
      - id: agent_docs
        title: 代办材料
        say: 按{applicant_type}准备材料
        checklist:
          - {id: agent_id, name: 代办人身份证, form: 原件}
          - {id: letter, name: 委托书, form: 原件, note: 申请人签字}
        next: housing
      - id: housing
        title: 居住情况
        checklist:
          - {id: lease, name: 租赁合同, form: 复印件, count: 2}
          - {id: photo, name: 近期证件照, form: 电子件, required: false}
        question:
          prompt: 居住满半年了吗？
          variable: months
          options:
            - {key: yes6, label: 已满半年, next: ready}
            - {key: no6, label: 不满半年, next: too_early}
            - {key: unsure, label: 不确定, next: housing}
      - id: ready
        title: 可以提交
        say: 请到{hall}办理（{applicant_type}）
        end:
          outcome: ready_to_submit
          next_steps:
            - 到{hall}取号
            - 领取居住证
          where_to_submit: "{hall}公安窗口"
      - id: too_early
        title: 暂不符合
        end:
          outcome: not_eligible
          next_steps: 居住满半年后再申请
    """
)


@pytest.fixture(scope="module")
def wt() -> Walkthrough:
    return load_text(SCRIPT, "engine.yaml")


def test_start(wt: Walkthrough) -> None:
    state = start(wt)
    assert state.current == "who"
    assert state.path == ("who",)
    assert state.version == 3
    assert current_step(wt, state).id == "who"
    assert not is_finished(wt, state)
    assert not can_back(state)
    assert not can_advance(wt, state)


def test_answer_branches_and_sets_variable(wt: Walkthrough) -> None:
    state = answer(wt, start(wt), "agent")
    assert state.current == "agent_docs"
    assert state.answers == {"applicant_type": "agent"}
    assert view(wt, state).say == "按委托代办准备材料"
    assert render(wt, state, "{applicant_type}/{hall}/{unknown}") == (
        "委托代办/江宁市政务服务中心/{unknown}"
    )


def test_advance_linear_step(wt: Walkthrough) -> None:
    state = advance(wt, answer(wt, start(wt), "agent"))
    assert state.current == "housing"
    assert state.choices == ("agent", None)


def test_illegal_moves_raise_in_chinese(wt: Walkthrough) -> None:
    state = start(wt)
    with pytest.raises(WalkthroughError, match="需要先回答问题"):
        advance(wt, state)
    with pytest.raises(WalkthroughError, match="没有选项 “nope”"):
        answer(wt, state, "nope")
    with pytest.raises(WalkthroughError, match="已经是第一步"):
        back(wt, state)
    with pytest.raises(WalkthroughError, match="尚未到达结束步骤"):
        finish(wt, state)
    linear = answer(wt, state, "agent")
    with pytest.raises(WalkthroughError, match="没有需要回答的问题"):
        answer(wt, linear, "self")


def test_back_undoes_the_answer_but_keeps_ticks(wt: Walkthrough) -> None:
    state = tick(wt, answer(wt, start(wt), "agent"), "letter")
    state = back(wt, state)
    assert state.current == "who"
    assert state.answers == {}
    assert state.ticks == {"letter": True}


def test_back_in_a_loop_restores_the_earlier_answer(wt: Walkthrough) -> None:
    state = answer(wt, start(wt), "self")
    state = answer(wt, state, "unsure")  # housing -> housing
    state = answer(wt, state, "unsure")
    assert state.path == ("who", "housing", "housing", "housing")
    state = back(wt, state)
    assert state.answers == {"applicant_type": "self", "months": "unsure"}
    state = back(wt, back(wt, state))
    assert state.answers == {}


def test_tick_only_materials_on_the_path(wt: Walkthrough) -> None:
    state = answer(wt, start(wt), "self")
    state = tick(wt, state, "id_card")
    state = tick(wt, state, "lease", ticked=False)
    assert state.ticks == {"id_card": True, "lease": False}
    with pytest.raises(WalkthroughError, match="letter"):
        tick(wt, state, "letter")
    assert [item.id for item in materials(wt, state)] == ["id_card", "lease", "photo"]


def test_finish_makes_the_run_read_only(wt: Walkthrough) -> None:
    state = answer(wt, answer(wt, start(wt), "self"), "yes6")
    assert is_finished(wt, state)
    done = finish(wt, state)
    assert done.completed
    calls: list[Callable[[], RunState]] = [
        lambda: back(wt, done),
        lambda: tick(wt, done, "id_card"),
        lambda: finish(wt, done),
    ]
    for call in calls:
        with pytest.raises(WalkthroughError, match="已完成"):
            call()
    assert not can_back(done)


def test_progress_counts_taken_plus_longest_shortest_remaining(wt: Walkthrough) -> None:
    state = start(wt)
    # Both ends are two moves away (who -> housing -> ready / too_early).
    assert progress(wt, state) == (1, 3)
    assert progress(wt, answer(wt, state, "agent")) == (2, 4)
    state = answer(wt, state, "self")
    assert progress(wt, state) == (2, 3)
    state = answer(wt, state, "unsure")
    assert progress(wt, state) == (3, 4)
    state = answer(wt, state, "yes6")
    assert progress(wt, state) == (4, 4)


def test_state_round_trips_through_json(wt: Walkthrough) -> None:
    state = answer(wt, start(wt), "agent")
    state = tick(wt, advance(wt, state), "letter")
    data = json.loads(json.dumps(state.to_dict(), ensure_ascii=False))
    assert data["position"] == "housing"
    assert data["path"] == ["who", "agent_docs", "housing"]
    restored = RunState.from_dict(data)
    assert restored == state
    check_state(wt, restored)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"path": []}, "没有任何步骤"),
        ({"version": "3"}, "version"),
        ({"path": "who"}, "path"),
        ({"ticks": {"id_card": "yes"}}, "ticks"),
        ({"position": "ready"}, "position"),
        ({"format": 99}, "格式版本"),
        ({"choices": ["agent", None, None]}, "长度"),
    ],
)
def test_from_dict_rejects_malformed_data(
    wt: Walkthrough, patch: dict[str, Any], message: str
) -> None:
    data = advance(wt, answer(wt, start(wt), "agent")).to_dict()
    data.update(patch)
    with pytest.raises(WalkthroughError, match=message):
        RunState.from_dict(data)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"version": 2}, "第 2 版"),
        ({"walkthrough_id": "other"}, "other"),
        ({"path": ["who", "ready"], "choices": ["agent"], "position": "ready"}, "跳转"),
        ({"answers": {"applicant_type": "self"}}, "回答"),
        ({"ticks": {"ghost": True}}, "ghost"),
        ({"path": ["housing"], "choices": [], "position": "housing", "answers": {}}, "起始"),
    ],
)
def test_check_state_rejects_states_of_another_script(
    wt: Walkthrough, patch: dict[str, Any], message: str
) -> None:
    data = answer(wt, start(wt), "agent").to_dict()
    data.update(patch)
    state = RunState.from_dict(data)
    with pytest.raises(WalkthroughError, match=message):
        advance(wt, state)


def test_same_calls_give_the_same_state(wt: Walkthrough) -> None:
    def run() -> dict[str, Any]:
        state = answer(wt, start(wt), "agent")
        state = tick(wt, advance(wt, state), "lease")
        return finish(wt, answer(wt, state, "yes6")).to_dict()

    assert json.dumps(run(), sort_keys=True) == json.dumps(run(), sort_keys=True)


def test_notice_lists_have_missing_and_optional(wt: Walkthrough) -> None:
    state = answer(wt, start(wt), "agent")
    state = tick(wt, tick(wt, advance(wt, state), "id_card"), "agent_id")
    state = answer(wt, state, "yes6")
    notice = build_notice(wt, state, caller_name="李先生", matter_name="居住证申领")
    assert [item.id for item in notice.have] == ["id_card", "agent_id"]
    assert [item.id for item in notice.missing] == ["letter", "lease"]
    assert [item.id for item in notice.optional_missing] == ["photo"]
    # The script says "ready" but required materials are unticked.
    assert notice.outcome == "missing_materials"
    assert notice.next_steps == ("到江宁市政务服务中心取号", "领取居住证")
    assert notice.where_to_submit == "江宁市政务服务中心公安窗口"
    text = notice.as_text()
    assert text.startswith("【一次性告知】")
    assert "李先生，您好！" in text
    assert "一、您已备齐的材料\n1. 申请人身份证（原件 1 份）\n2. 代办人身份证（原件 1 份）" in text
    assert (
        "二、还需补充的材料\n1. 委托书（原件 1 份）：申请人签字\n2. 租赁合同（复印件 2 份）" in text
    )
    assert "三、可选材料（有则一并提供）\n1. 近期证件照（电子件 1 份）" in text
    assert "四、下一步\n1. 到江宁市政务服务中心取号\n2. 领取居住证" in text
    assert "五、办理地点和方式\n江宁市政务服务中心公安窗口" in text


def test_notice_when_everything_is_ticked(wt: Walkthrough) -> None:
    state = answer(wt, start(wt), "self")
    for item in ("id_card", "lease", "photo"):
        state = tick(wt, state, item)
    state = finish(wt, answer(wt, state, "yes6"))
    notice = build_notice(wt, state)
    assert notice.outcome == "ready_to_submit"
    assert notice.missing == ()
    text = notice.as_text()
    assert "您好！关于您咨询的“居住证申领（测试）”" in text
    assert "二、还需补充的材料\n无" in text
    assert "材料齐全，可以提交申请" in text


def test_notice_mid_run_has_no_outcome(wt: Walkthrough) -> None:
    notice = build_notice(wt, start(wt))
    assert notice.outcome is None
    assert [item.id for item in notice.missing] == ["id_card"]
    assert "导办尚未结束" in notice.as_text()


def test_not_eligible_notice(wt: Walkthrough) -> None:
    state = answer(wt, answer(wt, start(wt), "self"), "no6")
    notice = build_notice(wt, state)
    assert notice.outcome == "not_eligible"
    assert notice.next_steps == ("居住满半年后再申请",)
    assert "暂不符合办理条件" in notice.as_text()


def test_view_renders_the_current_step(wt: Walkthrough) -> None:
    state = tick(wt, answer(wt, start(wt), "self"), "lease")
    shown = view(wt, state)
    assert shown.step.id == "housing"
    assert shown.prompt == "居住满半年了吗？"
    assert [option.key for option in shown.options] == ["yes6", "no6", "unsure"]
    assert [(item.item.id, item.ticked) for item in shown.checklist] == [
        ("lease", True),
        ("photo", False),
    ]
    assert (shown.step_number, shown.estimated_total) == (2, 3)
    assert shown.can_back
    assert not shown.can_advance
    assert not shown.is_end


# --- property tests ---------------------------------------------------------

Op = tuple[Any, ...]

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("answer"), st.integers(0, 7)),
        st.tuples(st.just("bad_answer")),
        st.tuples(st.just("advance")),
        st.tuples(st.just("back")),
        st.tuples(st.just("tick"), st.integers(0, 20), st.booleans()),
        st.tuples(st.just("finish")),
    ),
    max_size=40,
)


def _refused(call: Callable[[], RunState], state: RunState) -> RunState:
    with pytest.raises(WalkthroughError):
        call()
    return state


def apply_op(wt: Walkthrough, state: RunState, op: Op) -> RunState:
    """Apply one operation: a legal one must succeed, an illegal one must raise."""
    step = wt.step(state.current)
    is_open = not state.completed
    match op:
        case ("answer", index):
            if step.question is not None and is_open:
                options = step.question.options
                return answer(wt, state, options[index % len(options)].key)
            return _refused(lambda: answer(wt, state, "o0"), state)
        case ("bad_answer",):
            return _refused(lambda: answer(wt, state, "no-such-option"), state)
        case ("advance",):
            if step.next is not None and is_open:
                return advance(wt, state)
            return _refused(lambda: advance(wt, state), state)
        case ("back",):
            if can_back(state):
                return back(wt, state)
            return _refused(lambda: back(wt, state), state)
        case ("tick", index, ticked):
            items = materials(wt, state)
            if items and is_open:
                return tick(wt, state, items[index % len(items)].id, ticked)
            return _refused(lambda: tick(wt, state, "no-such-item", ticked), state)
        case ("finish",):
            if step.is_end and is_open:
                return finish(wt, state)
            return _refused(lambda: finish(wt, state), state)
    raise AssertionError(op)


def apply_ops(wt: Walkthrough, ops: list[Op]) -> RunState:
    state = start(wt)
    check_invariants(wt, state)
    for op in ops:
        state = apply_op(wt, state, op)
        check_invariants(wt, state)
    return state


def check_invariants(wt: Walkthrough, state: RunState) -> None:
    assert wt.has_step(state.current)
    check_state(wt, state)
    step = wt.step(state.current)
    if step.question is None and step.next is None:
        assert step.is_end
    if state.completed:
        assert step.is_end
    number, total = progress(wt, state)
    assert number == len(state.path)
    assert total >= number
    data = json.loads(json.dumps(state.to_dict()))
    assert RunState.from_dict(data) == state
    assert RunState.from_dict(data).to_dict() == state.to_dict()


def walk_to_end(wt: Walkthrough, state: RunState) -> RunState:
    """Drive a run on to an end step, always taking the way closest to an end."""
    for _ in range(len(wt.steps) + 1):
        step = wt.step(state.current)
        if step.is_end:
            return state
        if step.next is not None:
            state = advance(wt, state)
            continue
        assert step.question is not None
        # Each move strictly shortens the distance to an end in a valid script,
        # so this ends within len(steps) moves.
        best = min(step.question.options, key=lambda option: _distance_to_end(wt, option.next))
        state = answer(wt, state, best.key)
    raise AssertionError("no end reached")


def _distance_to_end(wt: Walkthrough, step_id: str) -> int:
    frontier, seen, distance = [step_id], {step_id}, 0
    while frontier:
        if any(wt.step(s).is_end for s in frontier):
            return distance
        following = [t for s in frontier for t in wt.step(s).successors if t not in seen]
        seen.update(following)
        frontier, distance = following, distance + 1
    return 10**6


@settings(database=None, max_examples=200, deadline=None)
@given(OPS)
def test_any_sequence_stays_on_a_valid_step(ops: list[Op]) -> None:
    wt = load_text(SCRIPT, "engine.yaml")
    apply_ops(wt, ops)


@st.composite
def random_scripts(draw: st.DrawFn) -> str:
    """A random valid script: a spanning tree from the start, forward edges to an
    end from every step, random back edges for loops, random checklists."""
    count = draw(st.integers(2, 12))
    is_end = [False] + [draw(st.booleans()) for _ in range(count - 2)] + [True]
    targets: list[list[int]] = [[] for _ in range(count)]
    for index in range(1, count):
        parents = [j for j in range(index) if not is_end[j]]
        targets[draw(st.sampled_from(parents))].append(index)
    steps: list[dict[str, Any]] = []
    for index in range(count):
        step: dict[str, Any] = {"id": f"s{index}", "title": f"第{index}步", "say": "请到{hall}"}
        items = draw(st.integers(0, 2))
        if items:
            step["checklist"] = [
                {
                    "id": f"m{index}_{k}",
                    "name": f"材料{index}-{k}",
                    "form": draw(st.sampled_from(["原件", "复印件", "电子件"])),
                    "count": draw(st.integers(1, 3)),
                    "required": draw(st.booleans()),
                }
                for k in range(items)
            ]
        if is_end[index]:
            step["end"] = {
                "outcome": draw(
                    st.sampled_from(
                        ["ready_to_submit", "missing_materials", "not_eligible", "referred"]
                    )
                ),
                "next_steps": ["下一步"],
            }
        else:
            out = list(targets[index])
            if not any(t > index for t in out):
                out.append(draw(st.integers(index + 1, count - 1)))
            out += draw(st.lists(st.integers(0, count - 1), max_size=2))
            if len(out) == 1 and draw(st.booleans()):
                step["next"] = f"s{out[0]}"
            else:
                step["question"] = {
                    "prompt": "选择？",
                    "variable": f"v{index}",
                    "options": [
                        {"key": f"o{k}", "label": f"选项{k}", "next": f"s{t}"}
                        for k, t in enumerate(out)
                    ],
                }
        steps.append(step)
    document = {
        "id": "random",
        "matter": "RS-LHJY-CB",
        "title": "随机脚本",
        "version": 1,
        "variables": {"hall": "窗口"},
        "steps": steps,
    }
    return str(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))


@settings(database=None, max_examples=150, deadline=None)
@given(random_scripts(), OPS)
def test_any_sequence_on_a_random_valid_script(text: str, ops: list[Op]) -> None:
    wt, issues = validate_text(text, "random.yaml")
    assert wt is not None, issues
    assert issues == []
    state = apply_ops(wt, ops)
    if not state.completed:
        # Wherever the operations left the run, an end can still be reached.
        state = finish(wt, walk_to_end(wt, state))
    notice = build_notice(wt, state)
    assert notice.outcome is not None
    assert notice.as_text().startswith("【一次性告知】")


def test_not_eligible_without_materials_skips_material_sections() -> None:
    bare = load_text(
        textwrap.dedent(
            """\
            id: bare
            matter: GA-JZZ-SL
            title: 户籍确认
            version: 1
            steps:
              - id: ask
                title: 户籍
                question:
                  prompt: 是否本市户籍？
                  variable: hukou
                  options:
                    - {key: local, label: 本市户籍, next: no}
                    - {key: other, label: 外地户籍, next: go}
              - id: "no"
                title: 无需办理
                end: {outcome: not_eligible, next_steps: 无需申领}
              - id: go
                title: 可办理
                end: {outcome: ready_to_submit}
            """
        )
    )
    refused = build_notice(bare, answer(bare, start(bare), "local")).as_text()
    assert "材料" not in refused
    assert "一、下一步\n1. 无需申领" in refused
    ready = build_notice(bare, answer(bare, start(bare), "other")).as_text()
    assert "一、您已备齐的材料\n无\n\n二、还需补充的材料\n无" in ready


def test_the_notice_names_the_matter_not_the_script(wt: Walkthrough) -> None:
    from dataclasses import replace

    from core.walkthrough.notice import matter_name_from_title

    assert matter_name_from_title("社会保障卡补换导办") == "社会保障卡补换"
    assert matter_name_from_title("社会保障卡补换导办脚本（演示）") == "社会保障卡补换"
    assert matter_name_from_title("导办") == "导办"
    titled = replace(wt, title="居住证申领导办")
    state = answer(wt, start(wt), "self")
    text = build_notice(titled, state).as_text()
    assert "关于您咨询的“居住证申领”" in text
    assert "导办" not in text.split("\n")[1]
    # The catalogue's name wins over anything read from the title.
    named = build_notice(titled, state, matter_name="居住证申领（首次）").as_text()
    assert "“居住证申领（首次）”" in named
