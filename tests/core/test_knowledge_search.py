"""Chinese full-text search over a real cache file: pieces, ranking, pinyin initials,
filters, expiry, highlighting, and an index that stays equal to the entries through
updates, deletes and resets."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from core.localstore.db import alembic_config, open_cache
from core.localstore.store import LocalStore
from core.search import KnowledgeSearch, SearchFilters, highlight_entry
from core.search import index as search_index
from core.search.text import initials_pieces, parse_query, pieces

TODAY = date(2026, 6, 1)


def entry(entry_id: str, title: str, answer: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": entry_id,
        "title": title,
        "answer": answer,
        "category": extra.pop("category", "综合/常见问题"),
        "issuing_unit": "江宁市人力资源和社会保障局",
        "kind": "日常咨询",
        "keywords": [],
        "department": "人力资源和社会保障局",
        "service_type": "consult",
        "matter_code": None,
        "effective_date": "2024-01-01",
        "expiry_date": None,
        "version": 1,
    }
    data.update(extra)
    return data


ENTRIES = [
    entry(
        "k-sbk",
        "社保卡丢了怎么补办？",
        "先拨打12345或到银行网点挂失，再带身份证到社保服务窗口补办社会保障卡，当场制卡。",
        keywords=["社保卡", "补办", "挂失"],
        kind="办事指南",
        matter_code="RS-SBK-BH",
        service_type="guide",
    ),
    entry(
        "k-gjj-zf",
        "住房公积金提取需要什么材料？",
        "租房提取住房公积金，带身份证和银行卡，在“江宁公积金”App办理，不收费。",
        keywords=["公积金", "租房提取"],
        department="住房公积金管理中心",
        issuing_unit="江宁市住房公积金管理中心",
        matter_code="GJJ-TQ-ZF",
    ),
    entry(
        "k-gjj-dk",
        "提取住房公积金还贷款怎么办？",
        "签订委托扣划协议后，每月自动提取住房公积金偿还贷款。",
        keywords=["公积金", "贷款"],
        department="住房公积金管理中心",
        kind="业务指引",
        matter_code="GJJ-DK-SQ",
    ),
    entry(
        "k-body",
        "灵活就业人员怎么参保？",
        "灵活就业人员可以在户籍地或居住地参加职工养老保险，社保费按月缴纳。",
        keywords=["灵活就业", "参保"],
        matter_code="RS-LHJY-CB",
    ),
    entry(
        "k-old",
        "2020年社保补缴政策",
        "该政策已废止，仅供查阅历史。",
        kind="通知公告",
        expiry_date="2021-12-31",
    ),
    entry(
        "k-hk",
        "户口迁入需要哪些条件？",
        "投靠直系亲属迁入户口，需提供户口簿、结婚证或出生医学证明。",
        keywords=["户口", "落户"],
        department="公安局",
        issuing_unit="江宁市公安局",
        matter_code="GA-HK-TK",
    ),
    entry(
        "k-app",
        "ＡＰＰ上怎么预约窗口？",
        "打开“江宁办事”App，选择预约取号。热线12345也可以预约。",
        department="政务服务管理办公室",
        service_type="assist",
    ),
]


def page(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"kind": "knowledge_entry", "id": e["id"], "deleted": False, "data": e} for e in entries
    ]


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Any]:
    opened = open_cache(tmp_path / "cache.sqlite3")
    store = LocalStore(opened.sessions)
    store.apply_page(page(ENTRIES), 10)
    yield opened, store, KnowledgeSearch(opened.sessions)
    opened.engine.dispose()


def ids(result: Any) -> list[str]:
    return [h.entry.id for h in result.hits]


# -- pieces and queries ------------------------------------------------------------------


def test_text_becomes_two_character_pieces_and_whole_words() -> None:
    assert pieces("社保卡") == "社保 保卡 卡"
    assert pieces("社保卡，公积金") == "社保 保卡 卡 公积 积金 金"
    long = "办理居住证要同时满足两个条件：一是已在江宁市办理居住登记并居住满半年。" * 3
    assert pieces(long).split() == [
        p for run in long.replace("：", "。").split("。") if run for p in _pairs(run)
    ]
    # Full-width letters and digits are the same as half-width ones; case is folded.
    assert pieces("ＡＰＰ １２３４５热线") == "热线 线 app 12345"
    assert initials_pieces("公积金") == "gj jj j"
    assert initials_pieces(["银行卡", "社保"]) == "yh hk k sb b"


def _pairs(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run))]


def test_queries_of_each_length_become_match_expressions() -> None:
    one, two, three = (parse_query(q).terms[0] for q in ("社", "社保", "社保卡"))
    assert one.match() == '"社"*'
    assert two.match() == '"社保"'
    assert three.match() == '"社保 保卡"'
    assert three.loose() == ['"社保"', '"保卡"']
    latin = parse_query("gjj").terms[0]
    assert latin.pinyin == "gjj" and latin.prefix  # still being typed
    assert parse_query("gjj ").terms[0].prefix is False
    assert [t.text for t in parse_query("公积金  提取，材料").terms] == ["公积金", "提取", "材料"]
    assert not parse_query("，。 ")


# -- searching ----------------------------------------------------------------------------


def test_a_two_character_query_ranks_titles_first_and_expired_last(cache: Any) -> None:
    _opened, _store, search = cache
    result = search.search("社保", today=TODAY)
    found = ids(result)
    assert set(found) == {"k-sbk", "k-body", "k-old"}
    assert found[0] == "k-sbk"  # in the title
    assert found[-1] == "k-old"  # expired, although its title matches
    assert [h.expired for h in result.hits] == [False, False, True]
    assert result.hits[0].in_title and not result.hits[1].in_title
    first = result.hits[0]
    assert [first.entry.title[s:e] for s, e in first.title_spans] == ["社保"]
    body = result.hits[1]
    assert [body.snippet[s:e] for s, e in body.snippet_spans] == ["社保"]
    assert "<b" in first.title_html() and "社保</b>" in first.title_html()
    assert result.total == 3 and not result.total_capped


def test_a_one_character_query_finds_every_occurrence(cache: Any) -> None:
    _opened, _store, search = cache
    assert set(ids(search.search("户", today=TODAY))) == {"k-hk", "k-body"}
    # The last character of a run is a piece of its own.
    assert ids(search.search("卡", today=TODAY))[0] == "k-sbk"
    assert "k-gjj-zf" in ids(search.search("卡", today=TODAY))  # 银行卡 in the answer


def test_longer_queries_are_phrases_and_spaces_separate_words(cache: Any) -> None:
    _opened, _store, search = cache
    assert ids(search.search("公积金提取", today=TODAY)) == ["k-gjj-zf"]
    both = ids(search.search("公积金 提取", today=TODAY))
    assert set(both) == {"k-gjj-zf", "k-gjj-dk"}
    assert ids(search.search("还贷款", today=TODAY)) == ["k-gjj-dk"]
    assert ids(search.search("社保补缴政策", today=TODAY)) == ["k-old"]
    assert ids(search.search("公积金挂失", today=TODAY)) == []


def test_pinyin_initials_match_titles_and_keywords(cache: Any) -> None:
    _opened, _store, search = cache
    result = search.search("gjj", today=TODAY)
    assert set(ids(result)) == {"k-gjj-zf", "k-gjj-dk"}
    hit = result.hits[0]
    assert "公积金" in [hit.entry.title[s:e] for s, e in hit.title_spans]
    assert ids(search.search("sbk", today=TODAY)) == ["k-sbk"]
    assert ids(search.search("hkqr", today=TODAY)) == ["k-hk"]  # 户口迁入
    assert "k-sbk" in ids(search.search("sb", today=TODAY))


def test_latin_words_and_numbers(cache: Any) -> None:
    _opened, _store, search = cache
    assert set(ids(search.search("12345", today=TODAY))) == {"k-sbk", "k-app"}
    result = search.search("app", today=TODAY)
    assert ids(result)[0] == "k-app"  # the title has ＡＰＰ in full-width letters
    hit = result.hits[0]
    assert [hit.entry.title[s:e] for s, e in hit.title_spans] == ["ＡＰＰ"]


def test_filters_narrow_the_results_and_browse_without_a_query(cache: Any) -> None:
    _opened, _store, search = cache
    fund = SearchFilters(department="住房公积金管理中心")
    assert set(ids(search.search("提取", fund, today=TODAY))) == {"k-gjj-zf", "k-gjj-dk"}
    assert ids(search.search("提取", SearchFilters(kind="业务指引"), today=TODAY)) == ["k-gjj-dk"]
    assert ids(search.search("社保", SearchFilters(matter_code="RS-SBK-BH"), today=TODAY)) == [
        "k-sbk"
    ]
    assert ids(search.search("", SearchFilters(service_type="assist"), today=TODAY)) == ["k-app"]
    assert ids(search.search("社保", SearchFilters(department="公安局"), today=TODAY)) == []
    everything = search.search("", today=TODAY)
    assert len(everything.hits) == len(ENTRIES) and everything.total == len(ENTRIES)
    assert everything.hits[-1].entry.id == "k-old"
    facets = search.facets()
    assert ("住房公积金管理中心", 2) in facets.departments
    assert ("GJJ-TQ-ZF", "GJJ-TQ-ZF", 1) in facets.matters


def test_a_question_typed_as_a_sentence_falls_back_to_its_main_words(cache: Any) -> None:
    _opened, _store, search = cache
    result = search.search("灵活就业人员要怎么参保呢", today=TODAY)
    assert result.relaxed
    assert ids(result)[0] == "k-body"


def test_entries_of_a_matter_and_highlighting_an_opened_entry(cache: Any) -> None:
    _opened, store, search = cache
    assert [e.id for e in search.entries_of_matter("GJJ-TQ-ZF")] == ["k-gjj-zf"]
    found = store.knowledge("k-gjj-zf")
    assert found is not None
    title, answer = highlight_entry(found, "公积金 租房")
    assert [found.answer[s:e] for s, e in answer] == ["租房", "公积金", "公积金"]
    assert [found.title[s:e] for s, e in title] == ["公积金"]


# -- the index stays equal to the entries ----------------------------------------------


def vocabulary(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every (term, column, documents, occurrences) of both indexes."""
    conn = sqlite3.connect(path)
    try:
        out = {}
        for table, kind in (
            (search_index.TITLE_FTS, "col"),
            (search_index.BODY_FTS, "row"),
        ):
            conn.execute(
                f"CREATE VIRTUAL TABLE temp.v_{table} USING fts5vocab(main, {table}, {kind})"
            )
            out[table] = conn.execute(f"SELECT * FROM temp.v_{table} ORDER BY 1, 2").fetchall()
        return out
    finally:
        conn.close()


