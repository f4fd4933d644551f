"""Pinyin initials of Chinese text (``公积金`` → ``gjj``), without loading pypinyin.

pypinyin's dictionaries cost about 55 MB of memory and ~80 µs per title, too much
for indexing 100,000 entries on a staff PC. Its readings are distilled once into
``_pinyin_data`` (one initial per code point, plus the two-character contexts in
which a polyphonic character takes another initial, e.g. 银行 → ``yh``), which is
regenerated with ``python -m core.search.pinyin`` when pypinyin is upgraded.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

from core.search import _pinyin_data as data

_BASE = data.BASE
_TABLE = "".join(data.INITIALS)
_CONTEXT: dict[tuple[str, int], str] = {
    (item[:2], int(item[2])): item[3] for item in data.CONTEXT.split()
}
# One str.translate does a whole run in C: each character with a reading becomes its
# initial, one without a reading is dropped.
_TRANSLATE: dict[int, str | None] = {
    _BASE + i: (None if letter == "_" else letter) for i, letter in enumerate(_TABLE)
}
# Only the characters whose initial depends on a neighbour (行 in 银行), not the
# neighbours themselves.
_POLYPHONIC = re.compile("[" + "".join(sorted({key[pos] for key, pos in _CONTEXT})) + "]")


def initial(ch: str) -> str:
    """The initial letter of one character's usual reading, or ``""``."""
    return _TRANSLATE.get(ord(ch)) or ""


def initials(run: str) -> str:
    """Initials of a run of Chinese characters, one letter per character that has a
    reading (characters without one are skipped)."""
    letters = run.translate(_TRANSLATE)
    if len(letters) != len(run) or not _POLYPHONIC.search(run):
        return letters
    chars = list(letters)
    for match in _POLYPHONIC.finditer(run):
        i = match.start()
        before = _CONTEXT.get((run[i - 1 : i + 1], 1)) if i > 0 else None
        after = _CONTEXT.get((run[i : i + 2], 0)) if i + 1 < len(run) else None
        chars[i] = before or after or chars[i]
    return "".join(chars)


def initials_of_runs(runs: list[str]) -> list[str]:
    """``initials`` of several runs at once (one translate call for all of them)."""
    joined = "|".join(runs)
    letters = joined.translate(_TRANSLATE)
    if len(letters) != len(joined):
        return [initials(run) for run in runs]
    if _POLYPHONIC.search(joined):
        chars = list(letters)
        for match in _POLYPHONIC.finditer(joined):
            i = match.start()
            # "|" never occurs in a context key, so a context never spans two runs.
            before = _CONTEXT.get((joined[i - 1 : i + 1], 1)) if i > 0 else None
            after = _CONTEXT.get((joined[i : i + 2], 0))
            chars[i] = before or after or chars[i]
        letters = "".join(chars)
    return letters.split("|")


def _first_letter(syllable: str) -> str:
    return unicodedata.normalize("NFKD", syllable)[0].lower()


def rebuild(target: Path | None = None) -> Path:
    """Regenerate ``_pinyin_data.py`` from pypinyin (a development step)."""
    from collections import Counter, defaultdict

    from pypinyin.phrases_dict import phrases_dict
    from pypinyin.pinyin_dict import pinyin_dict

    first, last = 0x3400, 0x9FFF
    table = ["_"] * (last - first + 1)
    readings: dict[str, set[str]] = {}
    for cp, text in pinyin_dict.items():
        if first <= cp <= last:
            options = text.split(",")
            table[cp - first] = _first_letter(options[0])
            readings[chr(cp)] = {_first_letter(o) for o in options}
    polyphonic = {ch for ch, letters in readings.items() if len(letters) > 1}
    votes: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    for phrase, syllables in phrases_dict.items():
        if len(phrase) != len(syllables):
            continue
        for i, ch in enumerate(phrase):
            if ch not in polyphonic:
                continue
            letter = _first_letter(syllables[i][0])
            if letter == table[ord(ch) - first]:
                continue
            if i > 0:
                votes[(phrase[i - 1 : i + 1], 1)][letter] += 1
            if i + 1 < len(phrase):
                votes[(phrase[i : i + 2], 0)][letter] += 1
    context = sorted(f"{key}{pos}{c.most_common(1)[0][0]}" for (key, pos), c in votes.items())
    target = target or Path(__file__).with_name("_pinyin_data.py")
    lines = [
        '"""Pinyin initials distilled from pypinyin (MIT licence) by',
        "``python -m core.search.pinyin``. Generated: do not edit.",
        "",
        "``INITIALS`` holds one letter per code point from ``BASE`` (``_`` where there is no",
        "reading); ``CONTEXT`` lists two characters, the position (0/1) of the polyphonic one",
        'and its initial in that context."""',
        "",
        f"BASE = {first:#x}",
        "INITIALS = (",
    ]
    joined = "".join(table)
    lines += [f'    "{joined[i : i + 90]}"' for i in range(0, len(joined), 90)]
    lines += [")", "CONTEXT = ("]
    # Ten entries a line: Chinese characters count double towards the line length.
    for i in range(0, len(context), 10):
        lines.append('    "' + " ".join(context[i : i + 10]) + ' "')
    lines += [")", ""]
    target.write_text("\n".join(lines), "utf-8")
    return target


if __name__ == "__main__":
    print(f"written {rebuild()}", file=sys.stderr)
