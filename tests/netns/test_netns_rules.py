"""Pure parts of the netns layer: fault validation, nft script rendering, /proc/net/tcp parsing, sysctl names.

No namespace and no privileges needed: these run everywhere.
"""

from __future__ import annotations

import pytest

from sockharness.netns._flows import parse_proc_net_tcp, peer_ports_of
from sockharness.netns._namespace import sysctl_path
from sockharness.netns._rules import (
    Direction,
    FaultKind,
    RejectWith,
    make_fault,
    render_add,
    render_drop_table,
    render_remove,
)

PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
   3: 0100007F:C351 0100007F:1F90 06 00000000:00000000 03:00000F9D 00000000     0        0 0 3 0
   4: 0100007F:C352 0100007F:1F90 08 00000000:00000000 00:00000000 00000000     0        0 4 1 0 20 4 30 10 -1
   5: 0100007F:2710 0100007F:C353 01 00000000:00000000 00:00000000 00000000     0        0 5 1 0 20 4 30 10 -1
"""


def _script(kind: str, **kwargs: object) -> str:
    fault = make_fault(kind, 8080, name="f", **kwargs)  # type: ignore[arg-type]
    return render_add("t", "c", fault)


def test_every_fault_is_one_base_chain_on_the_input_hook() -> None:
    script = _script("blackhole")
    assert script.splitlines() == [
        "add chain inet t c { type filter hook input priority filter; policy accept; }",
        "add rule inet t c meta l4proto { tcp, udp } th dport 8080 drop",
        "add rule inet t c meta l4proto { tcp, udp } th sport 8080 drop",
    ]


@pytest.mark.parametrize(
    ("direction", "sides"), [("out", ["dport"]), ("in", ["sport"]), ("both", ["dport", "sport"])]
)
def test_direction_picks_which_side_of_the_port_matches(direction: str, sides: list[str]) -> None:
    rules = [line for line in _script("blackhole", direction=direction).splitlines() if "add rule" in line]
    assert [line.split(" th ")[1].split()[0] for line in rules] == sides


def test_loss_uses_a_random_draw_with_hundredth_percent_resolution() -> None:
    assert "numgen random mod 10000 < 1250 drop" in _script("loss", percent=12.5, direction="out")


@pytest.mark.parametrize(
    ("reject_with", "statement"),
    [
        ("host-unreachable", "reject with icmpx type host-unreachable"),
        ("net-unreachable", "reject with icmpx type no-route"),
        ("port-unreachable", "reject with icmpx type port-unreachable"),
        ("admin-prohibited", "reject with icmpx type admin-prohibited"),
    ],
)
def test_icmp_rejects_use_family_neutral_icmpx_types(reject_with: str, statement: str) -> None:
    assert f"th dport 8080 {statement}" in _script("reject", reject_with=reject_with, direction="out")


def test_tcp_reset_never_answers_a_reset() -> None:
    # Both directions: the RST sent for the client's SYN comes *from* the port and must not be rejected too.
    script = _script("reject", reject_with="tcp-reset")
    assert "tcp dport 8080 tcp flags & rst == 0 reject with tcp reset" in script
    assert "tcp sport 8080 tcp flags & rst == 0 reject with tcp reset" in script


def test_reject_defaults_to_port_unreachable_like_nft() -> None:
    assert make_fault("reject", 80, name="r").reject_with is RejectWith.PORT_UNREACHABLE


def test_cut_names_the_connections_by_their_other_end() -> None:
    script = _script("cut", peer_ports=[50001, 50000, 50000])
    assert "tcp dport 8080 tcp sport { 50000, 50001 } drop" in script
    assert "tcp sport 8080 tcp dport { 50000, 50001 } drop" in script


def test_remove_and_drop_are_single_transactions() -> None:
    assert render_remove("t", "c") == "flush chain inet t c\ndelete chain inet t c\n"
    assert render_drop_table("t") == "delete table inet t\n"


def test_arguments_accept_enums_and_case_insensitive_words() -> None:
    fault = make_fault("LOSS", 1, name="x", percent=1, direction=Direction.IN)
    assert (fault.kind, fault.direction) == (FaultKind.LOSS, Direction.IN)
    assert fault.describe() == "x: loss 1% on port 1 (in)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "flood"}, "kind='flood' is not one of: blackhole, loss, reject, cut"),
        ({"port": 0}, "port=0 must be an integer port 1-65535"),
        ({"port": True}, "port=True must be an integer port"),
        ({"direction": "sideways"}, "direction='sideways' is not one of: out, in, both"),
        ({"kind": "loss"}, "percent=None: kind 'loss' needs a percentage"),
        ({"kind": "loss", "percent": 0}, "percent=0 must be greater than 0"),
        ({"kind": "loss", "percent": 101}, "percent=101 must be greater than 0 and at most 100"),
        ({"percent": 5}, "percent=5 only applies to kind 'loss'"),
        ({"kind": "reject", "reject_with": "icmp-echo"}, "reject_with='icmp-echo' is not one of: tcp-reset"),
        ({"reject_with": "tcp-reset"}, "reject_with='tcp-reset' only applies to kind 'reject'"),
        ({"kind": "cut"}, "kind 'cut' on port 80: no open TCP connection uses that port"),
        ({"name": "has space"}, "name='has space' must be 1-64 characters"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"kind": "blackhole", "port": 80, "name": "ok", **kwargs}
    with pytest.raises(ValueError) as raised:
        make_fault(**arguments)  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_proc_net_tcp_parsing_and_live_peer_ports() -> None:
    entries = parse_proc_net_tcp(PROC_NET_TCP)
    assert [(e.local_port, e.remote_port, e.state) for e in entries][:3] == [
        (8080, 0, 0x0A),
        (8080, 50000, 0x01),
        (50000, 8080, 0x01),
    ]
    # LISTEN and TIME_WAIT carry nothing; CLOSE_WAIT still does; other ports are ignored.
    assert peer_ports_of(entries, 8080) == {50000, 50002}


def test_proc_net_tcp_garbage_is_reported_with_its_line() -> None:
    with pytest.raises(ValueError, match="line 2 is not in the kernel's format"):
        parse_proc_net_tcp("header\n 0: nonsense\n")


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("net.ipv4.tcp_syn_retries", "/proc/sys/net/ipv4/tcp_syn_retries"),
        ("net/core/somaxconn", "/proc/sys/net/core/somaxconn"),
    ],
)
def test_sysctl_names_map_to_proc_paths(name: str, path: str) -> None:
    assert sysctl_path(name) == path


@pytest.mark.parametrize("name", ["kernel.panic", "net", "net.ipv4", "net/../kernel/x", "vm.swappiness"])
def test_only_net_sysctls_are_accepted(name: str) -> None:
    with pytest.raises(ValueError, match=r"only net\.\* sysctls"):
        sysctl_path(name)
