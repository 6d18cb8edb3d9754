"""Toxiproxy's JSON, both ways: request bodies validated into typed values, answers shaped like Toxiproxy's.

Pure (no sockets, no engine calls). Texts follow Toxiproxy 2.12.0 as measured: Go's decoder wording for
wrong types (``json: cannot unmarshal string into Go struct field Proxy.enabled of type bool``), its field
order (a toxic's ``attributes`` first) and number format (``1``, not ``1.0``). Where Toxiproxy silently
accepts a mistake (unknown fields, unknown attribute names, numbers beyond int64) this module refuses it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sockharness.faults._engine.checks import split_host_port
from sockharness.faults._engine.toxic_types import TOXICS, go_kind, proxy_protocol
from sockharness.faults._engine.toxics import ToxicSpec
from sockharness.faults._errors import FaultError, ListenError, MissingField, bad_request

if TYPE_CHECKING:
    from sockharness.faults._engine.engine import EngineProxy

#: The Toxiproxy release whose API this one reproduces; ``GET /version`` reports it so version-gated
#: clients behave as against that release.
TOXIPROXY_API_VERSION = "2.12.0"

#: Where a proxy listens when the request does not say: loopback only, unlike Toxiproxy's every interface.
DEFAULT_LISTEN = "127.0.0.1:0"

JSON_CONTENT_TYPE = "application/json"
# Toxiproxy answers errors through Go's http.Error, which labels the JSON body as plain text.
ERROR_CONTENT_TYPE = "text/plain; charset=utf-8"
VERSION_CONTENT_TYPE = "application/json;charset=utf-8"

PROXY_CREATE_FIELDS = ("name", "listen", "upstream", "enabled", "toxics", "protocol")
PROXY_UPDATE_FIELDS = ("name", "listen", "upstream", "enabled", "toxics", "protocol")
#: ``protocol`` is ours (Toxiproxy has TCP proxies only): absent means "tcp", so its clients keep working.


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


def _type_error(key: str, value: object, go_type: str) -> FaultError:
    return bad_request(
        f"json: cannot unmarshal {go_kind(value)} into Go struct field Proxy.{key} of type {go_type}"
    )


def object_fields(data: object, allowed: tuple[str, ...], where: str = "") -> dict[str, object]:
    """Check that ``data`` is a JSON object holding only ``allowed`` keys (``null`` counts as ``{}``)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise bad_request(
            f"json: cannot unmarshal {go_kind(data)} into Go value of type toxiproxy.Proxy{where}"
        )
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        names = ", ".join(f'"{key}"' for key in unknown)
        raise bad_request(f"unknown field {names}{where}; known fields: {', '.join(allowed)}")
    return dict(data)


def optional_str(fields: Mapping[str, object], key: str, where: str = "") -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _type_error(key, value, f"string{where}")
    return value


def optional_bool(fields: Mapping[str, object], key: str, where: str = "") -> bool | None:
    value = fields.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _type_error(key, value, f"bool{where}")
    return value


def check_toxics_field(fields: Mapping[str, object], where: str = "") -> None:
    """``toxics`` is accepted (Toxiproxy's Go client sends it back on every save) and ignored like there."""
    value = fields.get("toxics")
    if value is not None and not isinstance(value, list):
        raise bad_request(
            f"json: cannot unmarshal {go_kind(value)} into Go struct field proxyToxics.toxics "
            f"of type []toxics.Toxic{where}"
        )


#: Toxiproxy's toxic fields, then ``target`` (embedded engine only: which connections a toxic acts on).
_TOXIC_FIELDS = ("name", "type", "stream", "toxicity", "attributes", "target")


def toxic_body(body: bytes) -> dict[str, object]:
    """A toxic create/update body: a JSON object (``null`` counts as ``{}``) with only Toxiproxy's keys."""
    data = parse_json_body(body)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise bad_request(f"json: cannot unmarshal {go_kind(data)} into Go value of type toxics.ToxicWrapper")
    unknown = sorted(set(data) - set(_TOXIC_FIELDS))
    if unknown:
        names = ", ".join(f'"{key}"' for key in unknown)
        raise bad_request(f"unknown field {names}; known fields: {', '.join(_TOXIC_FIELDS)}")
    return data


def check_attributes(toxic_type: str, attributes: object) -> None:
    """Refuse what Toxiproxy would silently accept, before the rest of the body is looked at: unknown
    attribute names (typos) and numbers beyond Go's int64 (which its decoder refuses too)."""
    toxic = TOXICS.get(toxic_type)
    if toxic is None or not isinstance(attributes, dict):
        return  # ToxicSpec.from_json words these errors, in Toxiproxy's order
    toxic.check_json_names(attributes)


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
    if "target" in data:
        ordered["target"] = data["target"]
    return ordered


def proxy_json(proxy: EngineProxy) -> dict[str, object]:
    """A proxy's JSON in Toxiproxy's field order, its toxics formatted like ``toxic_json``."""
    data = proxy.to_json()
    ordered: dict[str, object] = {key: data[key] for key in ("name", "listen", "upstream", "enabled")}
    ordered["toxics"] = [toxic_json(spec) for spec in proxy.toxics()]
    if "protocol" in data:  # UDP proxies only: a TCP proxy's JSON stays exactly Toxiproxy's
        ordered["protocol"] = data["protocol"]
    return ordered


def check_listen(listen: str, *, creating: bool, protocol: str = "tcp") -> None:
    """Refuse an unparsable listen address before anything changes, worded like Toxiproxy's 500.

    Toxiproxy resolves a new listen address before it stops the proxy, so a typo leaves the proxy as
    it was; checking here keeps that guarantee whatever the engine does on a failed restart.
    """
    try:
        split_host_port(listen)
    except ValueError:
        detail = "missing port in address" if ":" not in listen else "invalid port"
        prefix = f"listen {protocol}: " if creating else ""
        raise ListenError(f"{prefix}address {listen}: {detail}") from None


@dataclass(frozen=True)
class ProxyRequest:
    """A validated create/populate entry."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    protocol: str = "tcp"


def parse_protocol(fields: dict[str, object], where: str = "") -> str | None:
    """The optional ``protocol`` field: "tcp" or "udp"."""
    protocol = optional_str(fields, "protocol", where)
    return proxy_protocol(protocol) if protocol else None


def parse_proxy_create(data: object, index: int | None = None) -> ProxyRequest:
    """Validate a ``POST /proxies`` body or one ``/populate`` entry (``index`` 1-based, as Toxiproxy)."""
    where = "" if index is None else f" at proxy {index}"
    fields = object_fields(data, PROXY_CREATE_FIELDS, where)
    name = optional_str(fields, "name", where)
    upstream = optional_str(fields, "upstream", where)
    listen = optional_str(fields, "listen", where)
    enabled = optional_bool(fields, "enabled", where)
    check_toxics_field(fields, where)
    if not name:
        raise MissingField(f"name{where}")
    if not upstream:
        raise MissingField(f"upstream{where}")
    protocol = parse_protocol(fields, where) or "tcp"
    return ProxyRequest(
        name, listen or DEFAULT_LISTEN, upstream, True if enabled is None else enabled, protocol
    )
