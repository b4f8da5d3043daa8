"""The query list: reading the CSV, slicing it, and naming each query's directory safely."""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slugify import slugify

from tiktok_research.errors import QueryListError

SLUG_MAX_LENGTH = 48
# Also Snakemake's wildcard constraints, whose parser takes no `{m,n}` quantifiers.
QUERY_DIR_PATTERN = r"query_\d\d\d\d\d+_[a-z0-9_]+"
VIDEO_ID_PATTERN = r"\d+"


@dataclass(frozen=True)
class Query:
    index: int
    text: str
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def dirname(self) -> str:
        return query_dir_name(self.index, self.text)

    @property
    def label(self) -> str:
        """How progress.json names a finished query."""
        return f"{self.index}:{self.text}"

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "query": self.text, "meta": dict(self.meta)}


def query_slug(text: str) -> str:
    """A `[a-z0-9_]` slug, bounded in length, never empty, unique per distinct text.

    The readable part is transliterated (so non-Latin queries stay recognisable); whenever it is
    not a faithful rendering of the text (case aside), a short hash of the exact text is added, so
    two queries that differ in more than letter case never share a slug. (Queries differing only
    in case still get different directories: the directory name carries the query's index.)
    """
    readable = slugify(text, separator="_", max_length=SLUG_MAX_LENGTH, word_boundary=True)
    readable = re.sub(r"[^a-z0-9_]", "", readable).strip("_")
    faithful = "_".join(text.lower().split()) == readable
    if faithful:
        return readable
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{readable}_{digest}" if readable else f"q_{digest}"


def query_dir_name(index: int, text: str) -> str:
    return f"query_{index:05d}_{query_slug(text)}"


def read_query_list(path: Path | str) -> list[Query]:
    """Every non-blank row of the CSV, indexed by its position among non-blank rows."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise QueryListError(f"research list {path} does not exist") from None
    except IsADirectoryError:
        raise QueryListError(f"research list {path} is a folder, not a CSV file") from None
    except OSError as error:
        raise QueryListError(f"research list {path} cannot be read: {error.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise QueryListError(f"research list {path} is not UTF-8 (byte {error.start})") from None
    reader = csv.DictReader(text.splitlines())
    try:
        return _parse_query_list(reader, path)
    except csv.Error as error:  # a field over the csv module's limit (128 KiB)
        # line_num counts the lines read before the one being parsed
        raise QueryListError(f"research list {path}, line {reader.line_num + 1}: {error}") \
            from None


def _parse_query_list(reader: csv.DictReader, path: Path) -> list[Query]:
    columns = [name.strip() for name in (reader.fieldnames or [])]
    if "query" not in columns:
        found = ", ".join(repr(name) for name in columns) or "none"
        raise QueryListError(f"research list {path} has no 'query' column (columns: {found})")
    reader.fieldnames = columns
    queries: list[Query] = []
    for row in reader:
        query_text = " ".join((row.get("query") or "").split())
        if not query_text:
            continue
        meta = {
            key: (value or "").strip()
            for key, value in row.items()
            if key not in (None, "query") and isinstance(value, str)
        }
        queries.append(Query(index=len(queries), text=query_text, meta=meta))
    return queries


def select_queries(config: dict[str, Any], root: Path | str = ".") -> list[Query]:
    """The queries this run covers: `query=` alone, or the `start`/`count` slice of the CSV."""
    single = config.get("query")
    if single is not None:
        text = " ".join(str(single).split())
        try:
            known = read_query_list(Path(root) / config["research_list"])
        except QueryListError:
            known = []
        for query in known:
            if query.text == text:
                return [query]
        # Not in the list: it takes the next free index, so its directory and its
        # progress label can never be confused with a listed query's.
        return [Query(index=len(known), text=text, meta={"source": "command line"})]
    queries = read_query_list(Path(root) / config["research_list"])
    start = config.get("start", 0) or 0
    count = config.get("count")
    end = None if count is None else start + count
    return queries[start:end]


def all_queries(config: dict[str, Any], root: Path | str = ".") -> list[Query]:
    """Every query of the CSV plus the single query, if any (status files cover all of them)."""
    try:
        queries = read_query_list(Path(root) / config["research_list"])
    except QueryListError:
        queries = []
    for query in select_queries(config, root):
        if query not in queries:
            queries.append(query)
    return queries
