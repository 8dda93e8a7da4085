"""What the API states about a training job before it runs: the task type a target's profile
calls for, by the same rule `tasks.training.infer_task_type` applies to the values."""

from __future__ import annotations

from typing import Any

from tasks.training import MAX_INTEGER_CLASSES, TaskType, TrainingInputError


def task_type_for_profile_column(column: dict[str, Any], row_count: int) -> TaskType:
    """Classification for text, categorical or boolean targets, and for integer targets with at
    most `MAX_INTEGER_CLASSES` distinct values and two rows per value on average; regression for
    other numbers. A float column holding only whole numbers is classified by the values at
    training time (the profile cannot tell), and the job then records the task it trained."""
    kind = column.get("kind")
    if kind in ("string", "boolean"):
        return "classification"
    if kind != "numeric":
        raise TrainingInputError(
            f"The target {column.get('name')!r} has type {column.get('type')}; a target must be "
            "numbers (regression) or labels such as text or booleans (classification)."
        )
    distinct = int(column.get("distinct_count") or 0)
    integer = str(column.get("type", "")).startswith(("Int", "UInt"))
    if integer and distinct <= MAX_INTEGER_CLASSES and 2 * distinct <= row_count:
        return "classification"
    return "regression"
