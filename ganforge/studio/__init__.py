"""The studio: a local web app to upload data, train GANs in worker processes, watch them and collect results.

``serve()`` (and ``ganforge studio``) starts it; ``create_app()`` builds the FastAPI app for tests and
embedding. Needs the ``studio`` extra: ``pip install 'ganforge[studio]'``.
"""
from __future__ import annotations

import secrets
from pathlib import Path

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def needs_token(host: str) -> bool:
    return host not in LOOPBACK


def serve(host: str = "127.0.0.1", port: int = 8765, workspace: str | Path = "studio-workspace",
          token: str | None = None, workers: int = 1, max_upload_mb: float = 200.0) -> None:
    """Run the studio until Ctrl-C. Binding to anything but loopback requires a token (one is made
    and printed when none is given); every API call must then carry it."""
    import uvicorn

    from ..errors import ConfigError
    from .app import Settings, create_app
    from .datasets import Limits

    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    if needs_token(host) and not token:
        token = secrets.token_urlsafe(24)
    limits = Limits(upload_bytes=int(max_upload_mb * 2**20))
    app = create_app(Settings(workspace=Path(workspace), token=token, workers=workers, limits=limits))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    print(f"ganforge studio: {url}  (workspace {Path(workspace).resolve()})", flush=True)
    if token:
        print(f"token: {token}  (send it as 'Authorization: Bearer <token>' or ?token=)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)


__all__ = ["serve", "needs_token"]
