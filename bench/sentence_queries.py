"""How often a whole sentence typed as the caller said it finds its answer in the top 5.

``python bench/sentence_queries.py`` loads the demo base's published entries and the
demo synonyms into a fresh client cache (the real ``LocalStore`` and search index),
then runs each sentence below twice: with the search as it was (no synonyms, no
matching of most of a sentence) and as it is. It prints the share of sentences whose
answer is among the first five hits, before and after, and the sentences missed.

A figure is printed, never asserted: this is not a test.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.localstore.db import open_cache  # noqa: E402
from core.localstore.store import LocalStore  # noqa: E402
from core.search.engine import KnowledgeSearch  # noqa: E402
from server.seed import knowledge_records  # noqa: E402
from server.services.knowledge_edit import DEMO_SYNONYMS  # noqa: E402

SENTENCES: list[tuple[str, set[str]]] = [
    ("我妈快八十了能领什么钱", {"kb-mz-020", "kb-mz-021", "kb-mz-024"}),
    ("我家老人满八十岁了高龄补贴去哪里申请", {"kb-mz-020", "kb-mz-024"}),
    ("孩子刚生下来要去派出所报户口带什么", {"kb-ga-028"}),
    ("我身份证掉了现在急着用怎么办", {"kb-ga-019", "kb-ga-026"}),
    ("我辞职了每个月能领多少失业保险金", {"kb-rs-012", "kb-rs-013", "kb-rs-011"}),
    ("我交了十五年社保到时候能拿退休金吗", {"kb-rs-019"}),
    ("租房子住能不能把住房公积金取出来交房租", {"kb-gjj-001", "kb-gjj-002"}),
    ("我老公是江宁的我结婚后户口想迁过去", {"kb-ga-011"}),
    ("家里条件困难想申请最低生活保障要什么条件", {"kb-mz-010"}),
    ("宝宝刚出生还没有户口能不能先交医疗保险", {"kb-yb-002", "kb-yb-001"}),
    ("我在外地住院了医保卡能不能直接报销", {"kb-yb-007", "kb-yb-011", "kb-yb-012"}),
    ("我想在家开个网店需要办营业执照吗", {"kb-scjg-004", "kb-scjg-022"}),
    ("在夜市摆个小摊卖吃的要办证吗", {"kb-scjg-030"}),
    ("社会保险卡丢了可以马上补一张吗", {"kb-rs-001", "kb-rs-002"}),
    ("装修房子的钱能用公积金付吗", {"kb-gjj-011"}),
    ("我爸腿脚不好能让我帮他办社保卡吗", {"kb-rs-003"}),
    ("个人所得税退税一般多久能到账", {"kb-sw-003"}),
    ("父母年纪大了想投靠我在江宁落户可以吗", {"kb-ga-012", "kb-ga-013"}),
    ("公司注册下来大概需要几天", {"kb-scjg-013"}),
    ("今年居民医疗保险什么时候开始交", {"kb-yb-022", "kb-yb-028"}),
    ("我打了12345一直没人给我回电话", {"kb-gen-002"}),
    ("老人不会用智能手机去大厅办事有人帮忙吗", {"kb-gen-018"}),
    ("家里老人去世了丧葬费有没有补助", {"kb-mz-028"}),
    ("自由职业者自己怎么交养老保险", {"kb-rs-006", "kb-rs-007"}),
    ("结婚登记的照片有什么规定", {"kb-mz-009"}),
    ("我的驾照快到期了去哪换", set()),  # not in the demo base: counts as a miss either way
]


def build_cache(path: Path) -> LocalStore:
    opened = open_cache(path)
    store = LocalStore(opened.sessions)
    changes = [
        {"kind": "knowledge_entry", "id": r["id"], "deleted": False, "data": r}
        for r in knowledge_records()
        if r.get("review_state", "published") == "published"
    ]
    changes.append(
        {
            "kind": "synonyms",
            "id": "all",
            "deleted": False,
            "data": {"id": "all", "groups": DEMO_SYNONYMS},
        }
    )
    store.apply_page(changes, cursor=1)
    return store


def share(search: KnowledgeSearch) -> tuple[float, list[str], float]:
    found, missed, worst = 0, [], 0.0
    for sentence, answers in SENTENCES:
        result = search.search(sentence, limit=10, typing=False)
        worst = max(worst, result.elapsed_ms)
        if {h.entry.id for h in result.hits[:5]} & answers:
            found += 1
        else:
            missed.append(sentence)
    return found / len(SENTENCES), missed, worst


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = build_cache(Path(tmp) / "cache.sqlite3")
        sessions = store._sessions  # the bench reads the cache it just built
        before = KnowledgeSearch(sessions, synonyms=False, sentences=False)
        after = KnowledgeSearch(sessions)
        for label, search in (("before", before), ("after", after)):
            value, missed, worst = share(search)
            print(
                f"{label}: {value:.0%} of {len(SENTENCES)} sentences answered in the top 5 "
                f"(slowest {worst:.1f} ms)"
            )
            for sentence in missed:
                print(f"    missed: {sentence}")


if __name__ == "__main__":
    main()
