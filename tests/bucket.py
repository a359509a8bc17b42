"""An S3 server on loopback (moto's server mode) with one bucket: fixtures for the bucket
store's tests and benchmark. Registered in tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

# Fake credentials, distinctive enough to grep every file and output for.
ACCESS_KEY = "AKIAKPTESTONLY7Q2Z9X"
SECRET_KEY = "kp-secret-3f9c1e7b5d2a4c6e8f0a1b3c5d7e9f1a"


@dataclass(frozen=True)
class Bucket:
    """A bucket on a running S3 server, and how a user points kling-pipe at it."""

    endpoint: str
    name: str

    @property
    def url(self) -> str:
        """The store URL: `s3://bucket/prefix`."""
        return f"s3://{self.name}/campaigns"

    def env(self) -> dict[str, str]:
        """The provider's usual environment (what a CI runner sets from its secrets)."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def client(self):  # type: ignore[no-untyped-def]
        """A boto3 client on the server, to look at the bucket behind kling-pipe's back."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )

    def names(self) -> list[str]:
        """Every key in the bucket."""
        listed = self.client().list_objects_v2(Bucket=self.name)
        return sorted(o["Key"] for o in listed.get("Contents", []))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (one per session: it starts in about a second)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(
    s3_server: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Bucket:
    """A fresh bucket, with the environment pointing this process's fsspec at it."""
    name = "kp-" + format(abs(hash(request.node.nodeid)) % 10**12, "012d")
    made = Bucket(s3_server, name)
    for variable, value in made.env().items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    made.client().create_bucket(Bucket=name)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # instances are cached by their arguments
    return made
