"""The media stores: the directory and the S3-compatible one pass the same tests."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from media_support import CREDENTIALS, s3_client

from carewindow.storage.media_store import DirectoryStore, MediaStore, MediaStoreError, S3Store, open_store


def test_put_then_read_gives_the_same_bytes(media_store: MediaStore) -> None:
    data = os.urandom(300_000)
    media_store.put("med_abc", data, mime_type="image/jpeg")
    assert hashlib.sha256(media_store.read("med_abc")).digest() == hashlib.sha256(data).digest()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.integers(0, 999), length=st.integers(1, 1200))
def test_ranges_read_the_slice(media_store: MediaStore, start: int, length: int) -> None:
    data = bytes(range(256)) * 4  # 1024 bytes
    media_store.put("med_range", data, mime_type="audio/ogg")
    end = start + length - 1
    assert media_store.read("med_range", start, end) == data[start : end + 1]


def test_open_ended_range(media_store: MediaStore) -> None:
    media_store.put("med_tail", b"0123456789", mime_type="video/mp4")
    assert media_store.read("med_tail", 7) == b"789"


def test_missing_file_is_a_store_error(media_store: MediaStore) -> None:
    with pytest.raises(MediaStoreError):
        media_store.read("med_never_stored")


def test_delete_removes_and_is_idempotent(media_store: MediaStore) -> None:
    media_store.put("med_gone", b"x", mime_type="text/plain")
    media_store.delete("med_gone")
    media_store.delete("med_gone")
    with pytest.raises(MediaStoreError):
        media_store.read("med_gone")


def test_rewriting_a_key_keeps_one_whole_file(media_store: MediaStore) -> None:
    # A fetch redone after a crash writes the same key again.
    media_store.put("med_twice", b"first", mime_type="text/plain")
    media_store.put("med_twice", b"second", mime_type="text/plain")
    assert media_store.read("med_twice") == b"second"


@pytest.mark.parametrize("key", ["../etc/passwd", "a/b", "", ".hidden", "x" * 300])
def test_keys_cannot_escape(media_store: MediaStore, key: str) -> None:
    with pytest.raises(MediaStoreError, match="invalid media key"):
        media_store.put(key, b"x", mime_type="text/plain")


def test_directory_store_leaves_no_temporary_files(tmp_path: os.PathLike[str]) -> None:
    store = DirectoryStore(tmp_path)
    store.put("med_tidy", b"abc", mime_type="text/plain")
    names = [p.name for p in DirectoryStore(tmp_path).root.rglob("*") if p.is_file()]
    assert names == ["med_tidy"]


def test_open_store_picks_by_spec(
    tmp_path: os.PathLike[str], s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = open_store("var/media", home=tmp_path)
    assert isinstance(local, DirectoryStore)
    assert str(local.root).startswith(str(tmp_path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", CREDENTIALS["region_name"])
    remote = open_store(f"s3://{s3_bucket}/some/prefix", endpoint_url=s3_endpoint)
    assert isinstance(remote, S3Store)
    remote.put("med_s3", b"hello", mime_type="text/plain")
    obj = s3_client(s3_endpoint).get_object(Bucket=s3_bucket, Key="some/prefix/med_s3")
    assert obj["Body"].read() == b"hello"
    assert obj["ContentType"] == "text/plain"
    with pytest.raises(MediaStoreError, match="no bucket"):
        open_store("s3://")


def test_unreachable_s3_is_a_store_error(s3_bucket: str) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
        **CREDENTIALS,
    )
    with pytest.raises(MediaStoreError, match="s3 put"):
        S3Store(s3_bucket, client=client).put("med_x", b"x", mime_type="text/plain")
