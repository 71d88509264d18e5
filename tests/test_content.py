"""The practice library file: complete, valid, and its validator catches broken entries."""

from __future__ import annotations

import copy
import os
import re
import tomllib
from pathlib import Path

import pytest

from content.library import DEFAULT_PATH, ContentError, load_library, parse_library

# The article lives in the workplace's shared/ folder beside the repository (as in CI), not
# in the repository: we keep our own words, not a copy of theirs.
SEED = Path(
    os.environ.get(
        "CLOSER_SEED_ARTICLE",
        Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_dc1ef5411d99fbbd.txt",
    )
)
RAW = tomllib.loads(DEFAULT_PATH.read_text(encoding="utf-8"))


def test_library_has_six_strategies_in_the_articles_order():
    library = load_library()
    assert [s.key for s in library.strategies] == [
        "listen",
        "reflect",
        "empathy",
        "affirm",
        "share",
        "grow",
    ]
    assert [s.number for s in library.strategies] == [1, 2, 3, 4, 5, 6]


def test_every_strategy_has_at_least_seven_complete_practices():
    library = load_library()
    assert sum(len(s.practices) for s in library.strategies) >= 42
    for strategy in library.strategies:
        assert len(strategy.practices) >= 7
        assert strategy.citations, strategy.key
        for p in strategy.practices:
            assert 1 <= p.minutes <= 5
            assert 2 <= len(p.steps) <= 4
            assert p.try_saying and p.reflect.endswith("?")


def test_every_practice_can_be_done_by_someone_who_lives_alone_at_any_hour():
    """One practice a day and no other to swap in: a step tied to a shared meal or a time
    of day also offers a call or a message, and none needs a housemate."""
    library = load_library()
    tied = re.compile(
        r"\b((at|over) (dinner|breakfast|a meal)|this morning|tonight)\b", re.IGNORECASE
    )
    for strategy in library.strategies:
        for practice in strategy.practices:
            for step in practice.steps:
                assert "you live with" not in step, practice.id
                if tied.search(step):
                    assert re.search(r"\b(call|message|chat)\b", step), (practice.id, step)


def test_all_four_research_references_are_cited():
    library = load_library()
    cited = {ref.key for s in library.strategies for ref in s.citations}
    assert cited == {
        "holt-lunstad-2010",
        "pietromonaco-collins-2017",
        "laurenceau-1998",
        "reis-shaver-1988",
    }


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("’", "'"))


def test_no_sentence_of_the_article_is_copied():
    """Our own words: no run of eight words of the article appears in any practice text."""
    if not SEED.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the seed article is missing at {SEED} (set CLOSER_SEED_ARTICLE)")
        pytest.skip("the seed article sits beside the repo in shared/; CI never skips this")
    article = _words(SEED.read_text(encoding="utf-8").split("Holt-Lunstad J, Smith")[0])
    runs = {tuple(article[i : i + 8]) for i in range(len(article) - 7)}
    library = load_library()
    texts = [s.why + " " + s.summary for s in library.strategies]
    for s in library.strategies:
        for p in s.practices:
            texts += [p.title, p.try_saying, p.reflect, *p.steps]
    for text in texts:
        words = _words(text)
        for i in range(len(words) - 7):
            assert tuple(words[i : i + 8]) not in runs, text


def _broken(mutate) -> dict:
    raw = copy.deepcopy(RAW)
    mutate(raw)
    return raw


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["strategy"][2]["practice"][3].update(minutes=9), "practice 'empathy-4'"),
        (
            lambda r: r["strategy"][0]["practice"][1].update(steps=["only one"]),
            "practice 'listen-2'",
        ),
        (lambda r: r["strategy"][1]["practice"][0].pop("try_saying"), "'try_saying' is missing"),
        (lambda r: r["strategy"][4]["practice"][2].update(id="listen-1"), "duplicate practice id"),
        (lambda r: r["strategy"][3].update(citations=["nobody-2024"]), "unknown citation"),
        (lambda r: r["strategy"][5].update(practice=r["strategy"][5]["practice"][:6]), "'grow'"),
        (lambda r: r["strategy"].pop(), "exactly 6 strategies"),
        (lambda r: r["strategy"][0]["practice"][0].update(title="x" * 61), "too long"),
        (lambda r: r["strategy"][0]["practice"][0].update(reflect="Not a question."), "question"),
    ],
)
def test_validation_names_the_broken_entry(mutate, message):
    with pytest.raises(ContentError, match=re.escape(message)):
        parse_library(_broken(mutate))


def test_a_broken_file_stops_start_up(tmp_path):
    from app import create_app

    bad = tmp_path / "practices.toml"
    bad.write_text(DEFAULT_PATH.read_text().replace("minutes = 2", "minutes = 0", 1))
    with pytest.raises(ContentError, match=r"practice '[a-z]+-\d+': 'minutes'"):
        create_app({"TESTING": True, "CONTENT_PATH": bad})


def test_unparsable_file_stops_start_up(tmp_path):
    from app import create_app

    bad = tmp_path / "practices.toml"
    bad.write_text("[[strategy]\nkey=")
    with pytest.raises(ContentError, match="cannot read"):
        create_app({"TESTING": True, "CONTENT_PATH": bad})
