"""Where media bytes live: a local directory (one machine) or an S3-compatible bucket (several).

``open_store(spec)`` picks one from ``CAREWINDOW_MEDIA_STORE``: a path (default ``var/media``) or
``s3://bucket[/prefix]``. The S3 store uses boto3 (AWS's own SDK, released weekly, the client every
S3-compatible server tests against: MinIO, Ceph RGW, Cloudflare R2, Backblaze B2), pointed at any of
them by ``CAREWINDOW_MEDIA_S3_ENDPOINT_URL``; credentials come from boto3's usual chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, an instance role). Both stores pass the
same tests (tests/storage/test_media_store.py, the S3 one against moto's server).

Keys are carewindow's media ids: one object per file, written once, never rewritten.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

__all__ = ["DirectoryStore", "MediaStore", "MediaStoreError", "S3Store", "open_store"]

_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


class MediaStoreError(Exception):
    """The store could not keep or give back a file (its reason says why)."""


class MediaStore(Protocol):
    """A byte store. ``read`` with ``start``/``end`` (inclusive) gives that range only."""

    def put(self, key: str, data: bytes, *, mime_type: str) -> None: ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def describe(self) -> str: ...


def _check_key(key: str) -> str:
    if not _KEY.match(key) or key.startswith("."):
        raise MediaStoreError(f"invalid media key {key!r}")
    return key


class DirectoryStore:
    """Files under ``root``: written to a temporary file and renamed, so a reader (or a crash) never
    sees half a file."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        key = _check_key(key)
        return self.root / key[-2:] / key

    def put(self, key: str, data: bytes, *, mime_type: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise MediaStoreError(f"cannot write {path}: {exc.strerror or exc}") from None

    def read(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        path = self._path(key)
        try:
            with path.open("rb") as f:
                f.seek(start)
                return f.read() if end is None else f.read(max(0, end - start + 1))
        except FileNotFoundError:
            raise MediaStoreError(f"no file {key!r} in {self.root}") from None
        except OSError as exc:
            raise MediaStoreError(f"cannot read {path}: {exc.strerror or exc}") from None

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise MediaStoreError(f"cannot delete {key!r}: {exc.strerror or exc}") from None

    def describe(self) -> str:
        return f"directory {self.root}"


class S3Store:
    """Objects in ``bucket`` under ``prefix``, through boto3 (imported only when used: ``carewindow[s3]``)."""

    def __init__(
        self, bucket: str, *, prefix: str = "", endpoint_url: str | None = None, client: Any = None
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        if client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise MediaStoreError(
                    "an s3:// media store needs boto3: pip install 'carewindow[s3]'"
                ) from None
            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url or None,
                config=Config(retries={"max_attempts": 5, "mode": "standard"}),
            )
        self._client = client

    def _key(self, key: str) -> str:
        return self.prefix + _check_key(key)

    def _fail(self, what: str, exc: Exception) -> MediaStoreError:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
        return MediaStoreError(f"s3 {what} failed: {code or type(exc).__name__}")

    def put(self, key: str, data: bytes, *, mime_type: str) -> None:
        try:
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=mime_type)
        except MediaStoreError:
            raise
        except Exception as exc:  # botocore's errors: ClientError, EndpointConnectionError, ...
            raise self._fail(f"put of {key!r}", exc) from None

    def read(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if start or end is not None:
            args["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            body = self._client.get_object(**args)["Body"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
            return data
        except MediaStoreError:
            raise
        except Exception as exc:
            raise self._fail(f"read of {key!r}", exc) from None

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except MediaStoreError:
            raise
        except Exception as exc:
            raise self._fail(f"delete of {key!r}", exc) from None

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def open_store(
    spec: str, *, home: str | os.PathLike[str] = ".", endpoint_url: str | None = None
) -> MediaStore:
    """The store ``spec`` names: ``s3://bucket[/prefix]`` or a directory (relative to ``home``)."""
    if spec.startswith("s3://"):
        bucket, _, prefix = spec[5:].partition("/")
        if not bucket:
            raise MediaStoreError(f"no bucket in {spec!r} (expected s3://bucket/prefix)")
        return S3Store(bucket, prefix=prefix, endpoint_url=endpoint_url)
    path = Path(spec)
    return DirectoryStore(path if path.is_absolute() else Path(home) / path)
