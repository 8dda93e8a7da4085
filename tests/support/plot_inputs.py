"""The pieces of a job's profile and published metadata as the plots read them: candidates,
permutation importances and profiled columns, for the plot tests' inputs."""

from __future__ import annotations

from typing import Any


def candidate(
    name: str, family: str, status: str, score: float | None, seconds: float
) -> dict[str, Any]:
    return {
        "name": name,
        "family": family,
        "params": {},
        "status": status,
        "cv_score": score,
        "cv_fold_scores": [] if score is None else [score] * 3,
        "fit_seconds": seconds,
        "error": None,
    }


def importance(scoring: str, features: list[tuple[str, float, float]]) -> dict[str, Any]:
    return {
        "method": "permutation",
        "scoring": scoring,
        "n_repeats": 3,
        "rows": 20,
        "features": [
            {"name": name, "importance_mean": mean, "importance_std": std}
            for name, mean, std in features
        ],
    }


def numeric_column(name: str, nulls: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "type": "Float64",
        "kind": "numeric",
        "null_count": nulls,
        "distinct_count": 90,
        "distinct_is_approximate": False,
        "min": 1.5,
        "max": 98.0,
        "mean": 40.2,
        "std": 12.7,
        "top_values": [],
    }


def text_column(name: str, counts: dict[str, int], nulls: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "type": "String",
        "kind": "string",
        "null_count": nulls,
        "distinct_count": len(counts),
        "distinct_is_approximate": False,
        "min": None,
        "max": None,
        "mean": None,
        "std": None,
        "top_values": [{"value": v, "count": c} for v, c in counts.items()],
    }
