"""What the knowledge panes ask of the cache, run on the database worker.

One instance serves every knowledge pane of a window (the page of its own and the
tool beside the session), so that the search index, the matter names and the
feedback outbox are shared. Every method is a coroutine that awaits the single
database worker and returns plain values; nothing here touches a widget.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from core.entities import KnowledgeEntry, MatterGuide
from core.localstore.store import LocalStore
from core.search import Facets, KnowledgeSearch, SearchFilters, SearchResult
from core.search import index as search_index
from ui.operations import Op, Operations
from ui.worker import Workers

log = logging.getLogger(__name__)

FEEDBACK_KINDS = ("correction", "new_question")
MAX_FEEDBACK = 4000
"""As the server's handler allows (server/services/notes.py)."""


@dataclass(frozen=True)
class MatterView:
    """A matter guide and the knowledge entries of that matter."""

    guide: MatterGuide
    entries: list[KnowledgeEntry]


class KnowledgeBackend:
    """Search, matter guides and 纠错 / 新问题 for the knowledge panes."""

    def __init__(
        self,
        workers: Workers,
        store: LocalStore,
        search: KnowledgeSearch,
        *,
        ops: Operations | None = None,
    ) -> None:
        self.workers = workers
        self.ops = ops or Operations(workers)
        """Runs the panes' work: reads on the database worker, 纠错 as an op."""
        self.store = store
        self.engine = search
        self.matter_names: dict[str, str] = {}

    async def search(self, text: str, filters: SearchFilters, limit: int = 50) -> SearchResult:
        return await self.ops.query(lambda: self.engine.search(text, filters, limit=limit))

    async def facets(self) -> Facets:
        return await self.ops.query(self.engine.facets)

    async def matters(self) -> list[MatterGuide]:
        guides = await self.ops.query(self.store.matters)
        self.matter_names = {g.code: g.name for g in guides}
        return guides

    async def matter(self, code: str) -> MatterView | None:
        def load() -> MatterView | None:
            guide = self.store.matter(code)
            if guide is None:
                return None
            return MatterView(guide, self.engine.entries_of_matter(code))

        return await self.ops.query(load)

    async def entry(self, entry_id: str) -> KnowledgeEntry | None:
        return await self.ops.query(self.store.knowledge, entry_id)

    async def send_feedback(
        self,
        entry_id: str | None,
        kind: str,
        text: str,
        *,
        report: Callable[[str], None] | None = None,
    ) -> str | None:
        """Queue a 纠错 (about ``entry_id``) or 新问题 in the outbox, and push soon.

        Returns the feedback's id, or None when it was not saved: what the server would
        refuse (in Chinese) or why the cache could not take it goes to ``report``.
        """

        def add() -> str:
            clean = text.strip()
            if kind not in FEEDBACK_KINDS:
                raise ValueError("反馈类型应为纠错或新问题")
            if not clean:
                raise ValueError("请填写反馈内容")
            if len(clean) > MAX_FEEDBACK:
                raise ValueError(f"反馈过长（最多 {MAX_FEEDBACK} 字）")
            return self.store.add_knowledge_feedback(
                entry_id if kind == "correction" else None, kind, clean
            )

        outcome = await self.ops.run(Op(db=add, outbox=True, report=report, expected=(ValueError,)))
        return outcome.value if outcome.ok else None

    async def maintain(self, max_steps: int = 400) -> int:
        """Merge the index segments a sync wrote, a bounded step at a time so that
        searches keep their turn on the database worker; returns the steps taken."""

        def step() -> bool:
            with self.store.begin() as db:
                return search_index.maintain(db)

        steps = 0
        while steps < max_steps and await self.ops.query(step):
            steps += 1
        if steps:
            log.info("knowledge index: %d merge steps", steps)
        return steps
