"""Binary content, kept in GridFS chunks so documents of tens of MB fit (a document is limited to 16 MB)."""
from __future__ import annotations

import hashlib

import gridfs
from bson import ObjectId
from pymongo.database import Database

from .mongo import BINARY_BUCKET


class BinaryContent:
    def __init__(self, db: Database) -> None:
        self._bucket = gridfs.GridFSBucket(db, bucket_name=BINARY_BUCKET)

    def put(self, data: bytes, content_type: str | None) -> dict:
        """Stores `data`; returns the reference kept on the resource version."""
        file_id = self._bucket.upload_from_stream(
            "content", data, metadata={"contentType": content_type})
        return {"file": file_id, "size": len(data), "sha1": hashlib.sha1(data).hexdigest()}

    def get(self, ref: dict) -> bytes:
        return self._bucket.open_download_stream(ObjectId(ref["file"])).read()

    def delete(self, ref: dict) -> None:
        try:
            self._bucket.delete(ObjectId(ref["file"]))
        except gridfs.errors.NoFile:
            pass
