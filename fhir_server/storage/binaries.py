"""Binary content, kept in GridFS chunks so documents of tens of MB fit (a document is limited to 16 MB).

Content is read back a few chunks per database reply: GridFS's own reader asks for them all in one cursor,
and FerretDB v1 answers with replies past the 48 MB a wire message may hold (pymongo then gives up), so a
Binary over about 48 MB was stored but could not be read.
"""
from __future__ import annotations

import hashlib

import gridfs
from bson import ObjectId
from pymongo.database import Database

from .mongo import BINARY_BUCKET

READ_BATCH = 32  # chunks per database reply: 8 MB at GridFS's default 255 kB chunks


class BinaryContent:
    def __init__(self, db: Database) -> None:
        self._bucket = gridfs.GridFSBucket(db, bucket_name=BINARY_BUCKET)
        self._chunks = db[f"{BINARY_BUCKET}.chunks"]

    def put(self, data: bytes, content_type: str | None) -> dict:
        """Stores `data`; returns the reference kept on the resource version."""
        file_id = self._bucket.upload_from_stream(
            "content", data, metadata={"contentType": content_type})
        return {"file": file_id, "size": len(data), "sha1": hashlib.sha1(data).hexdigest()}

    def get(self, ref: dict) -> bytes:
        """The content `ref` (from `put`) names, its chunks in order; CorruptGridFile if some are missing."""
        chunks = self._chunks.find({"files_id": ObjectId(ref["file"])}, {"data": 1}, sort=[("n", 1)],
                                   batch_size=READ_BATCH)
        data = b"".join(chunk["data"] for chunk in chunks)
        if len(data) != ref["size"]:
            raise gridfs.errors.CorruptGridFile(f"Binary content {ref['file']}: {len(data)} of {ref['size']} bytes")
        return data

    def delete(self, ref: dict) -> None:
        try:
            self._bucket.delete(ObjectId(ref["file"]))
        except gridfs.errors.NoFile:
            pass
