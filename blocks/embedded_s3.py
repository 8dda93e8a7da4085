"""The embedded S3 server: moto's server in-process on a free 127.0.0.1 port (dev, demo, tests)."""

from __future__ import annotations

import logging
from types import TracebackType

from moto.moto_server.threaded_moto_server import ThreadedMotoServer

logger = logging.getLogger(__name__)


class EmbeddedS3Server:
    """A real HTTP S3 endpoint backed by moto's in-memory store; lives as long as this process.

    moto accepts any credentials and does not check presigned signatures or expiry: the
    signature-checking store of the tests covers that.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # moto binds 0.0.0.0 unless told otherwise; port 0 lets the OS pick a free port.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self._endpoint: str | None = None

    @property
    def endpoint_url(self) -> str:
        if self._endpoint is None:
            raise RuntimeError("the embedded S3 server is not running")
        return self._endpoint

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self._endpoint = f"http://{host}:{port}"
        logger.info("embedded S3 server listening on %s", self._endpoint)
        return self._endpoint

    def stop(self) -> None:
        if self._endpoint is not None:
            self._server.stop()
            self._endpoint = None

    def __enter__(self) -> EmbeddedS3Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
