"""Every Toxiproxy API call, answered the same by the embedded API and by a real Toxiproxy 2.12.0.

Each test runs twice (``api`` is parametrized): against ``ToxiproxyAPIServer`` on the embedded engine
and against the real server from TOXIPROXY_URL. Both must give the same status, content type and JSON.
Documented differences (stricter validation, JSON error bodies for routing errors, loopback listen
default) are asserted per backend at the end of this file.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.support.toxiproxy_api import APIUnderTest, unique

ERROR_TYPE = "text/plain; charset=utf-8"
JSON_TYPE = "application/json"
TOXIC_DEFAULTS = {
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},
    "slow_close": {"delay": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
    "limit_data": {"bytes": 0},
}


def proxy_fields(data: dict[str, Any]) -> dict[str, Any]:
    """A proxy's JSON without Toxiproxy's stray internal ``Logger`` field."""
    return {key: value for key, value in data.items() if key != "Logger"}


def assert_error(reply: Any, status: int, message: str) -> None:
    assert reply.status == status, reply
    assert reply.content_type == ERROR_TYPE
    assert reply.body.endswith(b"\n")
    assert reply.json() == {"error": message, "status": status}


def held_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


# --- /version ------------------------------------------------------------------------------------------


def test_version(api: APIUnderTest) -> None:
    reply = api.request("GET", "/version")
    assert reply.status == 200
    assert reply.content_type == "application/json;charset=utf-8"
    assert reply.body.endswith(b"\n")
    assert isinstance(reply.json()["version"], str)


# --- proxies ---------------------------------------------------------------------------------------------


def test_create_proxy_is_201_with_resolved_listen(api: APIUnderTest) -> None:
    name = unique("create")
    reply = api.create(name=name, upstream="127.0.0.1:9")
    assert reply.status == 201
    assert reply.content_type == JSON_TYPE
    data = proxy_fields(reply.json())
    assert list(data) == ["name", "listen", "upstream", "enabled", "toxics"]
    host, port = data["listen"].rsplit(":", 1)
    assert (data["name"], host, data["upstream"], data["enabled"], data["toxics"]) == (
        name,
        "127.0.0.1",
        "127.0.0.1:9",
        True,
        [],
    )
    assert int(port) > 0
    assert not reply.body.endswith(b"\n")


def test_create_disabled_proxy_keeps_unresolved_listen(api: APIUnderTest) -> None:
    reply = api.create(enabled=False)
    assert reply.status == 201
    data = reply.json()
    assert (data["listen"], data["enabled"]) == ("127.0.0.1:0", False)


def test_create_duplicate_is_409(api: APIUnderTest) -> None:
    name = unique("dup")
    assert api.create(name=name).status == 201
    assert_error(api.create(name=name), 409, "proxy already exists")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upstream": "127.0.0.1:9"}, "missing required field: name"),
        ({"name": "x-missing-upstream"}, "missing required field: upstream"),
        ({"name": "", "upstream": "127.0.0.1:9"}, "missing required field: name"),
        (None, "missing required field: name"),
        ("", "bad request body: EOF"),
        (
            {"name": 5, "upstream": "127.0.0.1:9"},
            "bad request body: json: cannot unmarshal number into Go struct field Proxy.name of type string",
        ),
        (
            {"name": "x-bad-enabled", "upstream": "127.0.0.1:9", "enabled": "yes"},
            "bad request body: json: cannot unmarshal string into Go struct field Proxy.enabled of type bool",
        ),
        ([1, 2], "bad request body: json: cannot unmarshal array into Go value of type toxiproxy.Proxy"),
    ],
    ids=["no-name", "no-upstream", "empty-name", "null", "empty-body", "name-number", "enabled-str", "array"],
)
def test_create_proxy_bad_bodies(api: APIUnderTest, body: Any, message: str) -> None:
    payload = "null" if body is None else body
    assert_error(api.request("POST", "/proxies", payload), 400, message)


def test_create_proxy_invalid_json_is_400(api: APIUnderTest) -> None:
    reply = api.request("POST", "/proxies", "{bad")
    assert reply.status == 400
    assert reply.json()["error"].startswith("bad request body: ")


def test_create_proxy_listen_in_use_is_500(api: APIUnderTest) -> None:
    with held_port() as sock:
        port = sock.getsockname()[1]
        reply = api.create(listen=f"127.0.0.1:{port}")
    assert_error(reply, 500, f"listen tcp 127.0.0.1:{port}: bind: address already in use")


def test_create_proxy_unparsable_listen_is_500(api: APIUnderTest) -> None:
    assert_error(
        api.create(listen="notanaddr"), 500, "listen tcp: address notanaddr: missing port in address"
    )


def test_show_and_index_agree(api: APIUnderTest) -> None:
    name = unique("show")
    created = api.create(name=name).json()
    shown = api.request("GET", f"/proxies/{name}")
    assert shown.status == 200 and shown.content_type == JSON_TYPE
    assert shown.json() == created
    index = api.request("GET", "/proxies")
    assert index.status == 200 and index.content_type == JSON_TYPE
    assert index.json()[name] == created


def test_unknown_proxy_is_404_everywhere(api: APIUnderTest) -> None:
    name = unique("ghost")
    for method, path, body in [
        ("GET", f"/proxies/{name}", None),
        ("PATCH", f"/proxies/{name}", "{not json"),  # the lookup comes before the body
        ("POST", f"/proxies/{name}", {"enabled": False}),
        ("DELETE", f"/proxies/{name}", None),
        ("GET", f"/proxies/{name}/toxics", None),
        ("POST", f"/proxies/{name}/toxics", {"type": "latency"}),
        ("GET", f"/proxies/{name}/toxics/latency_downstream", None),
        ("PATCH", f"/proxies/{name}/toxics/latency_downstream", {"toxicity": 0.5}),
        ("DELETE", f"/proxies/{name}/toxics/latency_downstream", None),
    ]:
        assert_error(api.request(method, path, body), 404, "proxy not found")


@pytest.mark.parametrize("method", ["PATCH", "POST"])
def test_update_proxy_enable_disable(api: APIUnderTest, method: str) -> None:
    name = unique("upd")
    listen = api.create(name=name).json()["listen"]
    off = api.request(method, f"/proxies/{name}", {"enabled": False})
    assert off.status == 200 and off.content_type == JSON_TYPE
    assert proxy_fields(off.json())["enabled"] is False
    assert off.json()["listen"] == listen
    on = api.request(method, f"/proxies/{name}", {"enabled": True})
    assert (on.json()["enabled"], on.json()["listen"]) == (True, listen)  # same port again
    assert api.request(method, f"/proxies/{name}", {}).json() == on.json()


def test_update_proxy_upstream_and_listen(api: APIUnderTest) -> None:
    name = unique("move")
    api.create(name=name)
    moved = api.request("PATCH", f"/proxies/{name}", {"upstream": "127.0.0.1:7"}).json()
    assert moved["upstream"] == "127.0.0.1:7"
    relisten = api.request("PATCH", f"/proxies/{name}", {"listen": "127.0.0.1:0"}).json()
    assert relisten["listen"].startswith("127.0.0.1:") and relisten["listen"] != "127.0.0.1:0"
    assert relisten["enabled"] is True


def test_update_proxy_bad_listen_leaves_it_alone(api: APIUnderTest) -> None:
    name = unique("badlisten")
    before = api.create(name=name).json()
    assert_error(
        api.request("PATCH", f"/proxies/{name}", {"listen": "bad"}),
        500,
        "address bad: missing port in address",
    )
    assert api.request("GET", f"/proxies/{name}").json() == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "bad request body: EOF"),
        (
            {"enabled": "x"},
            "bad request body: json: cannot unmarshal string into Go struct field Proxy.enabled of type bool",
        ),
    ],
    ids=["empty", "enabled-str"],
)
def test_update_proxy_bad_bodies(api: APIUnderTest, body: Any, message: str) -> None:
    name = unique("updbad")
    api.create(name=name)
    assert_error(api.request("PATCH", f"/proxies/{name}", body), 400, message)


def test_delete_proxy(api: APIUnderTest) -> None:
    name = unique("del")
    listen = api.create(name=name).json()["listen"]
    reply = api.request("DELETE", f"/proxies/{name}")
    assert (reply.status, reply.body, reply.content_type) == (204, b"", None)
    assert_error(api.request("DELETE", f"/proxies/{name}"), 404, "proxy not found")
    host, port = listen.rsplit(":", 1)
    with socket.socket() as probe:
        assert probe.connect_ex((host, int(port))) != 0  # its listener is gone


# --- toxics -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("toxic_type", sorted(TOXIC_DEFAULTS))
def test_create_each_toxic_type_with_defaults(api: APIUnderTest, toxic_type: str) -> None:
    name = unique("tox")
    api.create(name=name)
    reply = api.request("POST", f"/proxies/{name}/toxics", {"type": toxic_type})
    assert reply.status == 200  # not 201
    assert reply.content_type == JSON_TYPE
    data = reply.json()
    assert list(data) == ["attributes", "name", "type", "stream", "toxicity"]
    assert data == {
        "attributes": TOXIC_DEFAULTS[toxic_type],
        "name": f"{toxic_type}_downstream",
        "type": toxic_type,
        "stream": "downstream",
        "toxicity": 1,
    }
    assert list(data["attributes"]) == list(TOXIC_DEFAULTS[toxic_type])
    assert api.request("GET", f"/proxies/{name}/toxics/{toxic_type}_downstream").json() == data


def test_toxic_explicit_fields_and_json_format(api: APIUnderTest) -> None:
    name = unique("toxf")
    api.create(name=name)
    body = {"name": "", "type": "latency", "stream": "upstream", "toxicity": 0, "attributes": {"latency": 5}}
    reply = api.request("POST", f"/proxies/{name}/toxics", body)
    assert reply.status == 200
    assert reply.body == (
        b'{"attributes":{"latency":5,"jitter":0},"name":"latency_upstream","type":"latency",'
        b'"stream":"upstream","toxicity":0}'
    )
    half = api.request("POST", f"/proxies/{name}/toxics", {"name": "h", "type": "bandwidth", "toxicity": 0.5})
    assert half.json()["toxicity"] == 0.5
    null_attrs = api.request(
        "POST", f"/proxies/{name}/toxics", {"name": "n", "type": "timeout", "attributes": None}
    )
    assert null_attrs.json()["attributes"] == {"timeout": 0}


def test_toxic_index_lists_upstream_first(api: APIUnderTest) -> None:
    name = unique("order")
    api.create(name=name)
    for toxic_name, stream in [
        ("d1", "downstream"),
        ("u1", "upstream"),
        ("d2", "downstream"),
        ("u2", "upstream"),
    ]:
        api.request(
            "POST", f"/proxies/{name}/toxics", {"name": toxic_name, "type": "latency", "stream": stream}
        )
    reply = api.request("GET", f"/proxies/{name}/toxics")
    assert reply.status == 200 and reply.content_type == JSON_TYPE
    assert [toxic["name"] for toxic in reply.json()] == ["u1", "u2", "d1", "d2"]
    assert [toxic["name"] for toxic in api.request("GET", f"/proxies/{name}").json()["toxics"]] == [
        "u1",
        "u2",
        "d1",
        "d2",
    ]


def test_empty_toxic_index_is_empty_array(api: APIUnderTest) -> None:
    name = unique("none")
    api.create(name=name)
    assert api.request("GET", f"/proxies/{name}/toxics").body == b"[]"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"type": "nope"}, 400, "invalid toxic type"),
        ({"type": ""}, 400, "invalid toxic type"),
        ({"name": "typeless"}, 400, "invalid toxic type"),
        (
            {"type": "latency", "stream": "sideways"},
            400,
            "stream was invalid, can be either upstream or downstream",
        ),
        ({"type": "latency", "stream": ""}, 400, "stream was invalid, can be either upstream or downstream"),
        (
            {"type": "latency", "attributes": {"latency": "a"}},
            400,
            "bad request body: json: cannot unmarshal string into Go struct field "
            "LatencyToxic.attributes.latency of type int64",
        ),
        (
            {"type": "latency", "attributes": {"latency": 1.5}},
            400,
            "bad request body: json: cannot unmarshal number 1.5 into Go struct field "
            "LatencyToxic.attributes.latency of type int64",
        ),
        (
            {"type": "latency", "toxicity": "x"},
            400,
            "bad request body: json: cannot unmarshal string into Go struct field ToxicWrapper.toxicity "
            "of type float32",
        ),
        ("", 400, "bad request body: EOF"),
    ],
    ids=[
        "unknown",
        "empty-type",
        "no-type",
        "stream",
        "empty-stream",
        "attr-str",
        "attr-float",
        "tox-str",
        "empty",
    ],
)
def test_create_toxic_errors(api: APIUnderTest, body: Any, status: int, message: str) -> None:
    name = unique("toxerr")
    api.create(name=name)
    assert_error(api.request("POST", f"/proxies/{name}/toxics", body), status, message)
    assert api.request("GET", f"/proxies/{name}/toxics").json() == []


def test_create_toxic_duplicate_is_409(api: APIUnderTest) -> None:
    name = unique("toxdup")
    api.create(name=name)
    assert api.request("POST", f"/proxies/{name}/toxics", {"type": "latency"}).status == 200
    assert_error(
        api.request("POST", f"/proxies/{name}/toxics", {"type": "latency"}), 409, "toxic already exists"
    )


@pytest.mark.parametrize("method", ["PATCH", "POST"])
def test_update_toxic_merges_attributes(api: APIUnderTest, method: str) -> None:
    name = unique("toxupd")
    api.create(name=name)
    api.request("POST", f"/proxies/{name}/toxics", {"type": "latency", "attributes": {"latency": 100}})
    path = f"/proxies/{name}/toxics/latency_downstream"
    jitter = api.request(method, path, {"attributes": {"jitter": 5}})
    assert jitter.status == 200 and jitter.content_type == JSON_TYPE
    assert jitter.json()["attributes"] == {"latency": 100, "jitter": 5}
    half = api.request(method, path, {"toxicity": 0.5})
    assert half.json() == {
        "attributes": {"latency": 100, "jitter": 5},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 0.5,
    }
    assert api.request("GET", path).json() == half.json()


def test_update_toxic_errors(api: APIUnderTest) -> None:
    name = unique("toxupderr")
    api.create(name=name)
    api.request("POST", f"/proxies/{name}/toxics", {"type": "latency"})
    assert_error(
        api.request("PATCH", f"/proxies/{name}/toxics/nope", "{not json"), 404, "toxic not found"
    )  # lookup before body
    path = f"/proxies/{name}/toxics/latency_downstream"
    assert_error(api.request("PATCH", path, ""), 400, "bad request body: EOF")
    assert_error(
        api.request("PATCH", path, {"attributes": {"latency": "s"}}),
        400,
        "bad request body: json: cannot unmarshal string into Go struct field "
        "LatencyToxic.attributes.latency of type int64",
    )


def test_delete_toxic(api: APIUnderTest) -> None:
    name = unique("toxdel")
    api.create(name=name)
    api.request("POST", f"/proxies/{name}/toxics", {"type": "latency"})
    reply = api.request("DELETE", f"/proxies/{name}/toxics/latency_downstream")
    assert (reply.status, reply.body) == (204, b"")
    assert_error(api.request("DELETE", f"/proxies/{name}/toxics/latency_downstream"), 404, "toxic not found")
    assert_error(api.request("GET", f"/proxies/{name}/toxics/latency_downstream"), 404, "toxic not found")


# --- /populate and /reset ------------------------------------------------------------------------


def test_populate_creates_keeps_and_replaces(api: APIUnderTest) -> None:
    first, second = unique("popa"), unique("popb")
    api.track(first)
    api.track(second)
    with held_port() as sock:  # a known-free port for a fixed listen address
        fixed = f"127.0.0.1:{sock.getsockname()[1]}"
    body = [
        {"name": first, "upstream": "127.0.0.1:2", "listen": fixed},
        {"name": second, "upstream": "127.0.0.1:2", "listen": "127.0.0.1:0"},
    ]
    reply = api.request("POST", "/populate", body)
    assert reply.status == 201 and reply.content_type == JSON_TYPE
    created = [proxy_fields(p) for p in reply.json()["proxies"]]
    assert [p["name"] for p in created] == [first, second]
    assert created[0]["listen"] == fixed
    api.request("POST", f"/proxies/{first}/toxics", {"type": "latency"})
    again = api.request("POST", "/populate", [{"name": first, "upstream": "127.0.0.1:2", "listen": fixed}])
    assert again.status == 201
    kept = proxy_fields(again.json()["proxies"][0])
    assert [toxic["name"] for toxic in kept["toxics"]] == ["latency_downstream"]  # same config: kept
    replaced = api.request("POST", "/populate", [{"name": first, "upstream": "127.0.0.1:3", "listen": fixed}])
    assert replaced.status == 201
    assert proxy_fields(replaced.json()["proxies"][0])["toxics"] == []
    assert api.request("GET", f"/proxies/{first}").json()["upstream"] == "127.0.0.1:3"


def test_populate_validates_everything_first(api: APIUnderTest) -> None:
    ok, broken = unique("popok"), unique("popbroken")
    body = [
        {"name": ok, "upstream": "127.0.0.1:2", "listen": "127.0.0.1:0"},
        {"name": broken, "upstream": ""},
    ]
    reply = api.request("POST", "/populate", body)
    assert reply.status == 400 and reply.content_type == JSON_TYPE
    assert reply.json() == {
        "error": "missing required field: upstream at proxy 2",
        "status": 400,
        "proxies": None,
    }
    assert api.request("GET", f"/proxies/{ok}").status == 404


def test_populate_bind_failure_reports_what_was_made(api: APIUnderTest) -> None:
    ok, broken = unique("popmade"), unique("popfail")
    api.track(ok)
    body = [
        {"name": ok, "upstream": "127.0.0.1:2", "listen": "127.0.0.1:0"},
        {"name": broken, "upstream": "127.0.0.1:2", "listen": "bad"},
    ]
    reply = api.request("POST", "/populate", body)
    assert reply.status == 500 and reply.content_type == JSON_TYPE
    data = reply.json()
    assert list(data) == ["error", "status", "proxies"]
    assert (data["error"], data["status"]) == ("listen tcp: address bad: missing port in address", 500)
    assert [proxy["name"] for proxy in data["proxies"]] == [ok]


@pytest.mark.parametrize(
    ("body", "status", "payload"),
    [
        ("[]", 201, {"proxies": None}),
        ("", 400, {"error": "bad request body: EOF", "status": 400, "proxies": None}),
    ],
    ids=["empty-list", "empty-body"],
)
def test_populate_edge_bodies(api: APIUnderTest, body: str, status: int, payload: Any) -> None:
    reply = api.request("POST", "/populate", body)
    assert (reply.status, reply.content_type, reply.json()) == (status, JSON_TYPE, payload)


def test_reset_removes_toxics_and_enables(private_api: APIUnderTest) -> None:
    name, off = unique("reset"), unique("resetoff")
    private_api.create(name=name)
    private_api.create(name=off)
    private_api.request("POST", f"/proxies/{name}/toxics", {"type": "latency"})
    private_api.request("POST", f"/proxies/{name}/toxics", {"type": "timeout", "stream": "upstream"})
    private_api.request("PATCH", f"/proxies/{off}", {"enabled": False})
    reply = private_api.request("POST", "/reset", "ignored body")
    assert (reply.status, reply.body) == (204, b"")
    assert private_api.request("GET", f"/proxies/{name}/toxics").json() == []
    assert private_api.request("GET", f"/proxies/{off}").json()["enabled"] is True


# --- routing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/version"),
        ("HEAD", "/version"),
        ("PUT", "/proxies"),
        ("GET", "/reset"),
        ("GET", "/populate"),
        ("PUT", "/proxies/x"),
        ("DELETE", "/proxies/x/toxics"),
        ("PUT", "/proxies/x/toxics/y"),
    ],
)
def test_wrong_method_is_405(api: APIUnderTest, method: str, path: str) -> None:
    assert api.request(method, path).status == 405


@pytest.mark.parametrize("path", ["/nope", "/proxies/", "/proxies/x/", "/proxies/x/toxics/y/z", "/metrics"])
def test_unknown_path_is_404(api: APIUnderTest, path: str) -> None:
    assert api.request("GET", path).status == 404


def test_browsers_are_refused(api: APIUnderTest) -> None:
    reply = api.request("GET", "/version", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    assert reply.status == 403
    assert b"User agent not allowed" in reply.body
    assert api.request("GET", "/version", headers={"User-Agent": "curl/8.0"}).status == 200


def test_query_string_is_ignored(api: APIUnderTest) -> None:
    name = unique("query")
    api.create(name=name)
    assert api.request("GET", f"/proxies/{name}?verbose=1").status == 200


# --- documented differences: the embedded API is stricter ------------------------------------------


STRICTER = [
    ("POST", "/proxies", {"name": "strict-unknown", "upstream": "127.0.0.1:9", "bogus": 1}),
    ("TOXIC", "", {"type": "latency", "toxicity": 2}),
    ("TOXIC", "", {"type": "latency", "attributes": {"latency": -5}}),
    ("TOXIC", "", {"type": "latency", "attributes": {"bogus": 1}}),
    ("TOXIC", "", {"type": "latency", "extra": True}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), STRICTER, ids=["proxy-field", "toxicity", "negative", "attr", "field"]
)
def test_embedded_refuses_what_toxiproxy_accepts(
    api: APIUnderTest, method: str, path: str, body: Any
) -> None:
    if method == "TOXIC":
        name = unique("strict")
        api.create(name=name)
        method, path = "POST", f"/proxies/{name}/toxics"
    else:
        body = dict(body, name=unique("strict"), listen="127.0.0.1:0")
        api.track(body["name"])
    reply = api.request(method, path, body)
    if api.kind == "embedded":
        assert reply.status == 400 and reply.json()["error"].startswith("bad request body: ")
    else:
        assert reply.status in (200, 201)  # Toxiproxy 2.12 takes it as is


def test_populate_duplicate_names(api: APIUnderTest) -> None:
    name = unique("popdup")
    api.track(name)
    entry = {"name": name, "upstream": "127.0.0.1:2", "listen": "127.0.0.1:0"}
    reply = api.request("POST", "/populate", [entry, entry])
    if api.kind == "embedded":
        assert reply.status == 400
        assert reply.json()["error"] == f'bad request body: duplicate proxy name "{name}" at proxy 2'
    else:
        assert reply.status == 201  # the second silently replaces the first


def test_toxic_update_cannot_change_identity(api: APIUnderTest) -> None:
    name = unique("ident")
    api.create(name=name)
    api.request("POST", f"/proxies/{name}/toxics", {"type": "latency"})
    reply = api.request("PATCH", f"/proxies/{name}/toxics/latency_downstream", {"type": "bandwidth"})
    if api.kind == "embedded":
        assert reply.status == 400 and "cannot be changed" in reply.json()["error"]
    else:
        assert reply.status == 200 and reply.json()["type"] == "latency"  # ignored silently


def test_routing_errors_have_json_bodies_on_embedded(api: APIUnderTest) -> None:
    reply = api.request("PUT", "/proxies")
    if api.kind == "embedded":
        assert reply.json() == {"error": "method PUT not allowed here; allowed: GET, POST", "status": 405}
        assert reply.headers["allow"] == "GET, POST"
    else:
        assert reply.body == b""