def rebuilt_vocabulary(path: Path, tmp_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The vocabulary of a fresh cache holding the same entries."""
    fresh = open_cache(tmp_path / "fresh.sqlite3")
    source = sqlite3.connect(path)
    rows = source.execute(f"SELECT rowid, {', '.join(search_index.COLUMNS)} FROM knowledge")
    with fresh.engine.begin() as conn:
        cols = ", ".join(("rowid", *search_index.COLUMNS))
        marks = ", ".join("?" * (len(search_index.COLUMNS) + 1))
        conn.exec_driver_sql(f"INSERT INTO knowledge ({cols}) VALUES ({marks})", list(rows))
        search_index.rebuild(conn)
    source.close()
    fresh.engine.dispose()
    return vocabulary(tmp_path / "fresh.sqlite3")


def test_updates_deletes_and_resets_keep_the_index_equal_to_the_entries(
    cache: Any, tmp_path: Path
) -> None:
    opened, store, search = cache
    changed = dict(ENTRIES[0], title="社会保障卡遗失后如何补领？", keywords=["补领"], version=2)
    store.apply_page(
        [
            *page([changed]),
            {"kind": "knowledge_entry", "id": "k-hk", "deleted": True, "data": None},
            *page(
                [entry("k-new", "新生儿医保怎么办？", "出生后在线参保。", department="医疗保障局")]
            ),
        ],
        20,
    )
    assert "k-sbk" not in ids(search.search("丢了", today=TODAY))
    assert ids(search.search("遗失", today=TODAY)) == ["k-sbk"]
    assert ids(search.search("户口", today=TODAY)) == []
    assert ids(search.search("新生儿", today=TODAY)) == ["k-new"]
    assert ids(search.search("丢了", today=TODAY)) == []
    with opened.sessions.begin() as db:
        search_index.integrity_check(db)
    assert vocabulary(opened.path) == rebuilt_vocabulary(opened.path, tmp_path)

    # The same id twice in one page: the last version wins, once.
    store.apply_page(page([dict(changed, title="版本三"), dict(changed, title="版本四")]), 30)
    assert ids(search.search("版本", today=TODAY)) == ["k-sbk"]
    gone = search.search("版本三", today=TODAY)
    assert gone.relaxed and [h.entry.title for h in gone.hits] == ["版本四"]
    steps = 0
    while True:
        with opened.sessions.begin() as db:
            if not search_index.maintain(db, pages=2):
                break
        steps += 1
    assert 0 < steps < 50
    with opened.sessions.begin() as db:
        assert not search_index.maintain(db)  # nothing written since
    (tmp_path / "fresh.sqlite3").unlink()
    assert vocabulary(opened.path) == rebuilt_vocabulary(opened.path, tmp_path)

    store.reset()
    assert search.search("公积金", today=TODAY).hits == ()
    assert search.search("", today=TODAY).total == 0
    store.apply_page(page(ENTRIES[:2]), 40)
    assert ids(search.search("社保卡", today=TODAY)) == ["k-sbk"]


def test_a_page_with_a_malformed_entry_changes_nothing(cache: Any) -> None:
    _opened, store, search = cache
    bad = dict(ENTRIES[1], expiry_date="明年")
    with pytest.raises(ValueError):
        store.apply_page(page([entry("k-x", "新条目", "内容"), bad]), 50)
    assert ids(search.search("新条目", today=TODAY)) == []
    assert store.cursor() == 10
    missing = {"id": "k-y", "title": "没有答案"}
    with pytest.raises(ValueError):
        store.apply_page(page([missing]), 50)


def test_entries_cached_before_the_index_existed_are_indexed_by_the_migration(
    tmp_path: Path,
) -> None:
    from sqlalchemy import create_engine

    path = tmp_path / "old.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    command.upgrade(alembic_config(engine), "0001")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO knowledge (id, title, answer, category, issuing_unit, kind, keywords,"
            " scope, region, department, service_type, version, review_state, source)"
            " VALUES (?, ?, ?, '', '', ?, ?, '', '', ?, 'consult', 1, 'published', '')",
            ("k-1", "居住证怎么签注？", "每年签注一次。", "日常咨询", '["居住证"]', "公安局"),
        )
    engine.dispose()
    opened = open_cache(path)
    try:
        search = KnowledgeSearch(opened.sessions)
        assert ids(search.search("签注", today=TODAY)) == ["k-1"]
        assert ids(search.search("jzz", today=TODAY)) == ["k-1"]
    finally:
        opened.engine.dispose()
