"""Turning Chinese text into index pieces, and queries into FTS5 match expressions.

SQLite's ``unicode61`` tokenizer keeps a run of Chinese characters as one token and
``trigram`` needs three characters, so neither finds 社保 inside 社保卡. Text is
therefore split here, in Python, before it reaches FTS5:

* a run of Chinese characters becomes its overlapping two-character pieces, the
  last character standing alone (``社保卡`` → ``社保 保卡 卡``). Every character thus
  starts exactly one piece at its own position, so a one-character query is the
  prefix ``"社"*`` (answered by the index's one-character prefix index), a
  two-character query is one piece, and a longer one is the phrase of its pieces;
* Latin letters and digits stay whole words (``12345``, ``app``);
* titles and keywords also get their pinyin initials, split the same way
  (``公积金`` → ``gj jj j``), so ``gjj`` is the phrase ``"gj jj"``.

The pieces are joined with spaces and handed to FTS5, whose tokenizer then only
splits on the spaces.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

from core.search.pinyin import initials, initials_of_runs

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(f"([{_CJK}]+)|([^\\W_{_CJK}]+)")
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(f"[^\\W_{_CJK}]+")
_PINYIN_QUERY = re.compile(r"[a-z]{2,}")
MAX_QUERY = 100
"""Characters of a query that are searched for."""
MAX_TERMS = 12
# Characters NFKC changes in a way that matters to matching: full-width letters and
# digits, and CJK compatibility ideographs. Full-width punctuation (，：（）) is only a
# separator either way, and normalizing it would cost more than the rest of indexing.
_NEEDS_NFKC = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uf900-\ufaff\u3000]")
_UTF32 = "utf-32-le"
_FAST = array("I").itemsize == 4


def normalize(text: str) -> str:
    """Lower case, with full-width letters and digits made half-width (NFKC)."""
    if text.isascii():
        return text.lower()
    if _NEEDS_NFKC.search(text):
        return unicodedata.normalize("NFKC", text).lower()
    return text.lower()


def _cjk_pieces(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run))]


def _interleave(runs: list[str]) -> str:
    """The pieces of several Chinese runs as one space-separated string.

    Equivalent to joining ``_cjk_pieces`` of each run, but done with C-level string
    and array operations: indexing 100,000 entries spends most of its Python time
    here. Character k of the output triple is ``a[k]``, then ``b[k]`` (the next
    character of the same run, or a space), then a space.
    """
    a = " ".join(runs)
    if not _FAST or len(a) < 48:
        # Short texts (titles, keywords): the array set-up would cost more.
        return " ".join([run[i : i + 2] for run in runs for i in range(len(run))])
    b = "  ".join([run[1:] for run in runs]) + " "
    out = array("I")
    out.frombytes((" " * (3 * len(a))).encode(_UTF32))
    first = array("I")
    first.frombytes(a.encode(_UTF32))
    second = array("I")
    second.frombytes(b.encode(_UTF32))
    out[0::3] = first
    out[1::3] = second
    return out.tobytes().decode(_UTF32)


def pieces(text: str) -> str:
    """The index form of ``text``: two-character pieces of Chinese runs, then whole
    words of Latin letters and digits, separated by spaces."""
    folded = normalize(text)
    runs = _CJK_RUN.findall(folded)
    out = _interleave(runs) if runs else ""
    words = _WORD.findall(folded)
    if words:
        out = out + " " + " ".join(words)
    return out


def initials_pieces(texts: str | Iterable[str]) -> str:
    """The index form of the pinyin initials of each Chinese run in ``texts``
    (``公积金提取`` → ``gj jj jt tq q``); runs are kept apart so that no piece spans
    two of them."""
    text = texts if isinstance(texts, str) else "\n".join(texts)
    runs = _CJK_RUN.findall(normalize(text))
    if not runs:
        return ""
    letters = [spelled for spelled in initials_of_runs(runs) if spelled]
    return _interleave(letters) if letters else ""


# -- queries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One part of a query that must match.

    ``text`` is what is looked for in the text (a Chinese run or a Latin word);
    ``pinyin`` is set when the term may also be pinyin initials of a title.
    """

    text: str
    cjk: bool
    prefix: bool = False
    pinyin: str = ""

    def match(self) -> str:
        """The FTS5 expression of the term against text columns."""
        if self.cjk:
            if len(self.text) == 1:
                return f'"{self.text}"*'
            return '"' + " ".join(_cjk_pieces(self.text)[:-1]) + '"'
        return f'"{self.text}"' + ("*" if self.prefix else "")

    def pinyin_match(self) -> str:
        """The FTS5 expression of the term as pinyin initials, or ``""``."""
        if not self.pinyin:
            return ""
        return '"' + " ".join(_cjk_pieces(self.pinyin)[:-1]) + '"'

    def loose(self) -> list[str]:
        """The pieces of a long Chinese term, each of which may match apart."""
        if not self.cjk or len(self.text) < 3:
            return [self.match()]
        return [f'"{p}"' for p in _cjk_pieces(self.text)[:-1]]


