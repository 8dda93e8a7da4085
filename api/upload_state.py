"""Upload state for a client resuming an upload: its plan and the parts the store holds."""

from __future__ import annotations

from prefect_aws import S3Bucket

from api.deps import AuthenticatedUser
from api.schemas import StoredPartOut, UploadState, UploadStateList
from blocks.presigning import list_parts
from catalog.database import Catalog
from catalog.tables import Upload, utcnow
from catalog.uploads import check_open, open_uploads, users_upload
from core.statuses import UploadStatus


def _state(storage: S3Bucket, upload: Upload) -> UploadState:
    """The parts are asked of the store, not the catalog: only the store knows which PUTs
    landed (a client killed mid-part leaves nothing of that part)."""
    stored: list[StoredPartOut] = []
    if upload.status == UploadStatus.PENDING and upload.multipart_upload_id:
        parts = list_parts(storage, upload.temp_key, upload.multipart_upload_id) or []
        stored = [
            StoredPartOut(part_number=p.part_number, size_bytes=p.size_bytes, etag=p.etag)
            for p in parts
        ]
    return UploadState(
        upload_id=upload.id,
        filename=upload.filename,
        size_bytes=upload.size_bytes,
        status=upload.status,
        expires_at=upload.expires_at,
        multipart=upload.multipart_upload_id is not None,
        part_size=upload.part_size,
        part_count=upload.part_count,
        stored_parts=stored,
    )


def upload_state(
    catalog: Catalog, storage: S3Bucket, user: AuthenticatedUser, upload_id: str
) -> UploadState:
    """The caller's upload (404 otherwise; 410 once expired), whatever its status."""
    now = utcnow()
    with catalog.session() as session:
        upload = users_upload(session, user.id, upload_id)
        if upload.status in (UploadStatus.PENDING, UploadStatus.EXPIRED):
            check_open(upload, now)  # 410 once expired, as the other upload routes answer
        session.expunge(upload)
    return _state(storage, upload)


def pending_uploads(
    catalog: Catalog, storage: S3Bucket, user: AuthenticatedUser
) -> UploadStateList:
    """The caller's uploads that still take bytes, newest first: what a client can resume."""
    with catalog.session() as session:
        uploads = open_uploads(session, user.id, utcnow())
        session.expunge_all()
    return UploadStateList(uploads=[_state(storage, upload) for upload in uploads])
