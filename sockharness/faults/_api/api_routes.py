"""Toxiproxy's REST API mapped onto a :class:`~sockharness.faults._engine.engine.FaultEngine`, without HTTP.

:class:`ToxiproxyAPI` takes a method, a path and a body and returns an :class:`APIResponse`. Keeping the
routes free of sockets lets them be tested directly and keeps the HTTP layer (``http_api``) a thin shell;
the JSON validation and answer shapes live in ``api_json``.

Responses copy Toxiproxy 2.12.0 as measured on a real server: status codes, compact JSON with Toxiproxy's
field order, error texts, and even the ``text/plain`` content type Toxiproxy's error helper puts on its JSON
error bodies. Deliberate differences, each stricter than Toxiproxy and documented in the README: unknown
fields are rejected with 400, duplicate names inside one ``/populate`` are 400, unknown paths and wrong
methods get JSON error bodies (Toxiproxy sends a plain-text line or nothing), a proxy's JSON has no stray
``"Logger":{}`` and an omitted ``listen`` means ``127.0.0.1:0`` instead of every interface.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from sockharness.faults._api.api_json import (
    PROXY_UPDATE_FIELDS,
    TOXIPROXY_API_VERSION,
    VERSION_CONTENT_TYPE,
    APIResponse,
    ProxyRequest,
    check_attributes,
    check_listen,
    check_toxics_field,
    empty_response,
    error_response,
    json_response,
    object_fields,
    optional_bool,
    optional_str,
    parse_json_body,
    parse_protocol,
    parse_proxy_create,
    proxy_json,
    toxic_body,
    toxic_json,
)
from sockharness.faults._engine.checks import check_name, check_upstream
from sockharness.faults._engine.toxics import ToxicSpec, go_kind
from sockharness.faults._errors import BadRequest, FaultError, bad_request

if TYPE_CHECKING:
    from sockharness.faults._engine.engine import EngineProxy, FaultEngine

logger = logging.getLogger("sockharness.faults.api")

Handler = Callable[["_Call"], APIResponse]


@dataclass(frozen=True)
class _Call:
    params: tuple[str, ...]
    body: bytes
    method: str


class ToxiproxyAPI:
    """Toxiproxy 2.12.0's routes on a fault engine. ``handle`` never raises: every failure is an answer.

    Calls are serialised with one lock so that check-then-act sequences (``/populate`` replacing proxies)
    cannot interleave; each engine call is short, so this costs nothing a test would notice.
    """

    def __init__(
        self, engine: FaultEngine, version: str = TOXIPROXY_API_VERSION, *, metrics: bool = False
    ) -> None:
        self._engine = engine
        self._version = version
        self._lock = threading.Lock()
        self._metrics: Callable[[], bytes] | None = None
        if metrics:  # as toxiproxy-server -proxy-metrics: otherwise /metrics is 404 like there
            from sockharness.faults._api.metrics import metrics_exposition

            self._metrics = lambda: metrics_exposition(engine)
        # route shape -> method -> handler; a shape is the path with {name} segments replaced by "*"
        self._routes: dict[tuple[str, ...], dict[str, Handler]] = {
            ("version",): {"GET": self._version_show},
            ("reset",): {"POST": self._reset},
            ("populate",): {"POST": self._populate},
            ("proxies",): {"GET": self._proxy_index, "POST": self._proxy_create},
            ("proxies", "*"): {
                "GET": self._proxy_show,
                "POST": self._proxy_update,
                "PATCH": self._proxy_update,
                "DELETE": self._proxy_delete,
            },
            ("proxies", "*", "toxics"): {"GET": self._toxic_index, "POST": self._toxic_create},
            ("proxies", "*", "toxics", "*"): {
                "GET": self._toxic_show,
                "POST": self._toxic_update,
                "PATCH": self._toxic_update,
                "DELETE": self._toxic_delete,
            },
            ("proxies", "*", "connections"): {"GET": self._connection_index},
        }

    def handle(self, method: str, path: str, body: bytes = b"") -> APIResponse:
        """Route one request; unknown paths are 404, known paths with another method 405 (with Allow)."""
        segments = self._split_path(path)
        if segments == ["metrics"] and self._metrics is not None:
            return self._metrics_show(method)
        if segments is None:
            return error_response(404, f"page not found: {path.split('?', 1)[0]}")
        shape, params = self._match(segments)
        if shape is None:
            return error_response(404, f"page not found: {path.split('?', 1)[0]}")
        methods = self._routes[shape]
        handler = methods.get(method)
        if handler is None:
            allowed = ", ".join(methods)
            return error_response(
                405, f"method {method} not allowed here; allowed: {allowed}", (("Allow", allowed),)
            )
        try:
            with self._lock:
                return handler(_Call(params, body, method))
        except FaultError as exc:
            return error_response(exc.status, _own_words(exc.message))
        except Exception as exc:  # a bug must answer 500, never kill the serving thread
            logger.exception("unexpected error handling %s %s", method, path)
            return error_response(500, _own_words(f"internal error: {type(exc).__name__}: {exc}"))

    def _metrics_show(self, method: str) -> APIResponse:
        if method != "GET":
            return error_response(405, f"method {method} not allowed here; allowed: GET", (("Allow", "GET"),))
        assert self._metrics is not None
        try:
            body = self._metrics()
        except Exception as exc:
            logger.exception("collecting /metrics failed")
            return error_response(500, _own_words(f"internal error collecting metrics: {exc}"))
        from sockharness.faults._api.metrics import METRICS_CONTENT_TYPE

        return APIResponse(200, body, METRICS_CONTENT_TYPE)

    @staticmethod
    def _split_path(path: str) -> list[str] | None:
        raw = path.split("?", 1)[0].split("#", 1)[0]
        if not raw.startswith("/"):
            return None
        segments = [unquote(part) for part in raw[1:].split("/")]
        if any(not part for part in segments):  # "/proxies/" and "//x" are 404 in Toxiproxy too
            return None
        return segments

    def _match(self, segments: list[str]) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
        for shape in self._routes:
            if len(shape) != len(segments):
                continue
            params: list[str] = []
            for pattern, part in zip(shape, segments, strict=True):
                if pattern == "*":
                    params.append(part)
                elif pattern != part:
                    break
            else:
                return shape, tuple(params)
        return None, ()

    # -- routes -------------------------------------------------------------------------------------

    def _version_show(self, call: _Call) -> APIResponse:
        body = json.dumps({"version": self._version}) + "\n"  # Toxiproxy writes it with a space and newline
        return APIResponse(200, body.encode("utf-8"), VERSION_CONTENT_TYPE)

    def _reset(self, call: _Call) -> APIResponse:
        self._engine.reset()
        return empty_response()

    def _proxy_index(self, call: _Call) -> APIResponse:
        proxies = self._engine.proxies()
        return json_response(200, {name: proxy_json(proxies[name]) for name in sorted(proxies)})

    def _proxy_create(self, call: _Call) -> APIResponse:
        spec = parse_proxy_create(parse_json_body(call.body))
        if spec.enabled:  # Toxiproxy only resolves the address when it binds
            check_listen(spec.listen, creating=True, protocol=spec.protocol)
        proxy = self._engine.create_proxy(
            spec.name, spec.listen, spec.upstream, enabled=spec.enabled, protocol=spec.protocol
        )
        return json_response(201, proxy_json(proxy))

    def _proxy_show(self, call: _Call) -> APIResponse:
        return json_response(200, proxy_json(self._engine.get_proxy(call.params[0])))

    def _proxy_update(self, call: _Call) -> APIResponse:
        name = call.params[0]
        self._engine.get_proxy(name)  # 404 before any body error, as in Toxiproxy
        fields = object_fields(parse_json_body(call.body), PROXY_UPDATE_FIELDS)
        new_name = optional_str(fields, "name")
        if new_name and new_name != name:
            raise bad_request(f'a proxy cannot be renamed (field "name" is "{new_name}", proxy is "{name}")')
        check_toxics_field(fields)
        protocol = parse_protocol(fields)
        current = self._engine.get_proxy(name).protocol
        if protocol and protocol != current:
            raise bad_request(
                f'a proxy\'s protocol cannot be changed (proxy "{name}" is {current}, not {protocol})'
            )
        listen = optional_str(fields, "listen")
        # No pre-check of listen: update_proxy validates and binds it before changing anything.
        proxy = self._engine.update_proxy(
            name,
            listen=listen if listen else None,
            upstream=optional_str(fields, "upstream") or None,
            enabled=optional_bool(fields, "enabled"),
        )
        return json_response(200, proxy_json(proxy))

    def _proxy_delete(self, call: _Call) -> APIResponse:
        self._engine.delete_proxy(call.params[0])
        return empty_response()

    def _populate(self, call: _Call) -> APIResponse:
        """Create or replace several proxies: all entries are validated before anything changes.

        Like Toxiproxy, an existing proxy with the same listen and upstream is kept untouched (toxics
        included); one that differs is deleted and created anew. A bind failure part-way answers that
        error together with the proxies already created.
        """
        try:
            entries = self._parse_populate(parse_json_body(call.body))
        except FaultError as exc:
            return _populate_response(exc.status, [], exc)
        done: list[EngineProxy] = []
        try:
            existing = self._engine.proxies()
            for entry in entries:
                if entry.enabled:
                    check_listen(entry.listen, creating=True, protocol=entry.protocol)
                current = existing.get(entry.name)
                if current is not None:
                    same = current.upstream == entry.upstream and current.protocol == entry.protocol
                    if same and _same_listen(current, entry.listen):
                        done.append(current)
                        continue
                    self._engine.delete_proxy(entry.name)
                done.append(
                    self._engine.create_proxy(
                        entry.name,
                        entry.listen,
                        entry.upstream,
                        enabled=entry.enabled,
                        protocol=entry.protocol,
                    )
                )
        except FaultError as exc:
            return _populate_response(exc.status, done, exc)
        return _populate_response(201, done, None)

    @staticmethod
    def _parse_populate(data: object) -> list[ProxyRequest]:
        if data is None:
            return []
        if not isinstance(data, list):
            raise bad_request(
                f"json: cannot unmarshal {go_kind(data)} into Go value of type []toxiproxy.Proxy"
            )
        entries = [parse_proxy_create(item, index) for index, item in enumerate(data, start=1)]
        for index, entry in enumerate(entries, start=1):  # before anything is created
            try:
                check_name(entry.name)
                check_upstream(entry.upstream)
            except BadRequest as exc:
                raise BadRequest(f"{exc.message} at proxy {index}") from None
        seen: set[str] = set()
        for index, entry in enumerate(entries, start=1):
            if entry.name in seen:
                raise bad_request(f'duplicate proxy name "{entry.name}" at proxy {index}')
            seen.add(entry.name)
        return entries

    def _toxic_index(self, call: _Call) -> APIResponse:
        proxy = self._engine.get_proxy(call.params[0])
        return json_response(200, [toxic_json(toxic) for toxic in proxy.toxics()])

    def _toxic_create(self, call: _Call) -> APIResponse:
        proxy = self._engine.get_proxy(call.params[0])
        data = toxic_body(call.body)
        if isinstance(data.get("name"), str) and data["name"]:
            check_name(str(data["name"]), "toxic")  # a name that could not be sent back is never stored
        if isinstance(data.get("type"), str):
            check_attributes(str(data["type"]), data.get("attributes"))
        spec = proxy.add_toxic(ToxicSpec.from_json(data))
        return json_response(200, toxic_json(spec))  # 200, not 201: Toxiproxy's choice

    def _toxic_show(self, call: _Call) -> APIResponse:
        proxy = self._engine.get_proxy(call.params[0])
        return json_response(200, toxic_json(proxy.get_toxic(call.params[1])))

    def _toxic_update(self, call: _Call) -> APIResponse:
        proxy = self._engine.get_proxy(call.params[0])
        current = proxy.get_toxic(call.params[1])  # 404 before any body error, as in Toxiproxy
        data = toxic_body(call.body)
        for key in ("name", "type", "stream"):
            # Toxiproxy silently ignores these on update; a client that tries to change one is told so.
            if key in data and not _same_field(key, data[key], getattr(current, key)):
                raise bad_request(
                    f'field "{key}" of a toxic cannot be changed '
                    f"({getattr(current, key)!r} -> {data[key]!r}); remove the toxic and add a new one"
                )
        check_attributes(current.type, data.get("attributes"))
        update: dict[str, object] = {
            key: data[key] for key in ("attributes", "toxicity", "target") if key in data
        }
        return json_response(200, toxic_json(proxy.update_toxic(call.params[1], update)))

    def _toxic_delete(self, call: _Call) -> APIResponse:
        self._engine.get_proxy(call.params[0]).remove_toxic(call.params[1])
        return empty_response()

    def _connection_index(self, call: _Call) -> APIResponse:
        """The proxy's connection log (sockharness only): what each accepted connection went through."""
        proxy = self._engine.get_proxy(call.params[0])
        return json_response(200, [record.to_json() for record in proxy.connection_log()])


