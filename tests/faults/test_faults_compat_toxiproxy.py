"""Toxiproxy 2.12 features the embedded engine once lacked, checked on both backends.

``noop`` toxics and a ``stream`` in any letter case: Toxiproxy accepts both, stores the stream as the
client wrote it (it shows up in the JSON and in the default name ``latency_UPSTREAM``) and acts on the
direction it names. Every test runs against the embedded engine and a real Toxiproxy server (the
``any_fault_backend`` fixture for the Python interface, ``api`` for the HTTP JSON).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from sockharness.faults._interface import FaultBackend, FaultProxy
from sockharness.fixtures._peers import TCPClientFactory
from sockharness.peers import EchoServer, ScriptedTCPServer
from sockharness.peers._steps import Close, SendAll
from tests.support.socket_io import echo
from tests.support.toxiproxy_api import APIUnderTest, unique


def connect(tcp_client: TCPClientFactory, proxy: FaultProxy) -> socket.socket:
    return tcp_client(proxy.address, timeout=10)


# --- the Python interface, both backends ---------------------------------------------------------------


def test_noop_toxic_passes_data_unchanged(
    any_fault_backend: FaultBackend, echo_server: EchoServer, tcp_client: TCPClientFactory
) -> None:
    proxy = any_fault_backend.create_proxy(echo_server.address[:2])
    assert proxy.add_toxic("noop") == "noop_downstream"
    assert proxy.add_toxic("noop", stream="upstream", toxicity=0.5) == "noop_upstream"
    [upstream, downstream] = proxy.toxics()
    assert (upstream.name, upstream.type, upstream.stream, upstream.toxicity) == (
        "noop_upstream",
        "noop",
        "upstream",
        0.5,
    )
    assert (downstream.name, downstream.attributes) == ("noop_downstream", {})
    payload = bytes(range(256)) * 400  # 100 KiB, every byte value
    assert echo(connect(tcp_client, proxy), payload) == payload
    proxy.update_toxic("noop_upstream", toxicity=1.0)
    assert {toxic.name: toxic.toxicity for toxic in proxy.toxics()} == {
        "noop_upstream": 1.0,
        "noop_downstream": 1.0,
    }
    proxy.remove_toxic("noop_downstream")
    assert [toxic.name for toxic in proxy.toxics()] == ["noop_upstream"]


def test_stream_in_any_case_names_and_lists_like_toxiproxy(
    any_fault_backend: FaultBackend, echo_server: EchoServer, tcp_client: TCPClientFactory
) -> None:
    proxy = any_fault_backend.create_proxy(echo_server.address[:2])
    assert proxy.add_toxic("latency", stream="Downstream", latency=1) == "latency_Downstream"
    assert proxy.add_toxic("latency", stream="UPSTREAM", latency=1) == "latency_UPSTREAM"
    assert proxy.add_toxic("latency", stream="upstream", latency=1) == "latency_upstream"
    toxics = proxy.toxics()
    # upstream toxics are listed first, so the server (and the engine) read "UPSTREAM" as upstream
    assert [(toxic.name, toxic.stream) for toxic in toxics] == [
        ("latency_UPSTREAM", "upstream"),
        ("latency_upstream", "upstream"),
        ("latency_Downstream", "downstream"),
    ]
    assert [toxic.stream_text for toxic in toxics] == ["UPSTREAM", "upstream", "Downstream"]
    assert echo(connect(tcp_client, proxy), b"still flows") == b"still flows"


def test_an_upper_case_upstream_toxic_acts_on_the_upstream_direction(
    any_fault_backend: FaultBackend,
    tcp_server: Callable[..., ScriptedTCPServer],
    tcp_client: TCPClientFactory,
) -> None:
    """A never-ending timeout on "UPSTREAM" swallows client bytes but lets the server's greeting out."""
    server = tcp_server([SendAll(b"hello"), Close()])
    proxy = any_fault_backend.create_proxy(server.address[:2])
    proxy.add_toxic("timeout", stream="UPSTREAM", timeout=0)
    sock = connect(tcp_client, proxy)
    data = b""
    while len(data) < 5 and (chunk := sock.recv(16)):
        data += chunk
    assert data == b"hello"


# --- the HTTP API, both servers ------------------------------------------------------------------------


