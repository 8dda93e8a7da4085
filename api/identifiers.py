"""The one shape of the ids the API hands out (`core.keys.new_id`), checked before any query."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import Field

# `str(uuid.uuid4())`: lowercase hex with dashes. Anything else was never given out, so it is
# refused before it reaches the catalog: a NUL byte would make PostgreSQL raise, and a 10 KB id
# would be carried through a query and the logs for nothing.
ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ID_LENGTH = 36
_EXAMPLE = "0b6f1f6e-4a53-4d5c-9c43-1f2a3b4c5d6e"


def _path_id(what: str) -> object:
    return Path(
        pattern=ID_PATTERN,
        min_length=ID_LENGTH,
        max_length=ID_LENGTH,
        description=f"The {what}'s id, as the API gave it. Any other string answers 404.",
        examples=[_EXAMPLE],
    )


# Path parameters: api/errors.py answers a path id that does not match with 404 `not_found`, the
# answer an unknown id gets, so a malformed id tells a caller nothing more than a wrong one.
DatasetIdPath = Annotated[str, _path_id("dataset")]
VersionIdPath = Annotated[str, _path_id("dataset version")]
JobIdPath = Annotated[str, _path_id("training job")]

# Ids in a JSON body: a body field that does not match is 400 `invalid_input`, as any other.
BodyId = Annotated[
    str,
    Field(pattern=ID_PATTERN, min_length=ID_LENGTH, max_length=ID_LENGTH, examples=[_EXAMPLE]),
]

# What the 404 of a malformed path id names, by parameter.
PATH_ID_RESOURCES = {"dataset_id": "dataset", "version_id": "dataset version", "job_id": "job"}

UploadIdPath = Annotated[str, _path_id("upload")]
PATH_ID_RESOURCES["upload_id"] = "upload"
