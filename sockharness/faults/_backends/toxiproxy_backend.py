"""The ``toxiproxy`` fault backend: a real Toxiproxy server driven through toxiproxy-python.

toxiproxy-python keeps the server's host and port in class attributes of ``APIConsumer`` (process-wide
state). Every call here sets them for the duration of the call under a lock and puts the old values
back, so several backends (or a test that points the library elsewhere) never see each other's URL.

A Toxiproxy server is typically shared by every pytest-xdist worker, so this backend only ever touches
what it created: proxy names carry a per-backend unique suffix, ``reset()`` clears this backend's proxies
instead of calling the server-wide ``POST /reset``, and ``close()`` deletes exactly its own proxies.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer, validate_response
from toxiproxy.exceptions import InvalidToxic as ClientInvalidToxic
from toxiproxy.exceptions import NotFound as ClientNotFound
from toxiproxy.exceptions import ProxyExists as ClientProxyExists
from toxiproxy.proxy import Proxy as ClientProxy

from sockharness.faults._engine.connection_log import ConnectionRecord
from sockharness.faults._engine.targeting import Target
from sockharness.faults._engine.toxic_types import TOXIPROXY_HAS_NO_UDP, UnsupportedToxic, proxy_protocol
from sockharness.faults._engine.toxics import ToxicSpec, toxic_update
from sockharness.faults._errors import (
    BadRequest,
    FaultError,
    InvalidToxic,
    ListenError,
    ProxyExists,
    ProxyNotFound,
    ToxicExists,
    ToxicNotFound,
)
from sockharness.faults._interface import upstream_text
from sockharness.peers._addresses import format_address, parse_host_port

TOXIPROXY_URL_ENV = "TOXIPROXY_URL"
_PROBE_TIMEOUT = 2.0
_REQUEST_TIMEOUT = 10.0
_consumer_lock = threading.RLock()
_T = TypeVar("_T")


def parse_toxiproxy_url(url: str) -> tuple[str, int]:
    """``http://127.0.0.1:8474`` -> ``("127.0.0.1", 8474)``; ValueError says what is wrong with ``url``."""
    parts = urlsplit(url.strip())
    if parts.scheme != "http":
        raise ValueError(f"Toxiproxy URL {url!r} must start with http://")
    if not parts.hostname:
        raise ValueError(f"Toxiproxy URL {url!r} has no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"Toxiproxy URL {url!r} has an invalid port") from None
    if parts.path not in ("", "/"):
        raise ValueError(f"Toxiproxy URL {url!r} must not have a path (Toxiproxy serves at the root)")
    return parts.hostname, port if port is not None else 8474


def toxiproxy_unavailable_reason(url: str | None) -> str | None:
    """None when a Toxiproxy server answers ``GET /version`` at ``url``; otherwise one sentence why not."""
    if not url:
        return (
            f"{TOXIPROXY_URL_ENV} is not set; start a Toxiproxy 2.12 server (source .ci/toxiproxy.sh; "
            f"toxiproxy_start) or pass --sockharness-toxiproxy-url"
        )
    try:
        host, port = parse_toxiproxy_url(url)
    except ValueError as exc:
        return str(exc)
    base = f"http://{format_address((host, port))}"
    # No proxy handler: a loopback server must never be reached through an HTTP proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{base}/version", timeout=_PROBE_TIMEOUT) as response:
            raw = response.read(4096)
    except urllib.error.HTTPError as exc:
        return f"{url} answered GET /version with HTTP {exc.code}: not a Toxiproxy server"
    except (OSError, ValueError) as exc:
        return f"Toxiproxy at {url} is not reachable: {exc}"
    try:
        payload = json.loads(raw.decode("utf-8"))
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or "version" not in payload:
        return f"{url} answered GET /version without a JSON version: not a Toxiproxy server"
    return None


def _fault_error(status: int, body: bytes) -> FaultError:
    """Rebuild the engine's error type from Toxiproxy's ``{"error": ..., "status": ...}`` answer."""
    try:
        message = str(json.loads(body.decode("utf-8"))["error"])
    except (ValueError, KeyError, TypeError):
        message = body.decode("utf-8", "replace").strip() or f"HTTP {status}"
    by_message: dict[str, type[FaultError]] = {
        "proxy already exists": ProxyExists,
        "proxy not found": ProxyNotFound,
        "toxic already exists": ToxicExists,
        "toxic not found": ToxicNotFound,
        "invalid toxic type": InvalidToxic,
    }
    error_type = by_message.get(message)
    if error_type is not None:
        return error_type(message)
    if status == 400:
        return BadRequest(message)
    error = ListenError(message) if status == 500 else FaultError(message)
    error.status = status
    return error


class ToxiproxyProxy:
    """One proxy on a Toxiproxy server (the ``FaultProxy`` protocol)."""

    def __init__(self, backend: ToxiproxyBackend, client_proxy: ClientProxy) -> None:
        self._backend = backend
        self._client = client_proxy
        self.name: str = client_proxy.name
        self.address: tuple[str, int] = parse_host_port(client_proxy.listen)
        self.upstream: tuple[str, int] = parse_host_port(client_proxy.upstream)
        self.enabled: bool = bool(client_proxy.enabled)
        self._closed = False

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    def add_toxic(
        self,
        type: str,
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        target: Target | Mapping[str, object] | None = None,
        **attributes: int | float | str,
    ) -> str:
        """Validated here first (the registry's words, units converted), then sent; an embedded-only toxic,
        attribute or target is refused at once rather than silently dropped by the server."""
        spec = ToxicSpec.build(type, name=name, stream=stream, toxicity=toxicity, target=target, **attributes)
        spec.check_backend("toxiproxy")
        spec.toxic_type.check_protocol("tcp")
        # (an embedded-only attribute given at its default is left out: the server has no such field)
        given = {key: spec.attributes[key] for key in attributes if key in spec.attributes}
        self._backend._call(
            lambda: self._client.add_toxic(
                type=spec.type, name=spec.name, stream=stream, toxicity=spec.toxicity, attributes=given
            )
        )
        return spec.name

    def update_toxic(
        self,
        name: str,
        *,
        target: Target | Mapping[str, object] | None = None,
        **attributes: int | float | str,
    ) -> None:
        """PATCH the toxic (toxiproxy-python has no update call; this uses its URL and error handling).

        The toxic is read first: its type says which attributes exist, so a typo raises before the PATCH;
        so does an embedded-only attribute or a target, which the server would silently ignore."""
        path = f"/proxies/{self.name}/toxics/{name}"
        current = ToxicSpec.from_json(self._backend._request("GET", path, None, expect=200).json())
        body = toxic_update(current, attributes, target)
        current.updated(body).check_backend("toxiproxy")
        body.pop("target", None)  # only an every-connection target passes the check: the server has none
        self._backend._request("PATCH", path, body, expect=200)

    def remove_toxic(self, name: str) -> None:
        self._backend._call(lambda: self._client.destroy_toxic(name))

    def toxics(self) -> list[ToxicSpec]:
        toxics = self._backend._call(self._client.toxics)
        # Read as the HTTP API reads JSON (names it does not know are skipped, as Go's decoder does).
        return [
            ToxicSpec.from_json(
                {
                    "name": toxic.name,
                    "type": toxic.type,
                    "stream": toxic.stream,
                    "toxicity": float(toxic.toxicity),
                    "attributes": dict(toxic.attributes),
                }
            )
            for toxic in toxics.values()
        ]

    def connections(self) -> list[ConnectionRecord]:
        """A real Toxiproxy server keeps no connection log: refused by name, never an empty list."""
        raise UnsupportedToxic(
            "the connection log (proxy.connections()) is embedded-only: a real Toxiproxy server keeps none; "
            "use the embedded backend (--sockharness-backend embedded)"
        )

    def disable(self) -> None:
        self._set_enabled(False)

    def enable(self) -> None:
        self._set_enabled(True)

    def _set_enabled(self, enabled: bool) -> None:
        # toxiproxy-python's enable()/disable() ignore a 500 (e.g. the port was taken while disabled), so
        # send its request ourselves and check the answer.
        self._backend._request("POST", f"/proxies/{self.name}", {"enabled": enabled}, expect=200)
        self._client.enabled = enabled
        self.enabled = enabled

    @contextmanager
    def down(self) -> Iterator[None]:
        self.disable()
        try:
            yield
        finally:
            self.enable()

    def reset(self) -> None:
        """Remove every toxic and enable: this proxy only, never the shared server's other proxies."""
        for toxic in self.toxics():
            with suppress(ToxicNotFound):
                self.remove_toxic(toxic.name)
        if not self.enabled:
            self.enable()

    def close(self) -> None:
        """Delete the proxy; idempotent, and a proxy already gone is not an error.

        If the server cannot be reached the proxy stays listed in its backend, so a later close retries.
        """
        if self._closed:
            return
        with suppress(ProxyNotFound):
            self._backend._call(self._client.destroy)
        self._closed = True
        self._backend._forget(self)

    def __repr__(self) -> str:
        return (
            f"ToxiproxyProxy({self.name!r}, listen={format_address(self.address)}, upstream={self.upstream})"
        )


class ToxiproxyBackend:
    """Creates proxies on the Toxiproxy server at ``url`` (the ``FaultBackend`` protocol)."""

    name = "toxiproxy"

    def __init__(self, url: str) -> None:
        self.url = url
        self._host, self._port = parse_toxiproxy_url(url)
        self._token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._proxies: list[ToxiproxyProxy] = []
        self._lock = threading.Lock()
        # Our own requests use a session that ignores HTTP_PROXY & co: a loopback server must be reached
        # directly. (toxiproxy-python's calls use plain requests.get/post and follow the environment.)
        self._session = requests.Session()
        self._session.trust_env = False

    def _endpoint(self, path: str) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}{path}"

    @contextmanager
    def _consumer(self) -> Iterator[None]:
        """Point toxiproxy-python at this server for one call and restore whatever it pointed at before."""
        with _consumer_lock:
            saved = (APIConsumer.host, APIConsumer.port)
            APIConsumer.host = f"[{self._host}]" if ":" in self._host else self._host
            APIConsumer.port = self._port
            try:
                yield
            finally:
                APIConsumer.host, APIConsumer.port = saved

    def _call(self, action: Callable[[], _T]) -> _T:
        """Run a toxiproxy-python call against this server, turning its errors into FaultError types."""
        with self._consumer():
            try:
                return action()
            except (ClientProxyExists, ClientNotFound, ClientInvalidToxic) as exc:
                raise self._translate(exc) from None
            except requests.RequestException as exc:
                raise FaultError(f"Toxiproxy at {self.url} did not answer: {exc}") from exc

    def _request(self, method: str, path: str, body: object, *, expect: int) -> requests.Response:
        """One API request with a timeout; any answer but ``expect`` raises the matching FaultError."""

        def send() -> requests.Response:
            raw = self._session.request(method, self._endpoint(path), json=body, timeout=_REQUEST_TIMEOUT)
            response: requests.Response = validate_response(raw)
            if response.status_code != expect:
                raise _fault_error(response.status_code, response.content)
            return response

        return self._call(send)

    @staticmethod
    def _translate(exc: Exception) -> FaultError:
        content: Any = exc.args[0] if exc.args else b""
        body = content if isinstance(content, bytes) else str(content).encode("utf-8")
        status = {ClientProxyExists: 409, ClientNotFound: 404, ClientInvalidToxic: 400}.get(type(exc), 500)
        return _fault_error(status, body)

    def create_proxy(
        self, upstream: object, *, name: str | None = None, listen: str = "127.0.0.1:0", protocol: str = "tcp"
    ) -> ToxiproxyProxy:
        """Create a proxy named ``<name or 'sockharness'>-<pid>-<random>``: unique on a shared server."""
        if proxy_protocol(protocol) == "udp":
            raise UnsupportedToxic(TOXIPROXY_HAS_NO_UDP)
        unique = f"{name or 'sockharness'}-{self._token}-{uuid.uuid4().hex[:6]}"
        upstream_address = upstream_text(upstream)

        # Not Toxiproxy().create(): it lists every proxy on the (shared) server first, and it turns a 500
        # (listen address in use) into a KeyError that loses the server's message.
        body = {"name": unique, "listen": listen, "upstream": upstream_address, "enabled": True}
        response = self._request("POST", "/proxies", body, expect=201)
        client_proxy = ClientProxy(**response.json())
        proxy = ToxiproxyProxy(self, client_proxy)
        with self._lock:
            self._proxies.append(proxy)
        return proxy

    def _forget(self, proxy: ToxiproxyProxy) -> None:
        with self._lock:
            if proxy in self._proxies:
                self._proxies.remove(proxy)

    def proxies(self) -> list[ToxiproxyProxy]:
        """The proxies this backend created and has not closed."""
        with self._lock:
            return list(self._proxies)

    def version(self) -> str:
        """The server's ``GET /version`` answer (e.g. ``2.12.0``)."""
        raw = self._call(Toxiproxy().version)
        if raw is None:
            raise FaultError(f"Toxiproxy at {self.url} is not running")
        return str(json.loads(raw)["version"])

    def reset(self) -> None:
        """Remove the toxics of, and enable, this backend's proxies; other workers' proxies are untouched."""
        for proxy in self.proxies():
            proxy.reset()

    def close(self) -> None:
        """Delete every proxy this backend created; tries all, then raises the first failure."""
        errors: list[FaultError] = []
        for proxy in self.proxies():
            try:
                proxy.close()
            except FaultError as exc:
                errors.append(exc)
        self._session.close()
        if errors:
            raise errors[0]

    def __enter__(self) -> ToxiproxyBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ToxiproxyBackend({self.url!r})"


__all__ = [
    "TOXIPROXY_URL_ENV",
    "ToxiproxyBackend",
    "ToxiproxyProxy",
    "parse_toxiproxy_url",
    "toxiproxy_unavailable_reason",
]
