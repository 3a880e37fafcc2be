from __future__ import annotations

import argparse
import re
from typing import Any, NoReturn

# argparse reads `-1e-3` or `-.5e2` as an option (its own pattern knows only `-1` and `-1.5`);
# no himoe option looks like a number, so every number is a value.
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


class CommandParser(argparse.ArgumentParser):
    """argparse in himoe's error style: a usage mistake is one line on stderr that says what was
    wrong and where the help is, and the exit status is 2 — not argparse's usage block."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see '{self.prog} --help')\n")


# Every character str.splitlines() breaks at: a terminal, a log collector or a reader of stderr
# may take \x85, \u2028 or \x1c-\x1e (which argv can hold) for the end of a line as well.
_LINE_BREAKS = str.maketrans({c: repr(c)[1:-1] for c in "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"})


def one_line(message: str) -> str:
    """`message` on one line: a line break (from a router name, a path, a plugin's message, a
    stray argument) is shown escaped, so that an error stays the one line of stderr it is meant
    to be."""
    return message.translate(_LINE_BREAKS)
