"""The training's rules as plain Python (no scikit-learn, pandas or polars): the task a target
calls for, how many rows a run needs, and what becomes of each column; the API states a job's
task from a profile with them.

- Task: the target is a classification target when it is text, categorical or boolean, or
  integer-valued (integer dtype, or floats that are all whole numbers) with at most
  `MAX_INTEGER_CLASSES` distinct values and at most half as many distinct values as rows (a
  class needs on average two examples to be learned); any other numeric target is
  regression. Other target types (dates, lists) are refused. Rows with a missing target are left
  out (noted).
- Rows: at least `MIN_ROWS` rows with a target value (an 80/20 split then leaves 4 held-out rows
  and 3-fold cross-validation still trains on about 10); classification also needs two
  classes with at least two rows each, so both sides of the split can hold them.
- Columns: numbers are imputed (median, with missing indicators) and scaled; booleans become
  0/1 (most frequent value imputed, with an indicator); dates and datetimes become six numbers
  (days since 1970, year, month, day, weekday, hour; all in UTC) then as numbers; text and
  categorical columns are one-hot encoded with at most `ONE_HOT_MAX_CATEGORIES` columns each
  (rarer values share one column, unseen values encode as zeros). A text column with more
  than `ONE_HOT_MAX_CATEGORIES` distinct values of which at least `ID_LIKE_UNIQUE_RATIO` of its
  non-missing values are distinct is id-like (names, ids, free text) and dropped: one value per
  row carries no pattern that generalises. A text column with more than `ONE_HOT_MAX_DISTINCT`
  distinct values that is not id-like (post codes, product codes) is hashed into
  `HASH_FEATURES` columns, so neither the pipeline's width nor the model file grows with its
  vocabulary. Columns with no value or a single value, and unsupported types (time of day,
  durations, lists, structs, binary), are dropped. Every drop is recorded with its reason.
"""

from __future__ import annotations

from typing import Any, Literal

from core.errors import TrainingInputError
from core.excerpts import quoted_name

TaskType = Literal["classification", "regression"]
FeatureKind = Literal["numeric", "boolean", "datetime", "categorical"]
Encoding = Literal["scaled", "binary", "date_parts", "one_hot", "hashed"]

MIN_ROWS = 20
MAX_INTEGER_CLASSES = 20
ONE_HOT_MAX_CATEGORIES = 20
ONE_HOT_MAX_DISTINCT = 1_000
ID_LIKE_UNIQUE_RATIO = 0.9
HASH_FEATURES = 32


def whole_numbers_are_classes(distinct: int, rows: int) -> bool:
    """Whether whole-number target values are class labels rather than quantities: few
    distinct values, each with two rows on average."""
    return distinct <= MAX_INTEGER_CLASSES and 2 * distinct <= rows


def task_type_for_profile_column(column: dict[str, Any], row_count: int) -> TaskType:
    """What the API states about a training job before it runs, by the rule the training
    applies to the values: classification for text, categorical or boolean targets, and for
    integer targets with at most `MAX_INTEGER_CLASSES` distinct values and two rows per value on
    average; regression for other numbers. A float column holding only whole numbers is
    classified by the values at training time (the profile cannot tell), and the job then
    records the task it trained."""
    kind = column.get("kind")
    if kind in ("string", "boolean"):
        return "classification"
    if kind != "numeric":
        raise TrainingInputError(
            f"The target {quoted_name(str(column.get('name')))} has type {column.get('type')}; "
            "a target must be "
            "numbers (regression) or labels such as text or booleans (classification)."
        )
    distinct = int(column.get("distinct_count") or 0)
    integer = str(column.get("type", "")).startswith(("Int", "UInt"))
    if integer and whole_numbers_are_classes(distinct, row_count):
        return "classification"
    return "regression"


def column_decision(
    kind: FeatureKind | None, dtype: str, present: int, distinct: int
) -> tuple[FeatureKind, Encoding] | str:
    """(kind, encoding) for a usable column, else the reason it is dropped; `kind` is None for
    a type no feature can have."""
    if kind is None:
        return f"type {dtype} is not supported as a feature"
    if present == 0:
        return "every value is missing"
    if distinct == 1:
        return "a single value in every row: it carries no information"
    if kind != "categorical":
        encodings: dict[FeatureKind, Encoding] = {
            "numeric": "scaled",
            "boolean": "binary",
            "datetime": "date_parts",
        }
        return kind, encodings[kind]
    if distinct > ONE_HOT_MAX_CATEGORIES and distinct >= ID_LIKE_UNIQUE_RATIO * present:
        return (
            f"id-like text: {distinct:,} distinct values in {present:,} non-missing rows "
            f"(at least {ID_LIKE_UNIQUE_RATIO:.0%} unique), which no model can generalise from"
        )
    if distinct > ONE_HOT_MAX_DISTINCT:
        return kind, "hashed"
    return kind, "one_hot"
