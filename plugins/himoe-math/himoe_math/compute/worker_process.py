from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import weakref

_LAUNCH = (
    # Ctrl-C reaches the whole process group: the worker leaves it to its parent, which kills it on
    # its way out, so no KeyboardInterrupt traceback from a worker lands on the user's terminal.
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "import json, sys\n"
    "sys.path[:] = json.loads(sys.argv[2])\n"
    "from himoe_math.compute.worker_main import worker_on_fd\n"
    "worker_on_fd(int(sys.argv[1]), json.loads(sys.argv[3]), int(sys.argv[4]))\n"
)
_LIVE: weakref.WeakSet[WorkerProcess] = weakref.WeakSet()


class WorkerProcess:
    """A sympy worker process: a fresh interpreter that serves the socket `fd` (see worker_main).

    Started with subprocess rather than multiprocessing's spawn or forkserver methods, which
    import the application's main module again in the worker: a script without an
    ``if __name__ == "__main__":`` guard would then run itself in there and fail. Same surface
    as the multiprocessing.Process it replaces (start, pid, is_alive, kill, join); killed when
    this process exits, as a daemon process would be. POSIX only (it inherits a descriptor).
    Isolated mode (-I) keeps the current folder's files from shadowing the modules it imports
    before it takes this process's sys.path.
    """

    def __init__(self, fd: int, memory_limit_mb: int | None, max_result_chars: int) -> None:
        path = [os.fspath(entry) for entry in sys.path if isinstance(entry, (str, os.PathLike))]  # apps add Paths
        self._args = [str(fd), json.dumps(path), json.dumps(memory_limit_mb), str(max_result_chars)]
        self._fd = fd
        self._popen: subprocess.Popen | None = None

    def start(self) -> None:
        self._popen = subprocess.Popen([sys.executable, "-I", "-c", _LAUNCH, *self._args], pass_fds=(self._fd,),
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        _LIVE.add(self)

    @property
    def pid(self) -> int | None:
        return None if self._popen is None else self._popen.pid

    def is_alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def kill(self) -> None:
        if self.is_alive():
            self._popen.kill()

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
