"""Toxiproxy's REST API mapped onto a :class:`~sockharness.faults.engine.FaultEngine`, without HTTP.

:class:`ToxiproxyAPI` takes a method, a path and a body and returns an :class:`APIResponse`. Keeping the
routes free of sockets lets them be tested directly and keeps the HTTP layer (``http_api``) a thin shell.

Responses copy Toxiproxy 2.12.0 as measured on a real server: status codes, compact JSON with Toxiproxy's
field order, error texts, and even the ``text/plain`` content type Toxiproxy's error helper puts on its JSON
error bodies. Deliberate differences, each stricter than Toxiproxy and documented in the README: unknown
fields and wrongly typed values are rejected with 400 (Toxiproxy ignores the first and words the second in
Go terms), duplicate names inside one ``/populate`` are 400, unknown paths and wrong methods get JSON error
bodies (Toxiproxy sends a plain-text line or nothing), a proxy's JSON has no stray ``"Logger":{}`` and an
omitted ``listen`` means ``127.0.0.1:0`` instead of every interface.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from sockharness.faults.errors import FaultError, ListenError, MissingField, bad_request
from sockharness.faults.interface import parse_address
from sockharness.faults.toxics import TOXIC_TYPES, ToxicSpec

if TYPE_CHECKING:
    from sockharness.faults.engine import EngineProxy, FaultEngine

logger = logging.getLogger("sockharness.faults.api")

#: The Toxiproxy release whose API this one reproduces; ``GET /version`` reports it so version-gated
#: clients behave as against that release.
TOXIPROXY_API_VERSION = "2.12.0"

#: Where a proxy listens when the request does not say: loopback only, unlike Toxiproxy's every interface.
DEFAULT_LISTEN = "127.0.0.1:0"

JSON_CONTENT_TYPE = "application/json"
# Toxiproxy answers errors through Go's http.Error, which labels the JSON body as plain text.
ERROR_CONTENT_TYPE = "text/plain; charset=utf-8"
VERSION_CONTENT_TYPE = "application/json;charset=utf-8"

_PROXY_CREATE_FIELDS = ("name", "listen", "upstream", "enabled", "toxics")
_PROXY_UPDATE_FIELDS = ("name", "listen", "upstream", "enabled", "toxics")


@dataclass(frozen=True)
class APIResponse:
    """One HTTP answer: status, body bytes, content type (None for bodiless answers) and extra headers."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


def json_response(status: int, payload: object) -> APIResponse:
    """Compact JSON like Go's encoding/json (no spaces, no trailing newline)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return APIResponse(status, body, JSON_CONTENT_TYPE)


def error_response(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> APIResponse:
    """Toxiproxy's error shape: ``{"error": ..., "status": ...}`` plus a newline, labelled text/plain."""
    body = json.dumps({"error": message, "status": status}, separators=(",", ":"), ensure_ascii=False)
    nosniff = (("X-Content-Type-Options", "nosniff"),)
    return APIResponse(status, (body + "\n").encode("utf-8"), ERROR_CONTENT_TYPE, nosniff + headers)