@dataclass(frozen=True)
class Query:
    """A parsed search query: every term must match (AND)."""

    raw: str
    terms: tuple[Term, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return bool(self.terms)

    @property
    def has_long_cjk(self) -> bool:
        return any(t.cjk and len(t.text) >= 3 for t in self.terms)

    def title_match(self, columns: str, pinyin_column: str) -> str:
        """Match against the title index: each term in the title columns, or (for
        Latin letters) as pinyin initials of the title."""
        parts = []
        for term in self.terms:
            text = f"{{{columns}}} : {term.match()}"
            if term.pinyin:
                text = f"({text} OR {pinyin_column} : {term.pinyin_match()})"
            parts.append(text)
        return " AND ".join(parts)

    def body_match(self, columns: str, *, loose: bool = False) -> str:
        """Match against the whole entry; ``loose`` lets the pieces of a long Chinese
        term match apart (for questions typed as sentences)."""
        parts: list[str] = []
        for term in self.terms:
            exprs = term.loose() if loose else [term.match()]
            parts.extend(f"{{{columns}}} : {e}" for e in exprs)
        return " AND ".join(parts)

    def needles(self) -> list[str]:
        """The strings to highlight in the text, longest first."""
        found = {t.text for t in self.terms}
        return sorted(found, key=len, reverse=True)

    def pinyin_needles(self) -> list[str]:
        return sorted({t.pinyin for t in self.terms if t.pinyin}, key=len, reverse=True)


def parse_query(raw: str, *, typing: bool = True) -> Query:
    """Split what the person typed into terms.

    Whitespace and punctuation separate terms. A Latin word of two or more letters
    also counts as pinyin initials. While ``typing``, the last Latin word is a prefix
    (``gongj`` finds 公积金 …), since the person may not have finished it.
    """
    # Nobody types more than this into a search box; a pasted page would only make
    # an expression FTS5 takes long to evaluate.
    text = normalize(raw.strip()[:MAX_QUERY])
    found = _RUNS.findall(text)[:MAX_TERMS]
    terms: list[Term] = []
    for index, (cjk, word) in enumerate(found):
        if cjk:
            terms.append(Term(cjk, True))
            continue
        last = index == len(found) - 1 and raw == raw.rstrip()
        pinyin = word if _PINYIN_QUERY.fullmatch(word) and len(word) <= 12 else ""
        terms.append(Term(word, False, prefix=typing and last, pinyin=pinyin))
    # Repeated terms add nothing but cost.
    return Query(raw, tuple(dict.fromkeys(terms)))


# -- highlighting ------------------------------------------------------------------------


Span = tuple[int, int]


def _merge(spans: list[Span]) -> list[Span]:
    spans.sort()
    merged: list[Span] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _folded(text: str) -> tuple[str, list[int] | None]:
    """``text`` normalized like the index, and the map from its positions back to
    positions in ``text`` (``None`` when they are the same)."""
    folded = normalize(text)
    if len(folded) == len(text) and (text.isascii() or not _NEEDS_NFKC.search(text)):
        return folded, None
    chars: list[str] = []
    back: list[int] = []
    for i, ch in enumerate(text):
        norm = normalize(ch)
        chars.append(norm)
        back.extend([i] * len(norm))
    back.append(len(text))
    return "".join(chars), back


def find_spans(text: str, needles: Iterable[str]) -> list[Span]:
    """Where any of ``needles`` (normalized query terms) occurs in ``text``, as merged
    ``(start, end)`` character spans of the original text."""
    needles = [n for n in needles if n]
    if not text or not needles:
        return []
    folded, back = _folded(text)
    spans: list[Span] = []
    for needle in needles:
        start = folded.find(needle)
        while start >= 0:
            end = start + len(needle)
            spans.append((start, end) if back is None else (back[start], back[end - 1] + 1))
            start = folded.find(needle, end)
    return _merge(spans)


def pinyin_spans(text: str, letters: Iterable[str]) -> list[Span]:
    """Spans of ``text`` whose Chinese characters' initials spell one of ``letters``."""
    letters = [x for x in letters if x]
    if not text or not letters:
        return []
    spans: list[Span] = []
    for match in re.finditer(f"[{_CJK}]+", text):
        run = match.group()
        spelled = initials(run)
        if len(spelled) != len(run):
            continue  # a character without a reading: positions would not line up
        for needle in letters:
            start = spelled.find(needle)
            while start >= 0:
                spans.append((match.start() + start, match.start() + start + len(needle)))
                start = spelled.find(needle, start + len(needle))
    return _merge(spans)


def loose_spans(text: str, query: Query) -> list[Span]:
    """Spans of the two-character pieces of long terms, for entries found by the
    loose match."""
    needles: set[str] = set()
    for term in query.terms:
        if term.cjk and len(term.text) >= 3:
            needles.update(_cjk_pieces(term.text)[:-1])
        else:
            needles.add(term.text)
    return find_spans(text, needles)


def snippet(text: str, spans: list[Span], width: int = 90) -> tuple[str, list[Span]]:
    """A window of about ``width`` characters of ``text`` around its first span, on one
    line, with the spans that fall in it (shifted to the window)."""
    flat = text.replace("\r", " ").replace("\n", " ")
    if len(flat) <= width:
        return flat, spans
    first = spans[0][0] if spans else 0
    start = max(0, min(first - width // 4, len(flat) - width))
    end = start + width
    window = flat[start:end]
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(flat) else ""
    shift = len(prefix) - start
    inside = [
        (max(s, start) + shift, min(e, end) + shift) for s, e in spans if e > start and s < end
    ]
    return prefix + window + suffix, inside


def to_html(text: str, spans: list[Span], *, mark: str = "<b style='color:#c62828'>") -> str:
    """``text`` escaped for Qt rich text, with ``spans`` wrapped in ``mark``."""
    import html

    closing = "</" + mark[1:].split()[0].rstrip(">") + ">"
    out: list[str] = []
    pos = 0
    for start, end in spans:
        out.append(html.escape(text[pos:start]))
        out.append(mark + html.escape(text[start:end]) + closing)
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)
