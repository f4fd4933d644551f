"""The sample scripts in resources/walkthroughs, the docs example and the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.walkthrough import (
    MATERIAL_FORMS,
    RunState,
    Walkthrough,
    WalkthroughError,
    advance,
    answer,
    back,
    build_notice,
    check_state,
    finish,
    load_text,
    materials,
    progress,
    start,
    tick,
    validate_file,
    validate_text,
    view,
)
from core.walkthrough.__main__ import KnowledgeFileError, load_knowledge_versions

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = ROOT / "resources" / "walkthroughs"
KNOWLEDGE_DIR = ROOT / "resources" / "demo" / "knowledge"
SAMPLES = sorted(SAMPLE_DIR.glob("*.yaml"))


def _matter_codes() -> set[str]:
    text = (ROOT / "docs" / "matters.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| ([A-Z]+(?:-[A-Z0-9]+)+) \|", text, flags=re.MULTILINE))


@pytest.fixture(scope="module")
def known() -> dict[str, int]:
    return load_knowledge_versions(KNOWLEDGE_DIR)


def _load(path: Path, known: dict[str, int]) -> Walkthrough:
    wt, issues = validate_file(path, known)
    assert issues == [], "\n".join(issue.format() for issue in issues)
    assert wt is not None
    return wt


def test_there_are_at_least_six_samples_with_distinct_ids_and_matters() -> None:
    assert len(SAMPLES) >= 6
    scripts = [load_text(path.read_text(encoding="utf-8"), str(path)) for path in SAMPLES]
    assert len({wt.id for wt in scripts}) == len(scripts)
    assert len({wt.matter_code for wt in scripts}) == len(scripts)


@pytest.mark.parametrize("path", SAMPLES, ids=[path.stem for path in SAMPLES])
def test_sample_is_valid_and_complete(path: Path, known: dict[str, int]) -> None:
    wt = _load(path, known)
    assert wt.id == path.stem
    assert wt.matter_code in _matter_codes()
    assert len(wt.end_steps) >= 2
    assert any(step.question is not None for step in wt.steps)
    items = [item for step in wt.steps for item in step.checklist]
    assert items
    assert all(item.form in MATERIAL_FORMS and item.count >= 1 for item in items)
    assert any(step.field_hints for step in wt.steps)
    refs = [ref for step in wt.steps for ref in step.knowledge_refs]
    assert refs
    for ref in refs:
        assert known[ref.entry_id] == ref.version


def _paths_to_ends(wt: Walkthrough) -> list[RunState]:
    """Every loop-free way through the script, as finished run states."""
    finished: list[RunState] = []

    def explore(state: RunState) -> None:
        step = wt.step(state.current)
        if step.is_end:
            finished.append(state)
            return
        if step.next is not None:
            following = [advance(wt, state)]
        else:
            assert step.question is not None
            following = [answer(wt, state, option.key) for option in step.question.options]
        for nxt in following:
            if nxt.current not in state.path:
                explore(nxt)

    explore(start(wt))
    return finished


@pytest.mark.parametrize("path", SAMPLES, ids=[path.stem for path in SAMPLES])
def test_every_route_gives_a_clean_notice(path: Path, known: dict[str, int]) -> None:
    wt = _load(path, known)
    routes = _paths_to_ends(wt)
    reached = {state.current for state in routes}
    assert reached == {step.id for step in wt.end_steps}
    for state in routes:
        number, total = progress(wt, state)
        assert number == total == len(state.path)
        # Tick every other material so both lists are exercised.
        for index, item in enumerate(materials(wt, state)):
            state = tick(wt, state, item.id, index % 2 == 0)
        state = finish(wt, state)
        notice = build_notice(wt, state, caller_name="王女士")
        text = notice.as_text()
        assert text.startswith("【一次性告知】")
        assert "王女士，您好！" in text
        # Every placeholder was filled: the samples never show raw {variables}.
        assert not re.search(r"\{[A-Za-z_]\w*\}", text), text
        assert notice.outcome is not None


@pytest.mark.parametrize("path", SAMPLES, ids=[path.stem for path in SAMPLES])
def test_sample_texts_have_no_unfilled_variables_on_any_step(
    path: Path, known: dict[str, int]
) -> None:
    wt = _load(path, known)
    for state in _paths_to_ends(wt):
        # Replay the route and render each step on the way.
        replay = start(wt)
        for index, choice in enumerate(state.choices):
            shown = view(wt, replay)
            rendered = " ".join(
                [shown.title, shown.say, shown.do, shown.prompt or ""]
                + [item.name + item.note for item in shown.checklist]
                + [hint.hint for hint in shown.field_hints]
            )
            assert not re.search(r"\{[A-Za-z_]\w*\}", rendered), rendered
            replay = advance(wt, replay) if choice is None else answer(wt, replay, choice)
            assert replay.path == state.path[: index + 2]


@settings(database=None, max_examples=60, deadline=None)
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.sampled_from(["move", "back", "tick"]), st.integers(0, 9)), max_size=30),
)
def test_random_operations_on_samples_stay_on_valid_steps(
    path: Path, ops: list[tuple[str, int]]
) -> None:
    wt = load_text(path.read_text(encoding="utf-8"), str(path))
    state = start(wt)
    for kind, number in ops:
        step = wt.step(state.current)
        try:
            if kind == "move" and step.question is not None:
                state = answer(
                    wt, state, step.question.options[number % len(step.question.options)].key
                )
            elif kind == "move":
                state = advance(wt, state)
            elif kind == "back":
                state = back(wt, state)
            elif items := materials(wt, state):
                state = tick(wt, state, items[number % len(items)].id, number % 2 == 0)
        except WalkthroughError:
            # Only refused where the script does not allow the move.
            assert (kind == "move" and step.is_end) or (kind == "back" and len(state.path) == 1)
        check_state(wt, state)
        current = wt.step(state.current)
        assert current.question is not None or current.next is not None or current.is_end
        assert RunState.from_dict(state.to_dict()) == state


def test_docs_example_is_valid_and_its_notice_matches() -> None:
    doc = (ROOT / "docs" / "walkthroughs.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(\w*)\n(.*?)```", doc, flags=re.DOTALL)
    example = next(body for lang, body in blocks if lang == "yaml")
    wt, issues = validate_text(example, "docs/walkthroughs.md")
    assert issues == []
    assert wt is not None
    state = answer(wt, start(wt), "lost")
    state = answer(wt, advance(wt, state), "agent")
    state = tick(wt, tick(wt, state, "id_card"), "agent_id_card")
    state = finish(wt, answer(wt, state, "no"))
    text = build_notice(wt, state, caller_name="张女士", matter_name="社会保障卡补换").as_text()
    shown = next(body for lang, body in blocks if body.startswith("【一次性告知】"))
    assert text == shown.rstrip("\n")


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "core.walkthrough", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def test_cli_accepts_the_samples() -> None:
    result = _run_cli(
        "validate", *[str(path) for path in SAMPLES], "--knowledge", str(KNOWLEDGE_DIR)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [f"{path}: OK" for path in SAMPLES]


def test_cli_rejects_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    good = SAMPLES[0]
    text = good.read_text(encoding="utf-8")
    # Point the first "next:" to a step that does not exist.
    broken = re.sub(r"next: \w+", "next: no_such_step", text, count=1)
    bad.write_text(broken, encoding="utf-8")
    result = _run_cli("validate", str(good), str(bad))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert f"{good}: OK" in lines
    errors = [line for line in lines if line.startswith(f"{bad}:")]
    assert errors
    assert any("error [unknown_next]" in line and "no_such_step" in line for line in errors)
    assert re.match(rf"^{re.escape(str(bad))}:\d+: error \[\w+\] ", errors[0])


def test_cli_reports_unknown_knowledge(tmp_path: Path) -> None:
    (tmp_path / "k.json").write_text('[{"id": "kb-other", "version": 1}]', encoding="utf-8")
    result = _run_cli("validate", str(SAMPLES[0]), "--knowledge", str(tmp_path))
    assert result.returncode == 1
    assert "[unknown_knowledge]" in result.stdout


def test_cli_warnings_do_not_fail(tmp_path: Path, known: dict[str, int]) -> None:
    wt = _load(SAMPLES[0], known)
    ref = next(ref for step in wt.steps for ref in step.knowledge_refs)
    newer = [{"id": entry, "version": version} for entry, version in known.items()]
    for entry in newer:
        if entry["id"] == ref.entry_id:
            entry["version"] = ref.version + 1
    (tmp_path / "k.json").write_text(json.dumps(newer), encoding="utf-8")
    result = _run_cli("validate", str(SAMPLES[0]), "--knowledge", str(tmp_path))
    assert result.returncode == 0, result.stdout
    assert "warning [stale_knowledge]" in result.stdout
    assert result.stdout.splitlines()[-1] == f"{SAMPLES[0]}: OK"


def test_cli_bad_knowledge_dir_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "k.json").write_text("{not json", encoding="utf-8")
    result = _run_cli("validate", str(SAMPLES[0]), "--knowledge", str(tmp_path))
    assert result.returncode == 2
    with pytest.raises(KnowledgeFileError):
        load_knowledge_versions(tmp_path)
