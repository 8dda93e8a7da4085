"""Store profiles for the fault proxy: what Cloudflare R2 and MinIO refuse that moto and
LocalStack accept, answered the way those stores answer it, so the tests show our code works
through each without an R2 account or a MinIO server.

R2, as Cloudflare documents it (read 2026-12 in cloudflare/cloudflare-docs,
src/content/docs/r2/api/s3/api.mdx, https://developers.cloudflare.com/r2/api/s3/api/):
- unimplemented: GetBucketAcl, PutBucketAcl, Get/PutBucketPolicy (and GetBucketPolicyStatus),
  Get/PutBucketTagging, Get/Put/DeleteObjectTagging, Get/PutBucketVersioning; object ACLs
  (Get/PutObjectAcl) are not listed as implemented either. The `x-amz-acl`/`x-amz-grant-*` and
  `x-amz-tagging` headers of PutObject, CopyObject, CreateMultipartUpload and CreateBucket are
  marked not implemented;
- PutBucketCors and PutBucketLifecycleConfiguration: `x-amz-sdk-checksum-algorithm` and
  `x-amz-checksum-algorithm` not implemented;
- presigned URLs are for GET, PUT, HEAD and DELETE (https://developers.cloudflare.com/r2/api/s3/
  presigned-urls/): no presigned POST (HTML form upload);
- the checksums boto3 >= 1.36 and aws-sdk-js >= 3.729 send by default were answered
  `501 NotImplemented: Header 'x-amz-checksum-crc32' with value '…' not implemented`
  (cloudflare/cloudflare-docs pull request 19236, January 2025; R2 has since added CRC32 on
  objects, but this profile keeps the refusal: a client that works through it works on every R2
  since), and it has no aws-chunked streaming upload with a trailing checksum (`x-amz-trailer`).
  R2 answers an unimplemented operation or header with 501 `NotImplemented`.

MinIO: bucket CORS (Get/Put/DeleteBucketCors) answers 501 `NotImplemented`; MinIO takes its
CORS origins from `MINIO_API_CORS_ALLOW_ORIGIN` (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Refusal:
    """How the store answers a request it does not implement."""

    status: int
    code: str
    message: str


# (method, query parameters, headers with lower-case names) -> a refusal, or None to pass it on
Rule = Callable[[str, Mapping[str, list[str]], Mapping[str, str]], Refusal | None]


@dataclass(frozen=True)
class StoreProfile:
    """A named set of rules; the first rule that refuses a request answers it."""

    name: str
    rules: tuple[Rule, ...]

    def refusal(self, method: str, path: str, headers: Mapping[str, str]) -> Refusal | None:
        query = parse_qs(urlsplit(path).query, keep_blank_values=True)
        lowered = {name.lower(): value for name, value in headers.items()}
        for rule in self.rules:
            refusal = rule(method, query, lowered)
            if refusal is not None:
                return refusal
        return None


def not_implemented(what: str) -> Refusal:
    return Refusal(501, "NotImplemented", f"{what} not implemented")


def _subresources(names: frozenset[str], label: str) -> Rule:
    def rule(
        method: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> Refusal | None:
        found = names & set(query)
        return not_implemented(f"{label} ({sorted(found)[0]})") if found else None

    return rule


def _headers_named(predicate: Callable[[str, str], bool]) -> Rule:
    def rule(
        method: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> Refusal | None:
        for name, value in headers.items():
            if predicate(name, value):
                return not_implemented(f"Header '{name}' with value '{value}'")
        return None

    return rule


def _presigned_post(
    method: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
) -> Refusal | None:
    """A POST to the bucket that is none of the S3 POST operations (DeleteObjects,
    CreateMultipartUpload, CompleteMultipartUpload, RestoreObject, SelectObjectContent) is a
    browser form upload (PostObject, a presigned POST)."""
    if method != "POST" or {"delete", "uploads", "uploadId", "restore", "select"} & set(query):
        return None
    return not_implemented("POST object (presigned POST, HTML form upload)")


_REFUSED_CHECKSUMS = frozenset({"x-amz-checksum-crc32", "x-amz-checksum-crc32c"})


def _checksum_or_chunked(name: str, value: str) -> bool:
    return (
        name in _REFUSED_CHECKSUMS
        or name in {"x-amz-trailer", "x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm"}
        or (name == "content-encoding" and "aws-chunked" in value.lower())
        or (name == "x-amz-content-sha256" and value.upper().startswith("STREAMING-"))
    )


def _acl_or_tagging_header(name: str, value: str) -> bool:
    return name in {"x-amz-acl", "x-amz-tagging"} or name.startswith("x-amz-grant-")


R2 = StoreProfile(
    "r2",
    (
        _subresources(frozenset({"acl"}), "ACL"),
        _subresources(frozenset({"policy", "policyStatus"}), "bucket policy"),
        _subresources(frozenset({"tagging"}), "tagging"),
        _subresources(frozenset({"versioning"}), "versioning"),
        _presigned_post,
        _headers_named(_checksum_or_chunked),
        _headers_named(_acl_or_tagging_header),
    ),
)

MINIO = StoreProfile("minio", (_subresources(frozenset({"cors"}), "bucket CORS"),))

PROFILES = {profile.name: profile for profile in (R2, MINIO)}
