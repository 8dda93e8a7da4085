"""Tasks that prepare the bucket: create it, CORS for browser uploads, temp lifecycle, private.

Each is idempotent. A store that does not implement an operation (MinIO answers the bucket CORS
call with `NotImplemented`; R2 has no ACL API) is reported, not crashed on: the report says how
that store takes the setting instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from blocks.storage import load_storage_block, s3_client
from core.keys import TEMP_UPLOADS_PREFIX
from tasks.storage import storage_task

TEMP_LIFECYCLE_RULE_ID = "expire-temp-uploads"
PUBLIC_GRANTEES = frozenset(
    {
        "http://acs.amazonaws.com/groups/global/AllUsers",
        "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
    }
)
_UNSUPPORTED_CODES = frozenset({"NotImplemented", "NotSupported", "MethodNotAllowed"})


@dataclass(frozen=True)
class SetupStep:
    """Outcome of one setup step: `applied`, `unchanged` or `unsupported` (with the reason)."""

    step: str
    outcome: str
    detail: str = ""


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_unsupported(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return _error_code(exc) in _UNSUPPORTED_CODES or status == 501


def temp_lifecycle_rule(days: int) -> dict[str, Any]:
    """Expire temp uploads and abort their incomplete multipart uploads after `days` days."""
    return {
        "ID": TEMP_LIFECYCLE_RULE_ID,
        "Filter": {"Prefix": TEMP_UPLOADS_PREFIX},
        "Status": "Enabled",
        "Expiration": {"Days": days},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
    }


@storage_task(task_run_name="ensure-bucket")
def ensure_bucket() -> SetupStep:
    """Creates the bucket unless it exists (and is ours), in the block's signing region."""
    bucket = load_storage_block()
    region = bucket.credentials.region_name or "us-east-1"
    client = s3_client(bucket)
    try:
        client.head_bucket(Bucket=bucket.bucket_name)
        return SetupStep("bucket", "unchanged", bucket.bucket_name)
    except ClientError as exc:
        if _error_code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
            raise
    arguments: dict[str, Any] = {"Bucket": bucket.bucket_name}
    if region != "us-east-1":
        # Outside us-east-1 the region must be named; R2 takes `auto` (or a location hint).
        arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**arguments)
    except ClientError as exc:
        if _error_code(exc) != "BucketAlreadyOwnedByYou":
            raise
        return SetupStep("bucket", "unchanged", bucket.bucket_name)
    return SetupStep("bucket", "applied", f"created {bucket.bucket_name}")


@storage_task(task_run_name="apply-cors")
def apply_cors(rules: list[dict[str, Any]]) -> SetupStep:
    """Puts the bucket's CORS rules so browsers can PUT through presigned URLs."""
    bucket = load_storage_block()
    try:
        s3_client(bucket).put_bucket_cors(
            Bucket=bucket.bucket_name, CORSConfiguration={"CORSRules": rules}
        )
    except ClientError as exc:
        if not _is_unsupported(exc):
            raise
        return SetupStep(
            "cors",
            "unsupported",
            f"the store refused bucket CORS ({_error_code(exc)}); on MinIO set "
            "MINIO_API_CORS_ALLOW_ORIGIN to the app's origins instead",
        )
    origins = sorted({origin for rule in rules for origin in rule["AllowedOrigins"]})
    return SetupStep("cors", "applied", "origins " + ", ".join(origins))


@storage_task(task_run_name="apply-temp-lifecycle")
def apply_temp_lifecycle(days: int) -> SetupStep:
    """Adds (or updates) the `uploads/temp/` expiry rule, keeping any other lifecycle rules."""
    bucket = load_storage_block()
    client = s3_client(bucket)
    try:
        current = client.get_bucket_lifecycle_configuration(Bucket=bucket.bucket_name)["Rules"]
    except ClientError as exc:
        if _error_code(exc) == "NoSuchLifecycleConfiguration":
            current = []
        elif _is_unsupported(exc):
            return SetupStep("lifecycle", "unsupported", f"the store refused ({_error_code(exc)})")
        else:
            raise
    wanted = temp_lifecycle_rule(days)
    others = [rule for rule in current if rule.get("ID") != TEMP_LIFECYCLE_RULE_ID]
    try:
        client.put_bucket_lifecycle_configuration(
            Bucket=bucket.bucket_name, LifecycleConfiguration={"Rules": [*others, wanted]}
        )
    except ClientError as exc:
        if not _is_unsupported(exc):
            raise
        return SetupStep("lifecycle", "unsupported", f"the store refused ({_error_code(exc)})")
    return SetupStep("lifecycle", "applied", f"{TEMP_UPLOADS_PREFIX} expires after {days} days")


def _policy_is_public(policy_document: str) -> bool:
    statements = json.loads(policy_document).get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        principal = statement.get("Principal")
        anyone = principal == "*" or (
            isinstance(principal, dict) and "*" in json.dumps(principal.get("AWS", ""))
        )
        if statement.get("Effect") == "Allow" and anyone:
            return True
    return False


@storage_task(task_run_name="ensure-private")
def ensure_private() -> SetupStep:
    """Removes public ACL grants and any policy that lets anyone in: presigned access only."""
    bucket = load_storage_block()
    client = s3_client(bucket)
    changes: list[str] = []
    refused: list[str] = []  # what the store has no API for, so could not be checked here
    try:
        grants = client.get_bucket_acl(Bucket=bucket.bucket_name).get("Grants", [])
        if any(grant.get("Grantee", {}).get("URI") in PUBLIC_GRANTEES for grant in grants):
            client.put_bucket_acl(Bucket=bucket.bucket_name, ACL="private")
            changes.append("removed public ACL grants")
    except ClientError as exc:
        if not _is_unsupported(exc):
            raise
        refused.append(f"ACLs ({_error_code(exc)})")
    try:
        policy = client.get_bucket_policy(Bucket=bucket.bucket_name)["Policy"]
        if _policy_is_public(policy):
            client.delete_bucket_policy(Bucket=bucket.bucket_name)
            changes.append("deleted a public bucket policy")
    except ClientError as exc:
        if _is_unsupported(exc):
            refused.append(f"bucket policies ({_error_code(exc)})")
        elif _error_code(exc) != "NoSuchBucketPolicy":
            raise
    if refused:
        # Nothing here can vouch for what the store would not show: say so, never "unchanged".
        unchecked = (
            f"the store refused {' and '.join(refused)}, so public access was not checked "
            "there; keep the bucket's public access disabled in the store's settings "
            "(R2: Settings > Public access)"
        )
        return SetupStep("private", "unsupported", "; ".join([*changes, unchecked]))
    if changes:
        return SetupStep("private", "applied", "; ".join(changes))
    return SetupStep("private", "unchanged", "no public grant, no public policy")
