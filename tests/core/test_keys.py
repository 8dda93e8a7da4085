"""Every bucket key of docs/spec.md §2 comes from one module and never leaves its prefix."""

from __future__ import annotations

import posixpath
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import keys
from core.errors import InvalidInputError, InvalidKeyPartError


def test_keys_follow_the_bucket_layout_exactly() -> None:
    assert keys.temp_upload_key("u1", "csv") == "uploads/temp/u1.csv"
    assert keys.temp_upload_key("u1", "parquet") == "uploads/temp/u1.parquet"
    assert keys.dataset_key("alice", "d1", "v1") == "datasets/alice/d1/v1.parquet"
    assert keys.model_key("alice", "j1") == "models/alice/j1/model.joblib"
    assert keys.model_metadata_key("alice", "j1") == "models/alice/j1/metadata.json"
    assert keys.plot_key("j1", "confusion_matrix") == "plots/j1/confusion_matrix.png"
    assert (
        keys.deleted_key("datasets/alice/d1/v1.parquet") == "deleted/datasets/alice/d1/v1.parquet"
    )


def test_new_ids_are_unique_uuids() -> None:
    ids = {keys.new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(uuid.UUID(identifier).version == 4 for identifier in ids)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "..",
        ".",
        "a/b",
        "a\\b",
        "../etc",
        "x..y",
        "tab\there",
        "nul\x00",
        "bell\x07",
        "del\x7f",
        "zero\u200bwidth",
        " padded",
        "padded ",
        "é" * 128,
    ],
)
def test_unsafe_user_parts_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidKeyPartError):
        keys.plot_key("job", bad)
    with pytest.raises(InvalidKeyPartError):
        keys.dataset_key(bad, "d", "v")


def test_a_part_of_exactly_255_bytes_is_accepted_and_256_is_not() -> None:
    assert keys.check_key_part("a" * 255, "name") == "a" * 255
    with pytest.raises(InvalidKeyPartError, match="at most 255 bytes"):
        keys.check_key_part("a" * 256, "name")


@pytest.mark.parametrize(
    ("filename", "extension"),
    [
        ("data.csv", "csv"),
        ("Data.CSV", "csv"),
        ("x.parquet", "parquet"),
        ("a.b.Parquet", "parquet"),
        ("table.tsv", "tsv"),
        ("Table.TSV", "tsv"),
    ],
)
def test_upload_extension_comes_from_the_filename(filename: str, extension: str) -> None:
    assert keys.upload_extension(filename) == extension


@pytest.mark.parametrize("filename", ["data.xlsx", "data", "csv", "data.csv.exe", "../x.csv"])
def test_other_filenames_are_refused(filename: str) -> None:
    with pytest.raises(InvalidInputError):
        keys.upload_extension(filename)


def test_temp_keys_only_take_csv_or_parquet() -> None:
    with pytest.raises(InvalidInputError):
        keys.temp_upload_key("u1", "exe")


def test_deleted_key_only_wraps_live_keys() -> None:
    for key in ("deleted/datasets/a/b/c.parquet", "other/x", "/datasets/a"):
        with pytest.raises(InvalidInputError):
            keys.deleted_key(key)


def _stays_inside(key: str, prefix: str, segments: int) -> bool:
    return (
        key.startswith(prefix)
        and posixpath.normpath(key) == key
        and len(key.split("/")) == segments
        and all(segment not in ("", ".", "..") for segment in key.split("/"))
    )


user_text = st.text(min_size=0, max_size=300)


@given(user=user_text, dataset=user_text, version=user_text)
def test_dataset_keys_never_leave_their_prefix(user: str, dataset: str, version: str) -> None:
    try:
        key = keys.dataset_key(user, dataset, version)
    except InvalidKeyPartError:
        return
    assert _stays_inside(key, f"datasets/{user}/{dataset}/", 4)
    assert key.endswith(".parquet")


@given(job=user_text, name=user_text)
def test_plot_keys_never_leave_their_prefix(job: str, name: str) -> None:
    try:
        key = keys.plot_key(job, name)
    except InvalidKeyPartError:
        return
    assert _stays_inside(key, f"plots/{job}/", 3)


@given(user=user_text, job=user_text)
def test_model_keys_never_leave_their_prefix(user: str, job: str) -> None:
    try:
        model, metadata = keys.model_key(user, job), keys.model_metadata_key(user, job)
    except InvalidKeyPartError:
        return
    assert _stays_inside(model, f"models/{user}/{job}/", 4)
    assert _stays_inside(metadata, f"models/{user}/{job}/", 4)


@given(upload=user_text, extension=st.sampled_from(keys.UPLOAD_EXTENSIONS))
def test_temp_keys_never_leave_their_prefix(upload: str, extension: str) -> None:
    try:
        key = keys.temp_upload_key(upload, extension)
    except InvalidKeyPartError:
        return
    assert _stays_inside(key, "uploads/temp/", 3)


@given(part=st.text(min_size=1, max_size=300))
def test_accepted_parts_are_short_and_free_of_separators(part: str) -> None:
    try:
        keys.check_key_part(part, "part")
    except InvalidKeyPartError:
        return
    assert len(part.encode("utf-8")) <= 255
    assert "/" not in part and "\\" not in part and ".." not in part
    assert all(ord(char) >= 32 and ord(char) != 127 for char in part)


def test_read_key_names_the_ids_every_builder_puts_in_a_key() -> None:
    user, dataset, version, job, upload = "Zoë", *(str(uuid.uuid4()) for _ in range(4))
    built = {
        keys.temp_upload_key(upload, "csv"): keys.NamedKey(
            "uploads/temp/", False, upload_id=upload
        ),
        keys.dataset_key(user, dataset, version): keys.NamedKey(
            "datasets/", False, user, dataset, version_id=version
        ),
        keys.model_key(user, job): keys.NamedKey("models/", False, user, job_id=job),
        keys.model_metadata_key(user, job): keys.NamedKey("models/", False, user, job_id=job),
        keys.plot_key(job, "roc-curve"): keys.NamedKey("plots/", False, job_id=job),
    }
    for key, named in built.items():
        assert keys.read_key(key) == named
        moved = keys.read_key(keys.deleted_key(key))
        assert moved == keys.NamedKey(**{**named.__dict__, "moved": True})


@pytest.mark.parametrize(
    "key",
    [
        "uploads/temp/x.txt",
        "uploads/temp/a/b.csv",
        "datasets/u/d.parquet",
        "models/u/j/other.bin",
        "plots/j/.png",
        "plots/j/a/b.png",
        "elsewhere/x",
        "deleted/deleted/plots/j/a.png",
    ],
)
def test_read_key_refuses_other_shapes(key: str) -> None:
    assert keys.read_key(key) is None
