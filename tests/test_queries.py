"""The query list and query directories: odd text never escapes output/ or collides."""

from __future__ import annotations

import re

import pytest

from tiktok_research.queries import (
    QUERY_DIR_PATTERN,
    QueryListError,
    query_dir_name,
    query_slug,
    read_query_list,
    select_queries,
)

ODD_QUERIES = [
    "Tokyo weekend itinerary 2024",
    "ramen 🍜🔥 best",
    "東京 ラーメン",
    "مطاعم دبي",
    "../../etc/passwd",
    "a/b\\c",
    "x" * 500,
    "🍜🍜🍜",
    "!!!",
    "Ramen Tokyo",
    "ramen tokyo",
    "ramen-tokyo",
]


def test_sample_list_reads():
    queries = read_query_list("research_list.csv")
    assert len(queries) >= 12
    assert queries[0].text == "Tokyo weekend itinerary 2024"
    assert queries[0].meta["topic"] == "travel"
    assert queries[0].dirname == "query_00000_tokyo_weekend_itinerary_2024"


@pytest.mark.parametrize("text", ODD_QUERIES)
def test_slug_is_safe_and_bounded(text):
    name = query_dir_name(7, text)
    assert re.fullmatch(QUERY_DIR_PATTERN, name)
    assert "/" not in name and ".." not in name
    assert len(name) <= 80


def test_no_two_queries_share_a_slug():
    slugs = [query_slug(text) for text in ODD_QUERIES if text != "Ramen Tokyo"]
    assert len(set(slugs)) == len(slugs)


def test_slug_collisions_get_distinct_names():
    # "Ramen Tokyo!" and "ramen tokyo?" slug to the same words; the hash keeps them apart.
    assert query_slug("Ramen Tokyo!") != query_slug("ramen tokyo?")
    assert query_slug("x" * 300) != query_slug("x" * 301)


def test_non_latin_is_transliterated():
    assert query_slug("東京 ラーメン").startswith("dong_jing")


def test_empty_after_slugging_still_names_a_dir():
    assert re.fullmatch(r"q_[0-9a-f]{8}", query_slug("🍜🍜🍜"))


def write(tmp_path, content: bytes):
    path = tmp_path / "list.csv"
    path.write_bytes(content)
    return path


def test_bom_blank_rows_and_metadata(tmp_path):
    path = write(tmp_path, "\ufeffquery,topic\nfirst,a\n,\n   ,b\n\nsecond ,c\n".encode())
    queries = read_query_list(path)
    assert [(q.index, q.text, q.meta["topic"]) for q in queries] == [
        (0, "first", "a"), (1, "second", "c")]


def test_missing_query_column(tmp_path):
    path = write(tmp_path, b"search,topic\nx,y\n")
    with pytest.raises(QueryListError, match="no 'query' column"):
        read_query_list(path)


def test_not_utf8(tmp_path):
    path = write(tmp_path, "query\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(QueryListError, match="not UTF-8"):
        read_query_list(path)


def test_missing_file(tmp_path):
    with pytest.raises(QueryListError, match="does not exist"):
        read_query_list(tmp_path / "nope.csv")


def test_ragged_rows_and_quotes(tmp_path):
    path = write(tmp_path, b'query,topic\n"ramen, tokyo",food,extra\n"say ""hi""",x\n')
    queries = read_query_list(path)
    assert [q.text for q in queries] == ["ramen, tokyo", 'say "hi"']


def test_start_count_slice_and_single_query(tmp_path):
    path = write(tmp_path, b"query\na\nb\nc\nd\n")
    config = {"research_list": str(path), "start": 1, "count": 2, "query": None}
    assert [q.text for q in select_queries(config)] == ["b", "c"]
    assert [q.text for q in select_queries({**config, "count": None})] == ["b", "c", "d"]
    single = select_queries({**config, "query": "c"})
    assert [(q.index, q.text) for q in single] == [(2, "c")]
    outside = select_queries({**config, "query": "zzz"})
    assert [(q.index, q.text) for q in outside] == [(4, "zzz")]