def _same_listen(proxy: EngineProxy, listen: str) -> bool:
    """Whether ``listen`` names the address ``proxy`` has: compared as Toxiproxy compares them, after
    resolution, so ``localhost:7070`` is the proxy already on ``127.0.0.1:7070`` (kept, toxics and all)."""
    if proxy.listen == listen:
        return True
    here = proxy.listen_endpoint()
    if here is None:
        return False
    from sockharness.faults._engine.engine import endpoint_of_listen

    return endpoint_of_listen(listen) == here


_INTERPRETER_HINTS = {
    "sys.set_int_max_str_digits": "a number in the body has more digits than this API reads (4300 at most)",
}


def _own_words(message: str) -> str:
    """An error text safe to send: no interpreter hints, and nothing that cannot be encoded as UTF-8
    (a lone surrogate from the request is shown escaped instead of breaking the answer)."""
    for hint, replacement in _INTERPRETER_HINTS.items():
        if hint in message:
            prefix = "bad request body: " if message.startswith("bad request body: ") else ""
            message = prefix + replacement
    return message.encode("utf-8", "backslashreplace").decode("utf-8")


def _populate_response(status: int, proxies: list[EngineProxy], error: FaultError | None) -> APIResponse:
    """``/populate`` answers errors as application/json with the proxies made so far (null when none)."""
    payload: dict[str, Any] = {}
    if error is not None:
        payload["error"] = _own_words(error.message)
        payload["status"] = error.status
    payload["proxies"] = [proxy_json(proxy) for proxy in proxies] or None
    return json_response(status, payload)


def _same_field(key: str, sent: object, current: object) -> bool:
    """Whether an update's ``name``/``type``/``stream`` repeats the toxic's own value.

    A stream is compared without letter case (and ``null`` is the default, downstream), as Toxiproxy compares
    it: a client that echoes back the ``"UPSTREAM"`` it created the toxic with is not changing anything.
    """
    if key == "stream":
        if sent is None:
            return current == "downstream"
        return isinstance(sent, str) and sent.lower() == current
    return sent == current
