"""Writer versions in an artifact store named by a URL: a folder (the default) or s3://bucket/prefix.

A version is a folder of files (a checkpoint: weights, JSON, its loss curves) kept at a
*location*: a folder path, or a key prefix in any S3-compatible store, so every machine of a
fleet can reach it. Versions are immutable — a new version is a new location — so a copy
downloaded once is good for ever, and publishing over an existing version is refused.

On S3 a manifest object listing the files is written last: a version whose upload stopped half
way (its trainer killed) has none, and reads as missing, never as half a writer. Deleting takes
the manifest first, for the same reason.

S3's endpoint, region and keys are boto3's own standard environment variables (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION): nothing here reads or logs them.
boto3 is imported only when an s3:// location is used (pip install 'relaytale[fleet]').
No torch and nothing of the bot: the bot (pruning, rollback) and the engine (the worker, the
trainer) both use this module.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = [
    "ArtifactError",
    "ArtifactMissing",
    "default_cache",
    "delete",
    "exists",
    "holds",
    "is_remote",
    "join",
    "local_copy",
    "name",
    "publish",
]

S3 = "s3://"
MANIFEST = "relaytale-manifest.json"  # written last: its presence means "complete"
INSTALL_HINT = "s3:// writer versions need boto3: pip install 'relaytale[fleet]'"


class ArtifactError(Exception):
    """A version could not be stored, fetched or deleted; the message names its location (and
    never a key or secret), so it is safe to show."""


class ArtifactMissing(ArtifactError):
    """No complete version at this location: never published, half uploaded, or deleted."""


def is_remote(location: str) -> bool:
    """Whether a location is in an object store (s3://) rather than a folder."""
    return location.startswith(S3)


def join(url: str, *parts: str) -> str:
    """The location of `parts` (e.g. lineage, "run-7") under a store's URL."""
    if is_remote(url):
        return "/".join([url.rstrip("/"), *parts])
    return str(Path(url, *parts))


def holds(url: str, location: str) -> bool:
    """Whether a location lies under a store's URL (what may be deleted: never the base)."""
    if is_remote(url) or is_remote(location):
        return is_remote(location) and location.startswith(url.rstrip("/") + "/")
    return Path(location).is_relative_to(url)


def name(location: str) -> str:
    """A location's last part ("run-7"), as a version's folder is named."""
    return PurePosixPath(location).name if is_remote(location) else Path(location).name


def default_cache() -> Path:
    """Where downloaded versions are kept unless told: one folder per machine, shared."""
    return Path(tempfile.gettempdir()) / "relaytale-versions"


def publish(folder: str | Path, location: str) -> None:
    """Put a finished local version folder at `location`, whole or not at all."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ArtifactError(f"{folder}: not a folder to publish")
    if exists(location):
        raise ArtifactError(f"{location}: a version is already there (versions never change)")
    if is_remote(location):
        _S3(location).upload(folder)
        return
    target = Path(location)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        shutil.copytree(folder, tmp, dirs_exist_ok=True)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def local_copy(location: str, cache_dir: str | Path | None = None) -> Path:
    """A folder holding the version: a folder location is itself; an s3:// one is downloaded
    once into `cache_dir` (default_cache()) and reused after. ArtifactMissing if there is none."""
    if not is_remote(location):
        if not Path(location).is_dir():
            raise ArtifactMissing(f"{location}: no version there")
        return Path(location)
    cache = Path(cache_dir) if cache_dir is not None else default_cache()
    digest = hashlib.sha256(location.encode()).hexdigest()[:16]
    target = cache / digest / name(location)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=target.parent))
    try:
        _S3(location).download(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():  # not another process having put the same version there
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def exists(location: str) -> bool:
    """Whether a complete version is at `location`."""
    if is_remote(location):
        return _S3(location).complete()
    return Path(location).is_dir()


def delete(location: str) -> None:
    """Remove a version (records elsewhere stay); a missing one is fine."""
    if is_remote(location):
        _S3(location).remove()
    else:
        shutil.rmtree(location, ignore_errors=True)


class _S3:
    """One version's objects: `<prefix>/<file>` for each file, then `<prefix>/MANIFEST`."""

    def __init__(self, location: str) -> None:
        bucket, _, key = location[len(S3) :].partition("/")
        if not bucket or not key.strip("/"):
            raise ArtifactError(f"{location}: not s3://bucket/prefix/version")
        self.location, self.bucket, self.prefix = location, bucket, key.strip("/")
        self.client = _client()

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}"

    def upload(self, folder: Path) -> None:
        files = {
            path.relative_to(folder).as_posix(): path.stat().st_size
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }
        with self.failures("could not be stored"):
            for relative in files:
                self.client.upload_file(str(folder / relative), self.bucket, self.key(relative))
            body = json.dumps({"files": files}).encode()
            self.client.put_object(Bucket=self.bucket, Key=self.key(MANIFEST), Body=body)

    def download(self, into: Path) -> None:
        with self.failures("could not be fetched"):
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(MANIFEST))
            files = _manifest(answer["Body"].read(), self.location)
            for relative, size in files.items():
                path = into / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                self.client.download_file(self.bucket, self.key(relative), str(path))
                if path.stat().st_size != size:
                    raise ArtifactError(f"{self.location}: {relative} is not the size published")

    def complete(self) -> bool:
        with self.failures("could not be looked up"):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self.key(MANIFEST))
            except _botocore().exceptions.ClientError as exc:
                if _code(exc) in _NOT_FOUND:
                    return False
                raise
        return True

    def remove(self) -> None:
        with self.failures("could not be deleted"):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(MANIFEST))
            pages = self.client.get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix + "/"):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:  # a page holds at most 1,000 keys: what one delete_objects takes
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})

    def failures(self, what: str) -> contextlib.AbstractContextManager[None]:
        return _failures(self.location, what)


@contextlib.contextmanager
def _failures(location: str, what: str) -> Iterator[None]:
    """Turns boto's errors into ArtifactError (ArtifactMissing for a missing object or bucket),
    naming the location and the store's error code, nothing more."""
    botocore = _botocore()
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        code = _code(exc)
        error = ArtifactMissing if code in _NOT_FOUND else ArtifactError
        raise error(f"{location}: {what} ({code})") from exc
    except (botocore.exceptions.BotoCoreError, OSError) as exc:
        raise ArtifactError(f"{location}: {what} ({exc})") from exc


_NOT_FOUND = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", "unknown"))


def _manifest(raw: bytes, location: str) -> dict[str, int]:
    """The files a manifest lists, each a plain relative path (never `..` or absolute)."""
    try:
        files = json.loads(raw)["files"]
        if not isinstance(files, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{location}: its manifest is unreadable") from exc
    for relative, size in files.items():
        parts = PurePosixPath(relative).parts
        if not parts or relative.startswith("/") or ".." in parts or not isinstance(size, int):
            raise ArtifactError(f"{location}: its manifest names {relative!r}")
    return dict(files)


def _client() -> Any:
    """An S3 client configured by boto3 from the environment."""
    try:
        import boto3
    except ImportError as exc:
        raise ArtifactError(INSTALL_HINT) from exc
    return boto3.client("s3")


def _botocore() -> Any:
    import botocore.exceptions

    return botocore
