"""The pure JSON side of the API: body parsing, validation wording, and Toxiproxy's answer shapes."""

from __future__ import annotations

import json

import pytest

from sockharness.faults._api.api_json import (
    DEFAULT_LISTEN,
    ProxyRequest,
    check_attributes,
    check_listen,
    error_response,
    json_response,
    parse_json_body,
    parse_proxy_create,
    toxic_body,
    toxic_json,
)
from sockharness.faults._engine.toxics import ToxicSpec
from sockharness.faults._errors import BadRequest, ListenError, MissingField


def test_empty_body_is_eof_like_go() -> None:
    for body in (b"", b"  \n"):
        with pytest.raises(BadRequest, match=r"^bad request body: EOF$"):
            parse_json_body(body)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{bad", "invalid JSON at line 1 column 2"),
        (b'{"a": NaN}', "NaN is not valid JSON"),
        (b'{"a": Infinity}', "Infinity is not valid JSON"),
        (b"\xff", "bad request body"),
        (b"[" * 50000 + b"]" * 50000, "bad request body"),
        (b"{} {}", "Extra data"),
    ],
)
def test_unparsable_bodies_name_the_problem(body: bytes, fragment: str) -> None:
    with pytest.raises(BadRequest, match=fragment):
        parse_json_body(body)


def test_proxy_create_defaults_and_wording() -> None:
    assert parse_proxy_create({"name": "a", "upstream": "127.0.0.1:1"}) == ProxyRequest(
        "a", DEFAULT_LISTEN, "127.0.0.1:1", True
    )
    assert (
        parse_proxy_create({"name": "a", "upstream": "u", "listen": "", "enabled": False}).listen
        == DEFAULT_LISTEN
    )
    with pytest.raises(MissingField, match="missing required field: upstream at proxy 3"):
        parse_proxy_create({"name": "a"}, 3)
    with pytest.raises(BadRequest, match='unknown field "bogus" at proxy 2; known fields: name, listen'):
        parse_proxy_create({"name": "a", "upstream": "u", "bogus": 1}, 2)
    with pytest.raises(
        BadRequest, match=r"cannot unmarshal bool into Go struct field Proxy\.name of type string"
    ):
        parse_proxy_create({"name": True, "upstream": "u"})
    with pytest.raises(BadRequest, match="toxics"):
        parse_proxy_create({"name": "a", "upstream": "u", "toxics": "no"})
    assert parse_proxy_create({"name": "a", "upstream": "u", "toxics": None}).name == "a"  # ignored


def test_toxic_body_and_attribute_checks() -> None:
    assert toxic_body(b"null") == {}
    with pytest.raises(BadRequest, match='unknown field "extra"'):
        toxic_body(b'{"type": "latency", "extra": 1}')
    with pytest.raises(BadRequest, match=r"Go value of type toxics\.ToxicWrapper"):
        toxic_body(b"[1]")
    check_attributes("latency", {"latency": 5, "jitter": 1})
    check_attributes("no_such_type", {"anything": 1})  # left to the engine's "invalid toxic type"
    with pytest.raises(BadRequest) as typo:
        check_attributes("latency", {"latncy": 5})
    assert typo.value.message == (
        "bad request body: unknown attribute 'latncy' for a latency toxic; did you mean 'latency'? "
        "known attributes: latency, jitter, distribution, correlation"
    )
    with pytest.raises(
        BadRequest, match=r"cannot unmarshal number 1e\+30 .* SlicerToxic\.attributes\.delay of type int"
    ):
        check_attributes("slicer", {"delay": 10**30})


@pytest.mark.parametrize(
    ("listen", "creating", "message"),
    [
        ("bad", True, "listen tcp: address bad: missing port in address"),
        ("bad", False, "address bad: missing port in address"),
        ("127.0.0.1:http", True, "listen tcp: address 127.0.0.1:http: invalid port"),
        ("127.0.0.1:70000", False, "address 127.0.0.1:70000: invalid port"),
    ],
)
def test_check_listen_words_like_toxiproxy(listen: str, creating: bool, message: str) -> None:
    with pytest.raises(ListenError) as info:
        check_listen(listen, creating=creating)
    assert (info.value.message, info.value.status) == (message, 500)


def test_check_listen_accepts_addresses() -> None:
    for listen in ("127.0.0.1:0", "[::1]:8080", "localhost:1"):
        check_listen(listen, creating=True)


def test_toxic_json_order_and_numbers() -> None:
    spec = ToxicSpec("lag", "latency", "upstream", 1.0, {"latency": 5})
    data = toxic_json(spec)
    assert list(data) == ["attributes", "name", "type", "stream", "toxicity"]
    assert json_response(200, data).body == (
        b'{"attributes":{"latency":5,"jitter":0},"name":"lag","type":"latency","stream":"upstream","toxicity":1}'
    )
    assert toxic_json(ToxicSpec("h", "timeout", toxicity=0.25))["toxicity"] == 0.25


def test_error_response_is_toxiproxys_shape() -> None:
    response = error_response(404, "proxy not found")
    assert response.body == b'{"error":"proxy not found","status":404}\n'
    assert response.content_type == "text/plain; charset=utf-8"
    assert ("X-Content-Type-Options", "nosniff") in response.headers
    assert json.loads(response.body) == {"error": "proxy not found", "status": 404}
