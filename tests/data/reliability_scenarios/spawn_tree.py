"""An external target for tests/reliability/test_reliability_safety.py: a server that starts a grandchild.

Usage: ``spawn_tree.py HOST PORT [--ignore-term] [ARG...]``. Before it listens it writes, as JSON, to
the file named by ``$SOCKHARNESS_RELIABILITY_RECORD``: the argv it received, its pid and process group,
and the pid of a grandchild it started that ignores SIGTERM (so only a SIGKILL to the whole group ends
it). With ``--ignore-term`` it ignores SIGTERM itself. Then it accepts and closes connections forever.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

GRANDCHILD = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); signal.pause()"


def main(argv: list[str]) -> None:
    host, port, *rest = argv
    if "--ignore-term" in rest:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    grandchild = subprocess.Popen([sys.executable, "-c", GRANDCHILD])
    record = {"argv": argv, "pid": os.getpid(), "pgid": os.getpgid(0), "grandchild": grandchild.pid}
    path = os.environ["SOCKHARNESS_RELIABILITY_RECORD"]
    with open(f"{path}.tmp", "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    os.replace(f"{path}.tmp", path)  # whole or absent: the test reads it once the port accepts
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_server((host, int(port)), family=family) as listener:
        while True:
            connection, _ = listener.accept()
            connection.close()


if __name__ == "__main__":
    main(sys.argv[1:])
