"""Writer versions in an artifact store: a folder, and S3 (a real S3-protocol server)."""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3
import pytest

from storage import artifacts
from storage.artifacts import ArtifactError, ArtifactMissing


@pytest.fixture(params=["folder", "s3"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store under test: a folder, or s3://<a bucket of this test's>/writers."""
    if request.param == "folder":
        return str(tmp_path / "writers")
    return str(request.getfixturevalue("s3_url"))


@pytest.fixture
def version(tmp_path: Path) -> Path:
    """A finished version folder, as a trainer leaves it (a file in a subfolder too)."""
    folder = tmp_path / "made" / "run-1"
    (folder / "extra").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 40)
    (folder / "config.json").write_text('{"rnn_size": 8}', encoding="utf-8")
    (folder / "extra" / "note.txt").write_text("곶감", encoding="utf-8")
    return folder


def files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_a_published_version_comes_back_whole_and_is_downloaded_once(
    url: str, version: Path, tmp_path: Path
) -> None:
    """publish -> local_copy gives the same files; once copied, the copy is reused even after
    the version is gone from the store (versions never change, so it is still right)."""
    location = artifacts.join(url, "chat-1", "run-1")
    assert artifacts.holds(url, location) and artifacts.name(location) == "run-1"
    assert not artifacts.exists(location)
    artifacts.publish(version, location)
    assert artifacts.exists(location)
    copy = artifacts.local_copy(location, tmp_path / "cache")
    assert files(copy) == files(version) and copy.name == "run-1"
    with pytest.raises(ArtifactError, match="already there"):
        artifacts.publish(version, location)  # versions are immutable
    if artifacts.is_remote(url):
        artifacts.delete(location)
        assert artifacts.local_copy(location, tmp_path / "cache") == copy
        assert files(copy) == files(version)
        assert not list((tmp_path / "cache").rglob(".download-*"))
    else:
        assert copy == Path(location)


def test_a_missing_or_deleted_version_is_artifact_missing(
    url: str, version: Path, tmp_path: Path
) -> None:
    """Never published, or deleted (twice is fine): local_copy raises ArtifactMissing."""
    location = artifacts.join(url, "chat-1", "run-2")
    with pytest.raises(ArtifactMissing, match="run-2"):
        artifacts.local_copy(location, tmp_path / "cache")
    artifacts.publish(version, location)
    artifacts.delete(location)
    artifacts.delete(location)
    assert not artifacts.exists(location)
    with pytest.raises(ArtifactMissing):
        artifacts.local_copy(location, tmp_path / "cache")


def test_a_half_uploaded_version_is_missing(s3_url: str, version: Path, tmp_path: Path) -> None:
    """Files without the manifest (an upload that stopped) are not a version; deleting clears
    them too."""
    location = artifacts.join(s3_url, "chat-1", "run-3")
    artifacts.publish(version, location)
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    client = boto3.client("s3")
    client.delete_object(Bucket=bucket, Key=f"{prefix}/{artifacts.MANIFEST}")
    assert not artifacts.exists(location)
    with pytest.raises(ArtifactMissing):
        artifacts.local_copy(location, tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").rglob("*.json"))
    artifacts.delete(location)
    assert client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount") == 0


def test_only_locations_under_the_store_are_its_own(tmp_path: Path) -> None:
    """What pruning may delete: never the shipped base, nor another bucket's prefix."""
    assert artifacts.holds("s3://b/writers", "s3://b/writers/chat-1/run-1")
    assert not artifacts.holds("s3://b/writers", "s3://b/writers-old/run-1")
    assert not artifacts.holds("s3://b/writers", "weights/default")
    assert not artifacts.holds(str(tmp_path), "s3://b/writers/chat-1/run-1")
    assert artifacts.holds(str(tmp_path), str(tmp_path / "chat-1" / "run-1"))
    assert not artifacts.holds(str(tmp_path), "weights/default")


def test_an_unreachable_store_is_an_artifact_error(
    s3_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A store that does not answer: a clear error naming the version, no stack of boto's."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    location = artifacts.join(s3_url, "chat-1", "run-4")
    with pytest.raises(ArtifactError, match="run-4: could not be fetched") as caught:
        artifacts.local_copy(location, tmp_path / "cache")
    assert not isinstance(caught.value, ArtifactMissing)
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
