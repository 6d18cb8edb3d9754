"""The model the runner reads: every form of the language loads into typed, immutable objects."""

from __future__ import annotations

import textwrap

import pydantic
import pytest

from sockharness.scenario._language import model as m
from sockharness.scenario._language.errors import ScenarioError
from sockharness.scenario._language.loader import load_text

EVERYTHING = textwrap.dedent(
    """\
    defaults:
      timeout: 10s
      marks: [netns]
      method: recv
    scenarios:
      - name: everything
        description: every action, peer kind and expectation form at least once
        observe: "sent {n}, got {data}"
        marks:
          - skipif: {platform: win32, reason: Windows differs}
          - xfail: {reason: known, platform: darwin, strict: false}
          - skip: not today
        peers:
          srv: echo
          six: {kind: echo, host: "::1"}
          dis: discard
          quiet: {kind: silent, rcvbuf: 4KiB, sndbuf: 4096}
          r: {kind: reply, reply: "pong\\n", read: 1KiB}
          web: http_hello
          closed: closed_port
          fb: {kind: full_backlog, backlog: 1}
          u: udp_echo
          uc: udp_closed_port
          ns: {kind: dns, table: {db.internal: [127.0.0.10, "::1"]}, modes: {slow.internal: late}, delay: 1s}
          t:
            kind: tcp_server
            backlog: 5
            max_connections: 1
            script: [{recv: 5}, {recv_until: "\\r\\n"}, recv_eof, {expect: {hex: "00 01"}}, {send: hi},
                     {sendall: {size: 1KiB}}, {sleep: 10ms}, {shutdown: SHUT_WR}, close, reset, stall,
                     {stall: 1s}, {set_rcvbuf: 4KiB}, {set_sndbuf: 4KiB}, echo, drain]
          cl: {kind: tcp_client, target: t, connect_timeout: 2s, script: [{send: x}, close]}
          ts: {kind: tcp_server, tls: {cert: expired, alpn: [h2]}, script: [tls_handshake, tls_close_notify]}
          px:
            kind: proxy
            upstream: srv
            backend: embedded
            toxics: [{type: latency, name: lag, stream: upstream, toxicity: 0.5, attributes: {latency: 50}}]
          ext: {kind: external, address: "127.0.0.1:0", argv: [python, -m, server, "{port}"], env: {A: b}}
        steps:
          - socket: {as: c, family: AF_INET, type: SOCK_STREAM, proto: 0}
          - setsockopt: {socket: c, level: SOL_SOCKET, option: SO_REUSEADDR, value: 1}
          - setsockopt: {socket: c, level: SOL_SOCKET, option: SO_LINGER, value: {hex: "01000000 00000000"}}
          - getsockopt: {socket: c, level: SOL_SOCKET, option: SO_REUSEADDR}
            returns: {ne: 0}
          - bind: {socket: c, address: "127.0.0.1:0"}
          - getsockname: c
            returns: ["127.0.0.1", {gt: 0}]
            save: me
          - setblocking: {socket: c, flag: true}
          - getblocking: c
            returns: true
          - settimeout: {socket: c, value: 300ms}
          - gettimeout: c
            returns: {between: [0.29, 0.31]}
          - settimeout: {socket: c, value: -1}
            raises: ValueError
          - connect: {socket: c, address: px}
            elapsed: {max: 2s}
          - send: {socket: c, data: {text: ab, repeat: 3}, flags: [MSG_NOSIGNAL]}
            returns: {le: $offered}
            save: n
          - recv: {socket: c, bufsize: 64KiB}
            bytes: {prefix: ab, length: {gt: 0}}
            save: data
          - recv_until: {socket: c, delimiter: {text: "\\n"}}
            bytes: abab
          - sendall: {socket: c, data: {faker: sentence, kwargs: {nb_words: 3}}}
          - wait: {socket: c, for: readable, timeout: 100ms}
            returns: false
          - shutdown: {socket: c, how: SHUT_WR}
          - fileno: c
            returns: {type: int}
          - getpeername: c
            label: peer address
          - close: c
          - socket: {as: l}
          - bind: {socket: l, address: ["127.0.0.1", 0]}
          - listen: {socket: l, backlog: -5}
          - socket: {as: k}
          - connect_ex: {socket: k, address: l}
            returns: {in: [0, EINPROGRESS]}
          - accept: {socket: l, as: a}
            returns: ["$me[0]", {type: int}]
          - socket: {as: d, type: SOCK_DGRAM}
          - sendto: {socket: d, data: ping, address: u}
            returns: 4
          - recvfrom: {socket: d, bufsize: 1024}
            bytes: {exact: ping}
          - sleep: 10ms
          - getaddrinfo: {host: localhost, port: 80, family: AF_INET, type: SOCK_STREAM}
            raises: {type: socket.gaierror, errno: EAI_NONAME}
          - peer: {name: t, action: wait, timeout: 2s}
          - add_toxic: {proxy: px, type: bandwidth, attributes: {rate: 100}}
            returns: bandwidth_downstream
          - update_toxic: {proxy: px, name: lag, attributes: {latency: 10}}
          - remove_toxic: {proxy: px, name: lag}
          - proxy_down: px
          - proxy_up: {proxy: px}
          - proxy_connections: px
          - repeat:
              times: 3
              until_raises: {type: OSError, errno: [EAGAIN, EWOULDBLOCK]}
              steps:
                - send: {socket: k, data: {size: 1MiB, random: true}}
          - call: {function: "os:getpid", await: false, timeout: 1s}
            save: pid
          - concurrently:
              background: [{call: {object: $pid, method: bit_length}}]
              steps: [{sleep: 0}]
              join: 1s
          - packet_fault: {peer: srv, kind: reject, with: tcp-reset, direction: in, as: rst}
          - remove_packet_fault: rst
          - packet_fault: {port: 9, kind: loss, percent: 50}
          - wrap_socket: {socket: k, server_hostname: localhost, do_handshake_on_connect: false, alpn: [h2]}
          - do_handshake: {socket: k, loop: true, timeout: 1s}
            returns: {le: 2}
          - version: k
          - cipher: k
          - selected_alpn_protocol: k
          - pending: k
          - getpeercert: {socket: k, field: subjectAltName}
          - unwrap: k
            raises: {type: ssl.SSLError, reason: [WRONG_VERSION_NUMBER], verify_code: 10}
          - recv: {socket: k, bufsize: 1}
            raises: {type: TimeoutError, errno: null, message: timed out}
      - name: phased
        description: phases with toxics and downs
        timeout: 3s
        peers:
          srv: echo
          px: {kind: proxy, upstream: srv}
        phases:
          - name: healthy
            steps: [{socket: {as: c}}, {connect: {socket: c, address: px}}]
          - name: slow
            toxics: [{proxy: px, type: slicer, attributes: {average_size: 10, delay: 100}}]
            down: []
            duration: 200ms
          - name: outage
            down: [px]
    """
)


