"""What a unit of work changed, so that the UI can refresh only what it must.

Modelled on Anki's ``OpChanges``: the core returns a small value, the UI decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Changes:
    """Kinds of record a unit of work touched."""

    kinds: set[str] = field(default_factory=set)
    session_ids: set[str] = field(default_factory=set)

    def touch(self, kind: str, session_id: str | None = None) -> None:
        self.kinds.add(kind)
        if session_id:
            self.session_ids.add(session_id)

    def merge(self, other: Changes) -> None:
        self.kinds |= other.kinds
        self.session_ids |= other.session_ids

    @property
    def sessions(self) -> bool:
        return bool(self.kinds & {"session", "session_note", "evaluation"})

    @property
    def knowledge(self) -> bool:
        return bool(self.kinds & {"knowledge_entry", "matter_guide"})

    @property
    def agents(self) -> bool:
        return "agent" in self.kinds

    def __bool__(self) -> bool:
        return bool(self.kinds)
