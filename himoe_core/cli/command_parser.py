from __future__ import annotations

import argparse
from typing import NoReturn


class CommandParser(argparse.ArgumentParser):
    """argparse in himoe's error style: a usage mistake is one line on stderr that says what was
    wrong and where the help is, and the exit status is 2 — not argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