def empty_response(status: int = 204) -> APIResponse:
    return APIResponse(status)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_body(body: bytes) -> object:
    """Decode a request body, raising Toxiproxy-worded ``bad request body: ...`` errors.

    An empty body is ``EOF`` exactly as Go's decoder says; NaN/Infinity, trailing data, invalid UTF-8 and
    nesting deep enough to exhaust the parser are all refused instead of crashing the handler.
    """
    if not body.strip():
        raise bad_request("EOF")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise bad_request(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise bad_request("JSON nested too deeply") from None
    except ValueError as exc:  # invalid UTF-8, NaN, over-long integers
        raise bad_request(str(exc)) from None


def _go_kind(value: object) -> str:
    """The JSON kind Go's decoder names in its type errors, so our texts read like Toxiproxy's."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"


def _type_error(key: str, value: object, go_type: str) -> FaultError:
    return bad_request(
        f"json: cannot unmarshal {_go_kind(value)} into Go struct field Proxy.{key} of type {go_type}"
    )


def _object_fields(data: object, allowed: tuple[str, ...], where: str = "") -> dict[str, object]:
    """Check that ``data`` is a JSON object holding only ``allowed`` keys (``null`` counts as ``{}``)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise bad_request(
            f"json: cannot unmarshal {_go_kind(data)} into Go value of type toxiproxy.Proxy{where}"
        )
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        names = ", ".join(f'"{key}"' for key in unknown)
        raise bad_request(f"unknown field {names}{where}; known fields: {', '.join(allowed)}")
    return dict(data)


def _optional_str(fields: Mapping[str, object], key: str, where: str = "") -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _type_error(key, value, f"string{where}")
    return value


def _optional_bool(fields: Mapping[str, object], key: str, where: str = "") -> bool | None:
    value = fields.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _type_error(key, value, f"bool{where}")
    return value


def _check_toxics_field(fields: Mapping[str, object], where: str = "") -> None:
    """``toxics`` is accepted (Toxiproxy's Go client sends it back on every save) and ignored like there."""
    value = fields.get("toxics")
    if value is not None and not isinstance(value, list):
        raise bad_request(
            f"json: cannot unmarshal {_go_kind(value)} into Go struct field proxyToxics.toxics "
            f"of type []toxics.Toxic{where}"
        )


_TOXIC_FIELDS = ("name", "type", "stream", "toxicity", "attributes")


def _toxic_body(body: bytes) -> dict[str, object]:
    """A toxic create/update body: a JSON object (``null`` counts as ``{}``) with only Toxiproxy's keys."""
    data = parse_json_body(body)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise bad_request(
            f"json: cannot unmarshal {_go_kind(data)} into Go value of type toxics.ToxicWrapper"
        )
    unknown = sorted(set(data) - set(_TOXIC_FIELDS))
    if unknown:
        names = ", ".join(f'"{key}"' for key in unknown)
        raise bad_request(f"unknown field {names}; known fields: {', '.join(_TOXIC_FIELDS)}")
    return data


_GO_INT64_MAX = 2**63 - 1
_GO_STRUCTS = {
    "latency": "LatencyToxic",
    "bandwidth": "BandwidthToxic",
    "slow_close": "SlowCloseToxic",
    "timeout": "TimeoutToxic",
    "reset_peer": "ResetToxic",
    "slicer": "SlicerToxic",
    "limit_data": "LimitDataToxic",
}


def _check_attributes(toxic_type: str, attributes: object) -> None:
    """Refuse what the engine's validation lets through: unknown attribute names (typos Toxiproxy would
    silently ignore) and numbers beyond Go's int64, which Toxiproxy's decoder refuses too."""
    known = TOXIC_TYPES.get(toxic_type)
    if known is None or not isinstance(attributes, dict):
        return  # the engine's validation words these errors
    unknown = sorted(set(attributes) - set(known))
    if unknown:
        names = ", ".join(f'"{key}"' for key in unknown)
        expected = ", ".join(known) or "none"
        raise bad_request(f"unknown attribute {names} for a {toxic_type} toxic; known attributes: {expected}")
    for key, value in attributes.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > _GO_INT64_MAX:
            go_type = "int" if toxic_type == "slicer" else "int64"
            raise bad_request(
                f"json: cannot unmarshal number {value:g} into Go struct field "
                f"{_GO_STRUCTS.get(toxic_type, 'Toxic')}.attributes.{key} of type {go_type}"
            )


def _go_number(value: object) -> object:
    """Go prints an integral float32 without a fraction (``1``, not ``1.0``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def toxic_json(spec: ToxicSpec) -> dict[str, object]:
    """A toxic's JSON in Toxiproxy's field order (attributes first) and number format."""
    data = spec.to_json()
    attributes = data.get("attributes")
    ordered: dict[str, object] = {
        "attributes": {k: _go_number(v) for k, v in attributes.items()}
        if isinstance(attributes, dict)
        else {}
    }
    for key in ("name", "type", "stream"):
        ordered[key] = data[key]
    ordered["toxicity"] = _go_number(data["toxicity"])
    return ordered


def proxy_json(proxy: EngineProxy) -> dict[str, object]:
    """A proxy's JSON in Toxiproxy's field order, its toxics formatted like ``toxic_json``."""
    data = proxy.to_json()
    ordered: dict[str, object] = {key: data[key] for key in ("name", "listen", "upstream", "enabled")}
    ordered["toxics"] = [toxic_json(spec) for spec in proxy.toxics()]
    return ordered


def check_listen(listen: str, *, creating: bool) -> None:
    """Refuse an unparsable listen address before anything changes, worded like Toxiproxy's 500.

    Toxiproxy resolves a new listen address before it stops the proxy, so a typo leaves the proxy as
    it was; checking here keeps that guarantee whatever the engine does on a failed restart.
    """
    try:
        parse_address(listen)
    except ValueError:
        detail = "missing port in address" if ":" not in listen else "invalid port"
        raise ListenError(f"{'listen tcp: ' if creating else ''}address {listen}: {detail}") from None


@dataclass(frozen=True)
class ProxyRequest:
    """A validated create/populate entry."""

    name: str
    listen: str
    upstream: str
    enabled: bool


def parse_proxy_create(data: object, index: int | None = None) -> ProxyRequest:
    """Validate a ``POST /proxies`` body or one ``/populate`` entry (``index`` 1-based, as Toxiproxy)."""
    where = "" if index is None else f" at proxy {index}"
    fields = _object_fields(data, _PROXY_CREATE_FIELDS, where)
    name = _optional_str(fields, "name", where)
    upstream = _optional_str(fields, "upstream", where)
    listen = _optional_str(fields, "listen", where)
    enabled = _optional_bool(fields, "enabled", where)
    _check_toxics_field(fields, where)
    if not name:
        raise MissingField(f"name{where}")
    if not upstream:
        raise MissingField(f"upstream{where}")
    return ProxyRequest(name, listen or DEFAULT_LISTEN, upstream, True if enabled is None else enabled)


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

    def __init__(self, engine: FaultEngine, version: str = TOXIPROXY_API_VERSION) -> None:
        self._engine = engine
        self._version = version
        self._lock = threading.Lock()
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
        }

    def handle(self, method: str, path: str, body: bytes = b"") -> APIResponse:
        """Route one request; unknown paths are 404, known paths with another method 405 (with Allow)."""
        segments = self._split_path(path)
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
            return error_response(exc.status, exc.message)
        except Exception as exc:  # a bug must answer 500, never kill the serving thread
            logger.exception("unexpected error handling %s %s", method, path)
            return error_response(500, f"internal error: {type(exc).__name__}: {exc}")

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
            check_listen(spec.listen, creating=True)
        proxy = self._engine.create_proxy(spec.name, spec.listen, spec.upstream, enabled=spec.enabled)
        return json_response(201, proxy_json(proxy))

    def _proxy_show(self, call: _Call) -> APIResponse:
        return json_response(200, proxy_json(self._engine.get_proxy(call.params[0])))

    def _proxy_update(self, call: _Call) -> APIResponse:
        name = call.params[0]
        self._engine.get_proxy(name)  # 404 before any body error, as in Toxiproxy
        fields = _object_fields(parse_json_body(call.body), _PROXY_UPDATE_FIELDS)
        new_name = _optional_str(fields, "name")
        if new_name and new_name != name:
            raise bad_request(f'a proxy cannot be renamed (field "name" is "{new_name}", proxy is "{name}")')
        _check_toxics_field(fields)
        listen = _optional_str(fields, "listen")
        if listen:
            check_listen(listen, creating=False)
        proxy = self._engine.update_proxy(
            name,
            listen=listen if listen else None,
            upstream=_optional_str(fields, "upstream") or None,
            enabled=_optional_bool(fields, "enabled"),
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
                    check_listen(entry.listen, creating=True)
                current = existing.get(entry.name)
                if current is not None:
                    if current.listen == entry.listen and current.upstream == entry.upstream:
                        done.append(current)
                        continue
                    self._engine.delete_proxy(entry.name)
                done.append(
                    self._engine.create_proxy(entry.name, entry.listen, entry.upstream, enabled=entry.enabled)
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
                f"json: cannot unmarshal {_go_kind(data)} into Go value of type []toxiproxy.Proxy"
            )
        entries = [parse_proxy_create(item, index) for index, item in enumerate(data, start=1)]
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
        data = _toxic_body(call.body)
        if isinstance(data.get("type"), str):
            _check_attributes(str(data["type"]), data.get("attributes"))
        spec = proxy.add_toxic(ToxicSpec.from_json(data))
        return json_response(200, toxic_json(spec))  # 200, not 201: Toxiproxy's choice

    def _toxic_show(self, call: _Call) -> APIResponse:
        proxy = self._engine.get_proxy(call.params[0])
        return json_response(200, toxic_json(proxy.get_toxic(call.params[1])))

    def _toxic_update(self, call: _Call) -> APIResponse:
        proxy = self._engine.get_proxy(call.params[0])
        current = proxy.get_toxic(call.params[1])  # 404 before any body error, as in Toxiproxy
        data = _toxic_body(call.body)
        for key in ("name", "type", "stream"):
            # Toxiproxy silently ignores these on update; a client that tries to change one is told so.
            if key in data and data[key] != getattr(current, key):
                raise bad_request(
                    f'field "{key}" of a toxic cannot be changed '
                    f"({getattr(current, key)!r} -> {data[key]!r}); remove the toxic and add a new one"
                )
        _check_attributes(current.type, data.get("attributes"))
        update: dict[str, object] = {key: data[key] for key in ("attributes", "toxicity") if key in data}
        return json_response(200, toxic_json(proxy.update_toxic(call.params[1], update)))

    def _toxic_delete(self, call: _Call) -> APIResponse:
        self._engine.get_proxy(call.params[0]).remove_toxic(call.params[1])
        return empty_response()


def _populate_response(status: int, proxies: list[EngineProxy], error: FaultError | None) -> APIResponse:
    """``/populate`` answers errors as application/json with the proxies made so far (null when none)."""
    payload: dict[str, Any] = {}
    if error is not None:
        payload["error"] = error.message
        payload["status"] = error.status
    payload["proxies"] = [proxy_json(proxy) for proxy in proxies] or None
    return json_response(status, payload)
