from __future__ import annotations

import logging
import sys


class StderrLogHandler(logging.Handler):
    """How the `himoe` command shows the library's log records: one line each on stderr,
    ``himoe: warning: …``. It writes to the `sys.stderr` of the moment, so that a command run
    in-process (tests, an app calling `main`) is captured where its output is."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = " ".join(record.getMessage().splitlines())  # one line, whatever the message
            print(f"himoe: {record.levelname.lower()}: {line}", file=sys.stderr, flush=True)
        except Exception:
            self.handleError(record)

    @classmethod
    def install(cls) -> None:
        """Attach one to the ``himoe`` logger, once per process."""
        logger = logging.getLogger("himoe")
        if not any(isinstance(handler, cls) for handler in logger.handlers):
            logger.addHandler(cls())

    @classmethod
    def uninstall(cls) -> None:
        """Detach it, for a command that configures `logging` itself (`himoe serve`), whose
        handlers would otherwise show each warning a second time."""
        logger = logging.getLogger("himoe")
        for handler in [h for h in logger.handlers if isinstance(h, cls)]:
            logger.removeHandler(handler)
