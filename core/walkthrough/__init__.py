"""Walkthrough scripts (导办脚本): model, YAML loader, validator, engine and notice.

Pure Python: no Qt, no network. The client's player and the server's storage both
build on the names re-exported here.

Typical use::

    wt, issues = validate_text(yaml_text, "gtgsh.yaml", known_entries)
    state = start(wt)
    state = answer(wt, state, "self")
    state = tick(wt, state, "id_card")
    notice = build_notice(wt, state, caller_name="张女士")
    print(notice.as_text())
"""

from core.walkthrough.engine import (
    STATE_FORMAT,
    ItemView,
    RunState,
    StepView,
    WalkthroughError,
    advance,
    answer,
    back,
    can_advance,
    can_back,
    check_state,
    current_step,
    finish,
    is_finished,
    materials,
    progress,
    render,
    start,
    tick,
    variable_values,
    view,
)
from core.walkthrough.loader import LoadResult, parse_text
from core.walkthrough.model import (
    MATERIAL_FORMS,
    OUTCOME_LABELS,
    OUTCOMES,
    ChecklistItem,
    EndInfo,
    FieldHint,
    KnowledgeRef,
    Option,
    Outcome,
    Question,
    Severity,
    Step,
    ValidationIssue,
    Walkthrough,
    substitute,
    variables_in,
)
from core.walkthrough.notice import Notice, NoticeItem, build_notice
from core.walkthrough.validator import (
    WalkthroughLoadError,
    check_knowledge,
    check_logic,
    load_text,
    validate_file,
    validate_text,
)

__all__ = [
    "MATERIAL_FORMS",
    "OUTCOMES",
    "OUTCOME_LABELS",
    "STATE_FORMAT",
    "ChecklistItem",
    "EndInfo",
    "FieldHint",
    "ItemView",
    "KnowledgeRef",
    "LoadResult",
    "Notice",
    "NoticeItem",
    "Option",
    "Outcome",
    "Question",
    "RunState",
    "Severity",
    "Step",
    "StepView",
    "ValidationIssue",
    "Walkthrough",
    "WalkthroughError",
    "WalkthroughLoadError",
    "advance",
    "answer",
    "back",
    "build_notice",
    "can_advance",
    "can_back",
    "check_knowledge",
    "check_logic",
    "check_state",
    "current_step",
    "finish",
    "is_finished",
    "load_text",
    "materials",
    "parse_text",
    "progress",
    "render",
    "start",
    "substitute",
    "tick",
    "validate_file",
    "validate_text",
    "variable_values",
    "variables_in",
    "view",
]
