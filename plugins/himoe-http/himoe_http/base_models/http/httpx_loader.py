"""Lazy, thread-safe loading of httpx and of one shared TLS context: importing the plugin must
not import httpx, and a new connection pool must not reload the CA bundle every time."""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

_lock = threading.Lock()
_httpx: ModuleType | None = None
_ssl_context: Any = None


def load_httpx() -> ModuleType:
    """The httpx module, imported on first use (once, whatever the number of threads)."""
    global _httpx
    module = _httpx
    if module is None:
        with _lock:
            module = _httpx
            if module is None:
                import httpx

                module = _httpx = httpx
    return module


def load_ssl_context() -> Any:
    """httpx's default TLS context (CA bundle, SSL_CERT_FILE/SSL_CERT_DIR honoured), built once
    per process and shared by every pool; building it costs tens of milliseconds."""
    global _ssl_context
    context = _ssl_context
    if context is None:
        httpx = load_httpx()
        with _lock:
            context = _ssl_context
            if context is None:
                context = _ssl_context = httpx.create_ssl_context()
    return context
