"""Hosts sockharness's embedded fault engine in its own process, driven over stdin/stdout.

The embedded proxy normally lives inside the user's test process; here that process is this one, so
the load generator never shares its GIL. Protocol: one JSON object per line each way. The first line
out is ``{"ready": true}`` or ``{"error": "..."}`` (engine not importable). Requests:
``{"op": "create", "upstream": [host, port]}`` -> ``{"id": ..., "address": [host, port]}`` (with
``"protocol": "udp"``, a UDP proxy),
``{"op": "add_toxic", "id": ..., "type": ..., "stream": ..., "attributes": {...}}`` -> ``{"name": ...}``,
``{"op": "remove_toxic", "id": ..., "name": ...}``, ``{"op": "delete", "id": ...}`` -> ``{}``.
A failing request answers ``{"error": "..."}``. EOF on stdin closes the backend and exits.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from typing import Any

from bench.peerproc import raise_fd_limit

DEFAULT_BACKEND = "sockharness.faults._backends.embedded:EmbeddedBackend"
BACKEND_VARIABLE = "BENCH_EMBEDDED_BACKEND"  # "module:callable", to benchmark another engine build


def answer(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main() -> int:
    raise_fd_limit()
    spec = os.environ.get(BACKEND_VARIABLE, DEFAULT_BACKEND)
    try:
        module_name, _, attribute = spec.partition(":")
        backend = getattr(importlib.import_module(module_name), attribute)()
    except Exception as exc:  # the engine may be absent or broken: the benchmark reports why
        answer({"error": f"cannot create {spec} (${BACKEND_VARIABLE}): {exc!r}"})
        return 1
    proxies: dict[str, Any] = {}
    answer({"ready": True})
    try:
        for line in sys.stdin:
            request = json.loads(line)
            try:
                answer(dispatch(backend, proxies, request))
            except Exception as exc:
                answer({"error": f"{request.get('op')}: {exc!r}", "traceback": traceback.format_exc()})
    finally:
        backend.close()
    return 0


def dispatch(backend: Any, proxies: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    op = request["op"]
    if op == "create":
        host, port = request["upstream"]
        # (protocol only for UDP: an older engine build, benchmarked for comparison, has no such argument)
        extra = {"protocol": "udp"} if request.get("protocol") == "udp" else {}
        proxy = backend.create_proxy((host, int(port)), listen="127.0.0.1:0", **extra)
        proxies[proxy.name] = proxy
        return {"id": proxy.name, "address": list(proxy.address[:2])}
    proxy = proxies[request["id"]]
    if op == "add_toxic":
        name = proxy.add_toxic(request["type"], stream=request["stream"], **request["attributes"])
        return {"name": name}
    if op == "remove_toxic":
        proxy.remove_toxic(request["name"])
        return {}
    if op == "delete":
        proxies.pop(request["id"]).close()
        return {}
    raise ValueError(f"unknown op {op!r}")


if __name__ == "__main__":
    raise SystemExit(main())
