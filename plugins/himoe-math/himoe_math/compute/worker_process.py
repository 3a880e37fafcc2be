from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import weakref
from multiprocessing import spawn
from multiprocessing.connection import Connection

_LAUNCH = (
    # Ctrl-C reaches the whole process group: the worker leaves it to its parent, which kills it on
    # its way out, so no KeyboardInterrupt traceback from a worker lands on the user's terminal.
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "import json, sys\n"
    "from multiprocessing.connection import Connection\n"
    "conn = Connection(int(sys.argv[1]))\n"
    "sys.path[:] = json.loads(conn.recv_bytes())\n"
    "from himoe_math.compute.worker_main import worker_for\n"
    "worker_for(int(sys.argv[2]), conn, json.loads(sys.argv[3]), int(sys.argv[4]))\n"
)
_LIVE: weakref.WeakSet[WorkerProcess] = weakref.WeakSet()


class WorkerProcess:
    """A sympy worker process: a fresh interpreter that serves `child_end`, one end of a socket
    pair, while this process keeps `parent_end` (see worker_main).

    Started with subprocess rather than multiprocessing's spawn or forkserver methods, which
    import the application's main module again in the worker: a script without an
    ``if __name__ == "__main__":`` guard would then run itself in there and fail. Same surface
    as the multiprocessing.Process it replaces (start, pid, exitcode, is_alive, kill, join);
    killed when this process exits, as a daemon process would be. POSIX only (it inherits a
    descriptor), and not for frozen apps (their executable is the app itself).

    Isolated mode (-I) keeps the current folder's files from shadowing the modules the worker
    imports before it takes this process's sys.path, which comes first over the socket (as an
    argument, a long sys.path would pass the kernel's limit on one argument).
    """

    def __init__(
        self, child_end: Connection, parent_end: Connection, memory_limit_mb: int | None, max_result_chars: int
    ) -> None:
        self._child_end, self._parent_end = child_end, parent_end
        self._args = [str(child_end.fileno()), str(os.getpid()), json.dumps(memory_limit_mb), str(max_result_chars)]
        self._popen: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the worker on `child_end` and send it this process's sys.path on `parent_end`."""
        # multiprocessing's executable: the interpreter, or what multiprocessing.set_executable chose
        self._popen = subprocess.Popen(
            [spawn.get_executable(), "-I", "-c", _LAUNCH, *self._args],
            pass_fds=(self._child_end.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        _LIVE.add(self)
        entries = (os.fspath(entry) if isinstance(entry, os.PathLike) else entry for entry in sys.path)
        self._parent_end.send_bytes(json.dumps([entry for entry in entries if isinstance(entry, str)]).encode())

    @property
    def pid(self) -> int | None:
        return None if self._popen is None else self._popen.pid

    @property
    def exitcode(self) -> int | None:
        """The exit code once the process ended (−N: killed by signal N), else None."""
        return None if self._popen is None else self._popen.poll()

    def is_alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def kill(self) -> None:
        popen = self._popen
        if popen is not None and self.is_alive():
            popen.kill()

    def join(self, timeout: float | None = None) -> None:
        if self._popen is not None:
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass


@atexit.register
def _kill_live_workers() -> None:
    for worker in list(_LIVE):
        worker.kill()
        worker.join(timeout=1)


def _forget_inherited_workers() -> None:
    # A forked child shares none of its parent's workers: they are not its children to kill.
    _LIVE.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_workers)
