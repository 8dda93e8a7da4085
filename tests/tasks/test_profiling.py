"""Profiling a Parquet dataset: exact values on a small known table, JSON safety, markdown."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any

import polars as pl
import pytest

from tasks import profiling
from tasks.profiling import profile_markdown, profile_parquet


def column(profile: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in profile["columns"] if c["name"] == name)


def test_profile_counts_rows_and_columns(known_table):
    profile = profile_parquet(known_table)
    assert (profile["row_count"], profile["column_count"]) == (5, 6)
    assert [c["name"] for c in profile["columns"]] == [
        "age",
        "score",
        "city",
        "member",
        "joined",
        "tags",
    ]


def test_profile_of_an_integer_column_has_exact_statistics(known_table):
    age = column(profile_parquet(known_table), "age")
    assert age == {
        "name": "age",
        "type": "Int64",
        "kind": "numeric",
        "null_count": 1,
        "distinct_count": 3,
        "distinct_is_approximate": False,
        "min": 30,
        "max": 50,
        "mean": 37.5,
        "std": pytest.approx(9.574271, rel=1e-6),
        "top_values": [],
    }


def test_profile_of_a_float_column_has_min_max_mean(known_table):
    score = column(profile_parquet(known_table), "score")
    assert (score["null_count"], score["min"], score["max"], score["mean"]) == (1, 1.0, 4.0, 2.5)


def test_profile_of_a_string_column_has_top_values_ties_broken_by_value(known_table):
    city = column(profile_parquet(known_table), "city")
    assert city["kind"] == "string"
    assert (city["null_count"], city["distinct_count"]) == (1, 2)
    assert city["top_values"] == [{"value": "Lima", "count": 2}, {"value": "Oslo", "count": 2}]
    assert city["min"] is None and city["mean"] is None


def test_profile_of_a_boolean_column_has_top_values(known_table):
    member = column(profile_parquet(known_table), "member")
    assert member["kind"] == "boolean"
    assert member["top_values"] == [{"value": True, "count": 3}, {"value": False, "count": 1}]


def test_profile_of_a_date_column_has_iso_min_and_max(known_table):
    joined = column(profile_parquet(known_table), "joined")
    assert (joined["kind"], joined["null_count"]) == ("temporal", 2)
    assert (joined["min"], joined["max"]) == ("2023-06-01", "2025-03-04")
    assert joined["mean"] is None


def test_profile_of_a_list_column_is_kind_other_with_counts_only(known_table):
    tags = column(profile_parquet(known_table), "tags")
    assert (tags["kind"], tags["null_count"], tags["distinct_count"]) == ("other", 1, 4)
    assert tags["min"] is None and tags["top_values"] == []


def test_top_values_are_limited_to_the_requested_number(tmp_path):
    path = tmp_path / "letters.parquet"
    pl.DataFrame({"letter": list("aaabbcdefg")}).write_parquet(path)
    letters = column(profile_parquet(path, top_values=2), "letter")
    assert letters["top_values"] == [{"value": "a", "count": 3}, {"value": "b", "count": 2}]


def test_profile_with_nan_and_infinity_is_strict_json(tmp_path):
    path = tmp_path / "nan.parquet"
    pl.DataFrame({"x": [float("nan"), float("inf"), float("-inf")]}).write_parquet(path)
    profile = profile_parquet(path)
    json.dumps(profile, allow_nan=False)
    x = column(profile, "x")
    assert x["mean"] is None and x["std"] is None


def test_profile_of_datetimes_is_json(tmp_path):
    path = tmp_path / "times.parquet"
    pl.DataFrame({"at": [datetime(2024, 1, 1, 12, 30), datetime(2024, 2, 1)]}).write_parquet(path)
    at = column(json.loads(json.dumps(profile_parquet(path))), "at")
    assert (at["min"], at["max"]) == ("2024-01-01T12:30:00", "2024-02-01T00:00:00")


def test_profile_of_an_empty_dataset_has_zero_counts(tmp_path):
    path = tmp_path / "empty.parquet"
    pl.DataFrame(
        {"a": pl.Series([], dtype=pl.Int64), "b": pl.Series([], dtype=pl.String)}
    ).write_parquet(path)
    profile = profile_parquet(path)
    json.dumps(profile, allow_nan=False)
    assert profile["row_count"] == 0
    assert column(profile, "a")["min"] is None
    assert column(profile, "b")["top_values"] == []


def test_distinct_counts_become_approximate_above_the_exact_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(profiling, "EXACT_DISTINCT_MAX_ROWS", 10)
    path = tmp_path / "many.parquet"
    pl.DataFrame({"n": range(1_000)}).write_parquet(path)
    n = column(profile_parquet(path), "n")
    assert n["distinct_is_approximate"] is True
    assert math.isclose(n["distinct_count"], 1_000, rel_tol=0.05)


def test_markdown_summary_has_one_row_per_column(known_table):
    markdown = profile_markdown(profile_parquet(known_table))
    lines = markdown.splitlines()
    assert lines[0] == "**5 rows, 6 columns**"
    assert lines[2] == "| name | type | nulls | distinct | min | max | mean | top values |"
    assert "| age | Int64 | 1 | 3 | 30 | 50 | 37.5 |  |" in lines
    assert "| city | String | 1 | 2 |  |  |  | Lima (2), Oslo (2) |" in lines
    assert len(lines) == 4 + 6


def test_markdown_escapes_pipes_in_names_and_values(tmp_path):
    path = tmp_path / "pipes.parquet"
    pl.DataFrame({"a|b": ["x|y"]}).write_parquet(path)
    markdown = profile_markdown(profile_parquet(path))
    assert "| a\\|b | String | 0 | 1 |  |  |  | x\\|y (1) |" in markdown.splitlines()


def test_markdown_caps_and_escapes_what_the_uploader_wrote(tmp_path):
    """A profile artifact is drawn by the Prefect UI: the uploader's names and values stay
    literal text in their own cell, and short."""
    path = tmp_path / "hostile.parquet"
    hostile = [
        "<script>alert(1)</script>",
        "a|b|c",
        "line one\nline two\r\n| forged | row |",
        "`code` **bold** [link](http://evil.example) ![img](x.png) www.evil.example",
        "x" * 10_240,
    ]
    pl.DataFrame({"<img src=x onerror=alert(1)>": hostile}).write_parquet(path)
    markdown = profile_markdown(profile_parquet(path))
    lines = markdown.splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + 1  # the newlines did not make rows
    row = lines[4]
    assert "<" not in markdown and ">" not in markdown
    assert "&lt;script&gt;" in row and "&lt;img src=x onerror=alert(1)&gt;" in row
    assert not re.findall(r"(?<!\\)[`*\[\]!]", row)  # no code, emphasis, link or image
    assert "http://" not in row and "www.evil" not in row
    # Every unescaped pipe is a cell border: 8 cells, whatever the values held.
    assert len(re.findall(r"(?<!\\)\|", row)) == 9
    assert "x" * 64 not in row and "x" * 63 + "\u2026" in row
    assert len(row) < 2_000


def test_long_frequent_values_and_types_are_cut_and_marked_names_stay_exact(tmp_path):
    path = tmp_path / "long.parquet"
    name = "n" * 300
    pl.DataFrame(
        {
            name: ["v" * 10_000, "v" * 10_000, "short"],
            "s": [{"f" * 300: 1}, {"f" * 300: 2}, None],
        }
    ).write_parquet(path)
    profile = profile_parquet(path)
    assert [c["name"] for c in profile["columns"]] == [name, "s"]  # the schema, exact
    assert column(profile, name)["top_values"] == [
        {"value": "v" * 200 + "\u2026", "count": 2, "truncated": True},
        {"value": "short", "count": 1},
    ]
    assert len(column(profile, "s")["type"]) == 201
    assert column(profile, "s")["type"].endswith("\u2026")
    assert profile["notes"] == [
        "1 frequent values are longer than 200 characters: the profile keeps their first 200, "
        "then \u2026, and marks them truncated."
    ]
    assert len(json.dumps(profile)) < 2_000


def test_markdown_shows_the_first_columns_and_the_notes(tmp_path):
    path = tmp_path / "wide.parquet"
    pl.DataFrame({f"c{i}": [i] for i in range(250)}).write_parquet(path)
    profile = profile_parquet(path)
    profile["notes"] = ["A *note* about <skipped> work."]
    lines = profile_markdown(profile, "GET /api/datasets/d1/versions/v1").splitlines()
    assert len([line for line in lines if line.startswith("| c")]) == 200
    assert "| c199 | Int64 | 0 | 1 | 199 | 199 | 199 |  |" in lines
    assert "| c200 " not in "\n".join(lines)
    assert lines[-3:] == [
        "\u2026 and 50 more columns; the full profile is in GET /api/datasets/d1/versions/v1",
        "",
        "- A \\*note\\* about &lt;skipped&gt; work.",
    ]