def toxic_path(name: str, toxic: str = "") -> str:
    return f"/proxies/{name}/toxics" + (f"/{toxic}" if toxic else "")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"type": "noop", "stream": "UPSTREAM"},
            {"attributes": {}, "name": "noop_UPSTREAM", "type": "noop", "stream": "UPSTREAM", "toxicity": 1},
        ),
        (
            {"type": "noop", "name": "n", "toxicity": 0.5, "attributes": None},
            {"attributes": {}, "name": "n", "type": "noop", "stream": "downstream", "toxicity": 0.5},
        ),
        (
            {"type": "latency", "stream": "Downstream", "attributes": {"latency": 3}},
            {
                "attributes": {"latency": 3, "jitter": 0},
                "name": "latency_Downstream",
                "type": "latency",
                "stream": "Downstream",
                "toxicity": 1,
            },
        ),
        (
            {"type": "slicer", "stream": "upStream"},
            {
                "attributes": {"average_size": 0, "size_variation": 0, "delay": 0},
                "name": "slicer_upStream",
                "type": "slicer",
                "stream": "upStream",
                "toxicity": 1,
            },
        ),
    ],
    ids=["noop-UPSTREAM", "noop-named", "latency-Downstream", "slicer-upStream"],
)
def test_api_echoes_noop_and_the_stream_as_written(
    api: APIUnderTest, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    name = unique("compat")
    assert api.create(name=name).status == 201
    created = api.request("POST", toxic_path(name), body)
    assert (created.status, created.json()) == (200, expected)
    shown = api.request("GET", toxic_path(name, expected["name"]))
    assert (shown.status, shown.json()) == (200, expected)
    updated = api.request("POST", toxic_path(name, expected["name"]), {"toxicity": 0.25})
    assert (updated.status, updated.json()) == (200, {**expected, "toxicity": 0.25})
    listed = api.request("GET", f"/proxies/{name}").json()["toxics"]
    assert listed == [{**expected, "toxicity": 0.25}]


def test_api_lists_mixed_case_streams_by_direction(api: APIUnderTest) -> None:
    name = unique("compat")
    assert api.create(name=name).status == 201
    for stream in ("Downstream", "UPSTREAM", "downstream", "upStream"):
        reply = api.request("POST", toxic_path(name), {"type": "noop", "stream": stream})
        assert reply.status == 200, reply
    listed = api.request("GET", toxic_path(name)).json()
    assert [toxic["name"] for toxic in listed] == [
        "noop_UPSTREAM",
        "noop_upStream",
        "noop_Downstream",
        "noop_downstream",
    ]


@pytest.mark.parametrize("stream", ["", " upstream", "up", "UPSTREAMS"])
def test_api_still_refuses_what_is_no_stream(api: APIUnderTest, stream: str) -> None:
    name = unique("compat")
    assert api.create(name=name).status == 201
    reply = api.request("POST", toxic_path(name), {"type": "noop", "stream": stream})
    assert reply.status == 400
    assert reply.json() == {
        "error": "stream was invalid, can be either upstream or downstream",
        "status": 400,
    }


def test_api_noop_attribute_type_errors_read_like_toxiproxy(api: APIUnderTest) -> None:
    name = unique("compat")
    assert api.create(name=name).status == 201
    reply = api.request("POST", toxic_path(name), {"type": "noop", "attributes": [1]})
    assert reply.status == 400
    assert reply.json()["error"] == (
        "bad request body: json: cannot unmarshal array into Go struct field "
        "ToxicWrapper.attributes of type toxics.NoopToxic"
    )


def test_api_listen_in_use_on_update(api: APIUnderTest) -> None:
    """Same 500 from both. Toxiproxy then leaves the proxy disabled on the new address (so /reset fails
    until it is fixed); the embedded engine binds first and leaves the proxy exactly as it was."""
    name = unique("compat")
    before = api.create(name=name).json()
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        taken = f"127.0.0.1:{held.getsockname()[1]}"
        reply = api.request("POST", f"/proxies/{name}", {"listen": taken})
        assert reply.status == 500
        assert reply.json() == {"error": f"listen tcp {taken}: bind: address already in use", "status": 500}
        after = api.request("GET", f"/proxies/{name}").json()
    if api.kind == "embedded":
        assert after == before
    else:
        assert (after["listen"], after["enabled"]) == (taken, False)


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ("bogus", "address bogus: missing port in address"),
        ("127.0.0.1:abc", "lookup tcp/abc: unknown port"),
        ("127.0.0.1:99999", "address 99999: invalid port"),
    ],
    ids=["no-port", "named-port", "port-out-of-range"],
)
def test_api_unusable_listen_on_update_leaves_the_proxy_alone(
    api: APIUnderTest, listen: str, message: str
) -> None:
    name = unique("compat")
    before = api.create(name=name).json()
    reply = api.request("POST", f"/proxies/{name}", {"listen": listen, "enabled": False})
    assert (reply.status, reply.json()) == (500, {"error": message, "status": 500})
    assert api.request("GET", f"/proxies/{name}").json() == before


def test_api_update_echoing_the_stream_in_another_case_is_no_change(api: APIUnderTest) -> None:
    """A client that sends back the ``"UPSTREAM"`` it created a toxic with is not changing its stream."""
    name = unique("compat")
    assert api.create(name=name).status == 201
    created = api.request(
        "POST", toxic_path(name), {"type": "latency", "stream": "UPSTREAM", "attributes": {"latency": 5}}
    )
    assert created.status == 200, created
    toxic = created.json()["name"]
    for method in ("POST", "PATCH"):
        body = {"stream": "UPSTREAM", "attributes": {"latency": 7}}
        updated = api.request(method, toxic_path(name, toxic), body)
        assert updated.status == 200, (method, updated)
        assert updated.json()["attributes"]["latency"] == 7
