"""STAND-IN for shared contract 2 (branch i17-upload owns it): pending uploads and the parts the
store holds, so the upload page can resume. The integrator drops this module for i17-upload's."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import CatalogDep, CurrentUser, StorageDep
from api.identifiers import _path_id
from blocks.storage import s3_client
from catalog.tables import Upload, utcnow
from catalog.uploads import check_open, users_upload
from core.statuses import UploadStatus

UploadIdPath = Annotated[str, _path_id("upload")]
# Out of the OpenAPI document: the stand-in must not change the described API.
router = APIRouter(prefix="/api/datasets", tags=["uploads"], include_in_schema=False)


class StoredPart(BaseModel):
    part_number: int
    size_bytes: int
    etag: str


class UploadState(BaseModel):
    upload_id: str
    filename: str
    size_bytes: int
    status: UploadStatus
    expires_at: datetime
    multipart: bool
    part_size: int | None
    part_count: int | None
    stored_parts: list[StoredPart]


class PendingUploads(BaseModel):
    uploads: list[UploadState]


def _stored_parts(storage: Any, upload: Upload) -> list[StoredPart]:
    if not upload.multipart_upload_id:
        return []
    client = s3_client(storage)
    parts: list[StoredPart] = []
    for page in client.get_paginator("list_parts").paginate(
        Bucket=storage.bucket_name, Key=upload.temp_key, UploadId=upload.multipart_upload_id
    ):
        parts.extend(
            StoredPart(part_number=p["PartNumber"], size_bytes=p["Size"], etag=p["ETag"])
            for p in page.get("Parts", [])
        )
    return parts


def _state(storage: Any, upload: Upload) -> UploadState:
    return UploadState(
        upload_id=upload.id,
        filename=upload.filename,
        size_bytes=upload.size_bytes,
        status=upload.status,
        expires_at=upload.expires_at,
        multipart=upload.multipart_upload_id is not None,
        part_size=upload.part_size,
        part_count=upload.part_count,
        stored_parts=_stored_parts(storage, upload),
    )


@router.get("/uploads", response_model=PendingUploads)
def pending_uploads(user: CurrentUser, catalog: CatalogDep, storage: StorageDep) -> PendingUploads:
    with catalog.session() as session:
        uploads = session.scalars(
            select(Upload)
            .where(
                Upload.user_id == user.id,
                Upload.status == UploadStatus.PENDING,
                Upload.expires_at > utcnow(),
            )
            .order_by(Upload.created_at.desc())
        ).all()
        session.expunge_all()
    return PendingUploads(uploads=[_state(storage, upload) for upload in uploads])


@router.get("/uploads/{upload_id}", response_model=UploadState)
def upload_state(
    upload_id: UploadIdPath, user: CurrentUser, catalog: CatalogDep, storage: StorageDep
) -> UploadState:
    with catalog.session() as session:
        upload = check_open(users_upload(session, user.id, upload_id), utcnow())
        session.expunge(upload)
    return _state(storage, upload)
