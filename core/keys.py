"""The one place that builds bucket keys (docs/spec.md §2); every part is checked before use."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from core.errors import InvalidInputError, InvalidKeyPartError

TEMP_UPLOADS_PREFIX = "uploads/temp/"
DATASETS_PREFIX = "datasets/"
MODELS_PREFIX = "models/"
PLOTS_PREFIX = "plots/"
DELETED_PREFIX = "deleted/"

MAX_KEY_PART_BYTES = 255
UploadExtension = Literal["csv", "parquet", "tsv"]
UPLOAD_EXTENSIONS: tuple[UploadExtension, ...] = ("csv", "parquet", "tsv")
MODEL_FILENAME = "model.joblib"
METADATA_FILENAME = "metadata.json"

# Unicode categories never allowed in a key part: control, format, surrogate, private, unassigned.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def new_id() -> str:
    """A server-generated id (UUID4, hex with dashes): the only kind of id keys are made of."""
    return str(uuid.uuid4())


def check_key_part(value: str, what: str) -> str:
    """Returns `value` if it is safe as one path segment of a key, else raises with the reason.

    Safe: 1-255 UTF-8 bytes, not `.` or `..` and no `..` inside, no `/` or `\\`, no control or
    invisible formatting characters, no leading or trailing whitespace.
    """
    if not isinstance(value, str) or value == "":
        raise InvalidKeyPartError(f"{what} must not be empty")
    if len(value.encode("utf-8", errors="surrogatepass")) > MAX_KEY_PART_BYTES:
        raise InvalidKeyPartError(f"{what} must be at most {MAX_KEY_PART_BYTES} bytes long")
    if "/" in value or "\\" in value:
        raise InvalidKeyPartError(f"{what} must not contain '/' or '\\'")
    if ".." in value or value == ".":
        raise InvalidKeyPartError(f"{what} must not contain '..' or be '.'")
    for char in value:
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            raise InvalidKeyPartError(
                f"{what} must not contain control characters (found U+{ord(char):04X})"
            )
    if value != value.strip():
        raise InvalidKeyPartError(f"{what} must not start or end with whitespace")
    return value


def upload_extension(filename: str) -> UploadExtension:
    """The temp-key extension for a client's filename: `.csv`, `.parquet` or `.tsv`,
    case-insensitive (a CSV's delimiter is read from its content, `.tsv` or not)."""
    check_key_part(filename, "filename")
    suffix = PurePosixPath(filename).suffix.lower().lstrip(".")
    for extension in UPLOAD_EXTENSIONS:
        if suffix == extension:
            return extension
    raise InvalidInputError(
        f"filename must end in .csv or .parquet (or .tsv for tab-separated text), got {filename!r}"
    )


def temp_upload_key(upload_id: str, extension: str) -> str:
    if extension not in UPLOAD_EXTENSIONS:
        raise InvalidInputError(f"upload extension must be csv, tsv or parquet, got {extension!r}")
    return f"{TEMP_UPLOADS_PREFIX}{check_key_part(upload_id, 'upload id')}.{extension}"


def dataset_key(user_id: str, dataset_id: str, version_id: str) -> str:
    return (
        f"{DATASETS_PREFIX}{check_key_part(user_id, 'user id')}/"
        f"{check_key_part(dataset_id, 'dataset id')}/"
        f"{check_key_part(version_id, 'version id')}.parquet"
    )


def model_prefix(user_id: str, job_id: str) -> str:
    return (
        f"{MODELS_PREFIX}{check_key_part(user_id, 'user id')}/{check_key_part(job_id, 'job id')}/"
    )


def model_key(user_id: str, job_id: str) -> str:
    return model_prefix(user_id, job_id) + MODEL_FILENAME


def model_metadata_key(user_id: str, job_id: str) -> str:
    return model_prefix(user_id, job_id) + METADATA_FILENAME


def plots_prefix(job_id: str) -> str:
    return f"{PLOTS_PREFIX}{check_key_part(job_id, 'job id')}/"


def plot_key(job_id: str, plot_name: str) -> str:
    return f"{plots_prefix(job_id)}{check_key_part(plot_name, 'plot name')}.png"


_LIVE_PREFIXES = (TEMP_UPLOADS_PREFIX, DATASETS_PREFIX, MODELS_PREFIX, PLOTS_PREFIX)


def deleted_key(original_key: str) -> str:
    """Where a soft-deleted object is kept: `deleted/{original key}`; only live keys qualify."""
    if not original_key.startswith(_LIVE_PREFIXES):
        raise InvalidInputError(f"not a live key: {original_key!r}")
    parts = original_key.split("/")
    for part in parts:
        check_key_part(part, "key segment")
    return DELETED_PREFIX + original_key


@dataclass(frozen=True)
class NamedKey:
    """What a bucket key names, read back from its shape (the inverse of the builders above)."""

    prefix: (
        str  # the live prefix: TEMP_UPLOADS_PREFIX, DATASETS_PREFIX, MODELS_PREFIX, PLOTS_PREFIX
    )
    moved: bool  # under `deleted/`
    user_id: str | None = None
    dataset_id: str | None = None
    version_id: str | None = None
    job_id: str | None = None
    upload_id: str | None = None


def read_key(key: str) -> NamedKey | None:
    """The ids a key of section 2's layout names; None for a key of any other shape."""
    moved = key.startswith(DELETED_PREFIX)
    live = key.removeprefix(DELETED_PREFIX) if moved else key
    parts = live.split("/")
    if live.startswith(TEMP_UPLOADS_PREFIX) and len(parts) == 3:
        stem, dot, extension = parts[2].rpartition(".")
        if dot and stem and extension in UPLOAD_EXTENSIONS:
            return NamedKey(TEMP_UPLOADS_PREFIX, moved, upload_id=stem)
    elif live.startswith(DATASETS_PREFIX) and len(parts) == 4 and parts[3].endswith(".parquet"):
        version_id = parts[3].removesuffix(".parquet")
        if parts[1] and parts[2] and version_id:
            return NamedKey(DATASETS_PREFIX, moved, parts[1], parts[2], version_id=version_id)
    elif live.startswith(MODELS_PREFIX) and len(parts) == 4:
        if parts[1] and parts[2] and parts[3] in (MODEL_FILENAME, METADATA_FILENAME):
            return NamedKey(MODELS_PREFIX, moved, parts[1], job_id=parts[2])
    elif live.startswith(PLOTS_PREFIX) and len(parts) == 3 and parts[1]:
        plot_name = parts[2].removesuffix(".png")
        if plot_name and plot_name != parts[2]:
            return NamedKey(PLOTS_PREFIX, moved, job_id=parts[1])
    return None
