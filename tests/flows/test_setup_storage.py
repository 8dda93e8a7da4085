"""The setup-storage flow: bucket, CORS, temp lifecycle and a private bucket, idempotently."""

from __future__ import annotations

import json

import httpx
import pytest
from botocore.exceptions import ClientError

from core.cors import load_cors_rules, page_origins
from flows.setup_storage import setup_storage
from tasks.bucket_setup import PUBLIC_GRANTEES, TEMP_LIFECYCLE_RULE_ID, SetupStep
from tests.support.fault_proxy import FaultProxy
from tests.support.stores import Store


def _outcomes(steps: list[SetupStep]) -> dict[str, str]:
    return {step.step: step.outcome for step in steps}


def test_it_creates_a_missing_bucket_and_a_second_run_changes_nothing(store: Store) -> None:
    first = setup_storage()
    assert _outcomes(first)["bucket"] == "applied"
    store.client.head_bucket(Bucket=store.bucket_name)

    second = setup_storage()
    assert _outcomes(second)["bucket"] == "unchanged"
    assert _outcomes(second)["private"] == "unchanged"


def test_cors_rules_come_from_the_compose_file_with_the_upload_pages_origin(
    store: Store,
) -> None:
    """`automl up` serves the upload page at http://127.0.0.1:8000/: its PUTs must pass the
    bucket's CORS rules without any setting."""
    setup_storage()
    rules = store.client.get_bucket_cors(Bucket=store.bucket_name)["CORSRules"]
    files = {origin for rule in load_cors_rules() for origin in rule["AllowedOrigins"]}
    page = {"http://127.0.0.1:8000", "http://localhost:8000"}
    assert [set(rule["AllowedOrigins"]) for rule in rules] == [files | page]
    assert sorted(rules[0]["AllowedMethods"]) == ["GET", "HEAD", "PUT"]
    assert "ETag" in rules[0]["ExposeHeaders"]


def test_configured_origins_replace_the_files_origins(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOML_CORS_ORIGINS", "https://app.example.com, http://127.0.0.1:5173")
    from core.settings import get_settings

    get_settings.cache_clear()
    setup_storage()
    rules = store.client.get_bucket_cors(Bucket=store.bucket_name)["CORSRules"]
    assert sorted(rules[0]["AllowedOrigins"]) == [
        "http://127.0.0.1:5173",
        "https://app.example.com",
    ]


def test_temp_uploads_expire_by_a_lifecycle_rule(store: Store) -> None:
    setup_storage(temp_retention_days=9)
    rules = store.client.get_bucket_lifecycle_configuration(Bucket=store.bucket_name)["Rules"]
    [rule] = [rule for rule in rules if rule["ID"] == TEMP_LIFECYCLE_RULE_ID]
    assert rule["Filter"] == {"Prefix": "uploads/temp/"}
    assert rule["Status"] == "Enabled"
    assert rule["Expiration"] == {"Days": 9}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 9}


def test_other_lifecycle_rules_are_kept(store: Store) -> None:
    store.create_bucket()
    other = {
        "ID": "keep-me",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 3},
    }
    store.client.put_bucket_lifecycle_configuration(
        Bucket=store.bucket_name, LifecycleConfiguration={"Rules": [other]}
    )
    setup_storage()
    setup_storage()
    rules = store.client.get_bucket_lifecycle_configuration(Bucket=store.bucket_name)["Rules"]
    assert sorted(rule["ID"] for rule in rules) == ["expire-temp-uploads", "keep-me"]


def _assert_private(store: Store) -> None:
    grants = store.client.get_bucket_acl(Bucket=store.bucket_name)["Grants"]
    assert not [g for g in grants if g.get("Grantee", {}).get("URI") in PUBLIC_GRANTEES]
    with pytest.raises(ClientError) as no_policy:
        store.client.get_bucket_policy(Bucket=store.bucket_name)
    assert no_policy.value.response["Error"]["Code"] == "NoSuchBucketPolicy"


def test_the_bucket_is_left_private(store: Store) -> None:
    setup_storage()
    _assert_private(store)


def test_a_public_read_policy_and_acl_are_removed(store: Store) -> None:
    store.create_bucket()
    public_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["*"]},
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{store.bucket_name}/*"],
            }
        ],
    }
    store.client.put_bucket_policy(Bucket=store.bucket_name, Policy=json.dumps(public_policy))
    store.client.put_bucket_acl(Bucket=store.bucket_name, ACL="public-read")
    steps = setup_storage()
    private = next(step for step in steps if step.step == "private")
    assert private.outcome == "applied"
    assert "public bucket policy" in private.detail
    assert "public ACL" in private.detail
    _assert_private(store)


def test_a_store_without_bucket_cors_is_reported_not_crashed_on(
    faulty_bucket: tuple[Store, FaultProxy],
) -> None:
    _store, proxy = faulty_bucket
    # MinIO answers PutBucketCors with 501 NotImplemented; it takes CORS from its environment.
    proxy.fail(lambda method, path: method == "PUT" and "cors" in path, 501, "NotImplemented")
    steps = setup_storage()
    cors = next(step for step in steps if step.step == "cors")
    assert cors.outcome == "unsupported"
    assert "MINIO_API_CORS_ALLOW_ORIGIN" in cors.detail
    assert _outcomes(steps)["lifecycle"] == "applied"


def test_a_refusing_store_fails_the_flow(faulty_bucket: tuple[Store, FaultProxy]) -> None:
    _store, proxy = faulty_bucket
    proxy.fail(lambda method, path: method == "PUT" and "cors" in path, 403, "AccessDenied")
    state = setup_storage(return_state=True)
    assert state.is_failed()


def test_the_compose_file_gives_minio_the_same_origins() -> None:
    from pathlib import Path

    compose = (Path(__file__).resolve().parents[2] / "docker" / "docker-compose.yml").read_text()
    origins = {o for rule in load_cors_rules() for o in rule["AllowedOrigins"]}
    assert "MINIO_API_CORS_ALLOW_ORIGIN" in compose
    for origin in origins:
        assert origin in compose
    assert "public" not in compose.replace("mc anonymous set none", "")


def test_presigned_access_still_works_on_the_private_bucket(store: Store) -> None:
    setup_storage()
    store.client.put_object(Bucket=store.bucket_name, Key="plots/j/x.png", Body=b"png")
    url = store.client.generate_presigned_url(
        "get_object", Params={"Bucket": store.bucket_name, "Key": "plots/j/x.png"}
    )
    assert httpx.get(url).content == b"png"


def test_the_upload_pages_origin_is_the_apis_address_when_a_browser_can_name_it() -> None:
    assert page_origins("127.0.0.1", 8000) == ["http://127.0.0.1:8000", "http://localhost:8000"]
    assert page_origins("api.internal", 9000) == ["http://api.internal:9000"]
    assert page_origins("0.0.0.0", 8000) == []  # its public name is the operator's to list
    configured = load_cors_rules(["https://app.example"], page_origins("127.0.0.1", 8000))
    assert configured[0]["AllowedOrigins"] == ["https://app.example"]  # a list replaces all
