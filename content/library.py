"""The practice library: load `practices.toml`, validate it, and schedule it.

The file is validated when the app starts; a broken entry stops start-up with a message that
names it, so a typo never reaches a user as a half-rendered card.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DEFAULT_PATH = Path(__file__).with_name("practices.toml")
STRATEGY_COUNT = 6
MIN_PRACTICES = 7

LIMITS = {
    "name": 40,
    "summary": 140,
    "title": 60,
    "step": 160,
    "try_saying": 140,
    "reflect": 140,
    "together": 160,
}
WHY_LENGTH = (150, 900)


class ContentError(ValueError):
    """The library file is broken; the message names the entry."""


@dataclass(frozen=True)
class Reference:
    key: str
    text: str
    url: str | None


@dataclass(frozen=True)
class Practice:
    id: str
    title: str
    minutes: int
    steps: tuple[str, ...]
    try_saying: str
    reflect: str
    strategy_key: str
    # How two linked partners do it as a pair (issue 15), shown after "Together:".
    together: str = ""


@dataclass(frozen=True)
class Strategy:
    key: str
    number: int  # 1-based position, as in the article
    name: str
    summary: str
    why: str
    citations: tuple[Reference, ...]
    practices: tuple[Practice, ...]


@dataclass(frozen=True)
class Library:
    strategies: tuple[Strategy, ...]
    references: tuple[Reference, ...]

    def strategy(self, key: str) -> Strategy | None:
        return next((s for s in self.strategies if s.key == key), None)

    def practice(self, practice_id: str) -> Practice | None:
        for strategy in self.strategies:
            for practice in strategy.practices:
                if practice.id == practice_id:
                    return practice
        return None

    def for_day(self, day_number: int) -> tuple[Strategy, Practice]:
        """Day n (1-based) shows strategy ((n-1) mod 6) + 1; within a strategy the practice
        advances once per six-day cycle, so with seven practices each no practice repeats
        within 42 days."""
        if day_number < 1:
            raise ValueError("day numbers start at 1")
        index = day_number - 1
        strategy = self.strategies[index % len(self.strategies)]
        cycle = index // len(self.strategies)
        return strategy, strategy.practices[cycle % len(strategy.practices)]


def day_number(first_date: date, day: date) -> int:
    return (day - first_date).days + 1


def load_library(path: Path = DEFAULT_PATH) -> Library:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ContentError(f"{path}: cannot read the practice library: {exc}") from exc
    return parse_library(raw)


def parse_library(raw: dict) -> Library:
    references = _parse_references(raw.get("reference", []))
    by_key = {r.key: r for r in references}
    strategies = raw.get("strategy", [])
    if not isinstance(strategies, list) or len(strategies) != STRATEGY_COUNT:
        raise ContentError(f"the library needs exactly {STRATEGY_COUNT} strategies")
    parsed = tuple(
        _parse_strategy(entry, number, by_key) for number, entry in enumerate(strategies, 1)
    )
    _require_unique([s.key for s in parsed], "strategy key")
    _require_unique([p.id for s in parsed for p in s.practices], "practice id")
    return Library(strategies=parsed, references=references)


def _parse_references(entries: list) -> tuple[Reference, ...]:
    references = []
    for i, entry in enumerate(entries, 1):
        where = f"reference #{i}"
        key = _text(entry, "key", where, 60)
        references.append(
            Reference(
                key=key,
                text=_text(entry, "text", f"reference '{key}'", 400),
                url=entry.get("url"),
            )
        )
    _require_unique([r.key for r in references], "reference key")
    return tuple(references)


def _parse_strategy(entry: dict, number: int, references: dict) -> Strategy:
    key = _text(entry, "key", f"strategy #{number}", 20)
    where = f"strategy '{key}'"
    why = _text(entry, "why", where, WHY_LENGTH[1])
    if len(why) < WHY_LENGTH[0]:
        raise ContentError(f"{where}: 'why' is too short ({len(why)} < {WHY_LENGTH[0]} chars)")
    citations = entry.get("citations") or []
    if not citations:
        raise ContentError(f"{where}: needs at least one citation")
    unknown = [c for c in citations if c not in references]
    if unknown:
        raise ContentError(f"{where}: unknown citation {unknown[0]!r}")
    practices = entry.get("practice") or []
    if len(practices) < MIN_PRACTICES:
        raise ContentError(
            f"{where}: needs at least {MIN_PRACTICES} practices, has {len(practices)}"
        )
    return Strategy(
        key=key,
        number=number,
        name=_text(entry, "name", where, LIMITS["name"]),
        summary=_text(entry, "summary", where, LIMITS["summary"]),
        why=why,
        citations=tuple(references[c] for c in citations),
        practices=tuple(_parse_practice(p, key, i) for i, p in enumerate(practices, 1)),
    )


def _parse_practice(entry: dict, strategy_key: str, index: int) -> Practice:
    practice_id = _text(entry, "id", f"strategy '{strategy_key}', practice #{index}", 40)
    where = f"strategy '{strategy_key}', practice '{practice_id}'"
    minutes = entry.get("minutes")
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 5:
        raise ContentError(
            f"{where}: 'minutes' must be a whole number from 1 to 5, got {minutes!r}"
        )
    steps = entry.get("steps")
    if not isinstance(steps, list) or not 2 <= len(steps) <= 4:
        raise ContentError(f"{where}: 'steps' must list 2 to 4 steps")
    for n, step in enumerate(steps, 1):
        _check_text(step, f"{where}, step {n}", LIMITS["step"])
    reflect = _text(entry, "reflect", where, LIMITS["reflect"])
    if not reflect.endswith("?"):
        raise ContentError(f"{where}: 'reflect' must be a question")
    return Practice(
        id=practice_id,
        title=_text(entry, "title", where, LIMITS["title"]),
        minutes=minutes,
        steps=tuple(s.strip() for s in steps),
        try_saying=_text(entry, "try_saying", where, LIMITS["try_saying"]),
        reflect=reflect,
        strategy_key=strategy_key,
        together=_text(entry, "together", where, LIMITS["together"]),
    )


def _text(entry: dict, field: str, where: str, limit: int) -> str:
    if not isinstance(entry, dict):
        raise ContentError(f"{where}: must be a table")
    return _check_text(entry.get(field), f"{where}: '{field}'", limit)


def _check_text(value, where: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ContentError(f"{where} is missing or empty")
    value = value.strip()
    if len(value) > limit:
        raise ContentError(f"{where} is too long ({len(value)} > {limit} chars)")
    return value


def _require_unique(values: list[str], what: str) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise ContentError(f"duplicate {what} {value!r}")
        seen.add(value)