@pytest.fixture(scope="module")
def everything() -> m.ScenarioFile:
    return load_text(EVERYTHING, "everything.yaml")


def test_every_form_loads(everything: m.ScenarioFile) -> None:
    first, phased = everything.scenarios
    assert first.name == "everything"
    assert phased.phases is not None and [phase.name for phase in phased.phases] == [
        "healthy",
        "slow",
        "outage",
    ]
    assert {step.action for step in first.steps or ()} >= set(m.ACTIONS) - {"update_toxic"} | {"update_toxic"}


def test_defaults_are_inherited(everything: m.ScenarioFile) -> None:
    first, phased = everything.scenarios
    assert first.timeout == 10.0 and phased.timeout == 3.0
    assert first.method == "recv"
    assert [mark.name for mark in first.marks] == ["netns", "skipif", "xfail", "skip"]
    assert first.needs_netns and phased.needs_netns


def test_steps_expose_action_and_typed_args(everything: m.ScenarioFile) -> None:
    steps = everything.scenarios[0].steps or []
    socket_step = steps[0]
    assert socket_step.action == "socket"
    assert socket_step.args.as_ == "c" and socket_step.args.family == "AF_INET"
    recv = next(step for step in steps if step.action == "recv")
    assert recv.args.bufsize == 65536 and recv.save == "data"
    assert isinstance(recv.bytes, m.BytesMatch) and recv.bytes.prefix == "ab"
    close = next(step for step in steps if step.action == "close")
    assert close.args.socket == "c"  # scalar shorthand expanded
    sleep = next(step for step in steps if step.action == "sleep")
    assert sleep.args == pytest.approx(0.01)
    timeout = [step for step in steps if step.action == "settimeout"]
    assert timeout[0].args.value == pytest.approx(0.3) and timeout[1].args.value == -1
    last = steps[-1]
    assert last.raises is not None and last.raises.checks_errno and last.raises.errno is None
    repeat = next(step for step in steps if step.action == "repeat")
    assert repeat.args.times == 3 and repeat.args.until_raises.errno == ("EAGAIN", "EWOULDBLOCK")


def test_returns_null_is_distinct_from_no_returns() -> None:
    text = textwrap.dedent(
        """\
        scenarios:
          - name: n
            description: d
            steps:
              - socket: {as: c}
              - gettimeout: c
                returns: null
              - gettimeout: c
        """
    )
    steps = load_text(text).scenarios[0].steps or []
    assert steps[1].checks_return and steps[1].returns is None
    assert not steps[2].checks_return


def test_addresses_are_classified(everything: m.ScenarioFile) -> None:
    steps = everything.scenarios[0].steps or []
    binds = [step.args.address for step in steps if step.action == "bind"]
    assert binds[0] == m.AddressSpec(text="127.0.0.1:0", literal=("127.0.0.1", 0))
    assert binds[1].literal == ("127.0.0.1", 0)
    connect = next(step for step in steps if step.action == "connect")
    assert connect.args.address.ref == "px"


