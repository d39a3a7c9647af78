"""The web view (``edgecam run --headless --serve``): live video and predictions in a browser.

An optional extra, ``pip install 'edgecam[serve]'`` (aiohttp). Importing this package does not
import aiohttp: :func:`start_web_view` does, and a missing extra is one clear error.

- :mod:`edgecam.serve.options`: the options and their checks (no aiohttp);
- :mod:`edgecam.serve.hub`: the session listener and the JPEG encoder thread (no aiohttp);
- :mod:`edgecam.serve.server`: the aiohttp app on its own loop thread;
- :mod:`edgecam.serve.page`: the page.
"""

from __future__ import annotations

from edgecam.errors import ConfigError
from edgecam.serve.options import ServeOptions, parse_bind, serve_options

__all__ = ["ServeOptions", "parse_bind", "require_aiohttp", "serve_options", "start_web_view"]


def require_aiohttp() -> None:
    """Raise a :class:`ConfigError` with the pip command when the serve extra is missing."""
    try:
        import aiohttp  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"--serve needs aiohttp, which is not installed ({exc})",
            "pip install 'edgecam[serve]'",
        ) from exc


def start_web_view(session, options: ServeOptions):
    """Serve ``session`` as ``options`` say; returns the running :class:`WebView` (``stop()``).

    Start it before the session's source, so the first frames are seen too.

    Raises:
        ConfigError: aiohttp is not installed.
        ServeError: the address cannot be listened on.
    """
    require_aiohttp()
    from edgecam.serve.server import WebView

    return WebView(session, options).start()
