"""A real S3-protocol server for the tests: moto's, in a thread of the test process.

It listens on 127.0.0.1 on a free port and speaks S3 over HTTP, so boto3 in the tests and in the
processes they start (`python -m engine finetune`) talks to it as to any S3-compatible store,
through the standard AWS environment variables (`environment`: dummy keys, never real ones).
"""

from __future__ import annotations

from moto.server import ThreadedMotoServer

REGION = "us-east-1"


class S3Server:
    """One server for the whole test session; each test makes a bucket of its own."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint = ""

    def start(self) -> None:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()

    def environment(self) -> dict[str, str]:
        """What boto3 reads to reach this server (and nothing else: no metadata service)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        }