def test_peers_are_typed(everything: m.ScenarioFile) -> None:
    peers = everything.scenarios[0].peers
    assert peers["srv"].kind == "echo" and peers["srv"].host == "127.0.0.1"
    assert peers["six"].host == "::1"
    proxy = peers["px"]
    assert isinstance(proxy, m.ProxyPeer)
    toxic = proxy.toxics[0]
    assert (toxic.type, toxic.name, toxic.stream, toxic.toxicity) == ("latency", "lag", "upstream", 0.5)
    assert toxic.attribute_values() == {"latency": 50, "jitter": 0}
    script = peers["t"].script  # type: ignore[union-attr]
    assert [step.name for step in script][:4] == ["recv", "recv_until", "recv_eof", "expect"]
    assert script[0].argument == 5 and script[2].argument is None


def test_models_are_frozen(everything: m.ScenarioFile) -> None:
    with pytest.raises(pydantic.ValidationError):
        everything.scenarios[0].name = "other"  # type: ignore[misc]


def test_repeat_bounds_are_inclusive() -> None:
    for times, ok in ((1, True), (10000, True), (10001, False), (0, False)):
        text = (
            "scenarios:\n  - name: r\n    description: d\n    steps:\n      - socket: {as: c}\n"
            f"      - repeat: {{times: {times}, steps: [{{getblocking: c}}]}}\n"
        )
        if ok:
            load_text(text)
        else:
            with pytest.raises(ScenarioError, match="between 1 and 10000"):
                load_text(text)


def test_sockets_created_inside_repeat_and_phases_are_known_later() -> None:
    text = textwrap.dedent(
        """\
        scenarios:
          - name: p
            description: d
            phases:
              - name: one
                steps: [{repeat: {times: 1, steps: [{socket: {as: c}}]}}]
              - name: two
                steps: [{close: c}]
        """
    )
    load_text(text)


def test_socket_used_before_creation_is_an_error_even_if_created_later() -> None:
    text = textwrap.dedent(
        """\
        scenarios:
          - name: p
            description: d
            steps:
              - close: c
              - socket: {as: c}
        """
    )
    with pytest.raises(ScenarioError) as caught:
        load_text(text, "order.yaml")
    assert caught.value.key_path == "scenarios[0].steps[0].close"
    assert "unknown socket 'c'" in caught.value.message


def _one_step(step: str, peers: str = "") -> str:
    return (
        "scenarios:\n  - name: s\n    description: d\n"
        + (f"    peers: {peers}\n" if peers else "")
        + f"    steps:\n      - socket: {{as: c}}\n      - {step}\n"
    )


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            "socket: {as: d, family: SOCK_STREAM}",
            "'SOCK_STREAM' is the wrong kind of constant here: expected AF_*",
        ),
        ("setblocking: {socket: c, flag: 'true'}", "expected true or false, got 'true'"),
        ("setblocking: {socket: c, flag: 1}", "expected true or false, got 1"),
        ("recv: {socket: c, bufsize: 1.0}", "an integer, not a float"),
        ("recv: {socket: c, bufsize: 1, flags: MSG_PEEK}", "expected a list"),
        ("connect: {socket: c, address: ['127.0.0.1']}", "expected [host, port]"),
        ("connect: {socket: c, address: [1, 2]}", "expected the host as text"),
        ("sendall: {socket: c, data: {size: 2GiB}}", "at most 1GiB"),
        ("sendall: {socket: c, data: {text: x, repeat: 2000000000}}", "at most 1GiB"),
        ("sendall: {socket: c, data: {size: 1, random: true, fill: y}}", "either fill or random"),
        ("sendall: {socket: c, data: {faker: seed_instance}}", "Faker generator name"),
        ("gettimeout: c\n        returns: {type: integer}", "expected one of int, float"),
        ("gettimeout: c\n        returns: {in: []}", "at least 1 item"),
        ("gettimeout: c\n        returns: $", "expected a variable"),
        ("gettimeout: c\n        save: 2x", "expected a variable name"),
        ("gettimeout: c\n        elapsed: {}", "elapsed needs min, max or both"),
        ("recv: {socket: c, bufsize: 1}\n        bytes: {exact: a, text: b}", "use only one of"),
        ("packet_fault: {port: 70000, kind: cut}", "expected a port 1..65535"),
        ("packet_fault: {port: 80, kind: cut, with: tcp-reset}", "with applies to kind reject only"),
        ("packet_fault: {port: 80, kind: cut, percent: 5}", "percent applies to kind loss only"),
        ("wait: {socket: c, for: readable, timeout: 1e9s}", "at most one day"),
    ],
)
def test_values_are_checked(step: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_text(_one_step(step), "values.yaml")
    assert message in str(caught.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    load_text(_one_step("close: c", peers=f'{{srv: {{kind: echo, host: "{host}"}}}}'))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.1", "127.0.0.256", "example.com"])
def test_non_loopback_hosts_are_refused(host: str) -> None:
    with pytest.raises(ScenarioError, match="loopback only"):
        load_text(_one_step("close: c", peers=f'{{srv: {{kind: echo, host: "{host}"}}}}'))
