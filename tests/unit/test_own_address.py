"""Which replica addresses name this node (storage-node/own_address.py), and the host form that
container updates and stats reports accept (updates.split_host)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from dolmen.storage_node.config import StorageNodeConfig
from dolmen.storage_node.own_address import OwnAddress, binds_locally
from dolmen.storage_node.updates import split_host


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("10.0.0.5:6200", ("10.0.0.5", 6200)),
        ("[::1]:6200", ("::1", 6200)),
        ("[0:0:0:0:0:0:0:1]:1", ("::1", 1)),
        ("127.0.0.1:65535", ("127.0.0.1", 65535)),
    ],
)
def test_split_host_reads_the_rings_form(host, expected):
    ip, port = expected
    assert split_host(host) == (ipaddress.ip_address(ip), port)


@pytest.mark.parametrize(
    "host",
    [
        "",
        "10.0.0.5",
        "10.0.0.5:",
        "10.0.0.5:0",
        "10.0.0.5:06200",
        "10.0.0.5:65536",
        "10.0.0.5:+80",
        "10.0.0.5:٣",  # a digit, but not an ASCII one
        "::1:6200",  # IPv6 without brackets: ambiguous
        "[10.0.0.5]:6200",  # brackets around IPv4
        "[::1:6200",
        "node1:6200",  # names are not addresses: the rings hold addresses
        "010.0.0.5:6200",
    ],
)
def test_split_host_refuses_anything_else(host):
    assert split_host(host) is None


def test_one_bound_address_is_own_at_its_port_only():
    own = OwnAddress(bind_ip="10.0.0.5", bind_port=6200)
    assert own.is_own("10.0.0.5:6200")
    assert not own.is_own("10.0.0.5:6201")
    assert not own.is_own("10.0.0.6:6200")
    assert not own.is_own("not an address")


def test_ipv6_compares_as_an_address_in_brackets():
    own = OwnAddress(bind_ip="0:0:0:0:0:0:0:1", bind_port=6200)
    assert own.is_own("[::1]:6200")
    assert own.is_own("[0::1]:6200")
    assert not own.is_own("::1:6200")


def test_ring_ip_overrides_bind_ip():
    own = OwnAddress(bind_ip="0.0.0.0", bind_port=6200, ring_ip="192.0.2.7", is_local=lambda ip: True)
    assert own.is_own("192.0.2.7:6200")
    assert not own.is_own("127.0.0.1:6200")  # local, but not the address the rings use


def test_a_wildcard_owns_the_machines_addresses_of_its_family():
    asked: list[object] = []

    def is_local(ip):
        asked.append(ip)
        return ip in (ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("::1"))

    own = OwnAddress(bind_ip="0.0.0.0", bind_port=6200, is_local=is_local)
    assert own.is_own("10.0.0.5:6200")
    assert not own.is_own("10.0.0.6:6200")
    assert not own.is_own("[::1]:6200")  # 0.0.0.0 listens on IPv4 only
    assert own.is_own("10.0.0.5:6200")
    assert asked == [ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("10.0.0.6")]  # once each
    six = OwnAddress(bind_ip="::", bind_port=6200, is_local=is_local)
    assert six.is_own("[::1]:6200")
    assert not six.is_own("10.0.0.5:6200")


def test_no_port_or_a_host_name_knows_no_address_of_its_own():
    anywhere = lambda ip: True  # noqa: E731
    assert not OwnAddress(bind_ip="10.0.0.5", bind_port=0).is_own("10.0.0.5:6200")
    assert not OwnAddress(bind_ip="node1.example", bind_port=6200, is_local=anywhere).is_own("10.0.0.5:6200")
    named = OwnAddress(bind_ip="node1.example", bind_port=6200, ring_ip="10.0.0.5")
    assert named.is_own("10.0.0.5:6200")


def test_the_descriptions_say_what_counts():
    assert OwnAddress(bind_ip="10.0.0.5", bind_port=6200).described == "10.0.0.5 port 6200"
    assert "any local IPv4" in OwnAddress(bind_ip="0.0.0.0", bind_port=6200).described
    assert "set ring_ip" in OwnAddress(bind_ip="node1.example", bind_port=6200).described
    assert "any free port" in OwnAddress(bind_ip="10.0.0.5", bind_port=0).described


def test_binds_locally_on_this_machine():
    """Real sockets: loopback is this machine's; 192.0.2.1 (TEST-NET-1) is nobody's."""
    if Path("/proc/sys/net/ipv4/ip_nonlocal_bind").read_text().strip() != "0":
        pytest.skip("this kernel lets any IPv4 address be bound: the probe answers no for all")
    assert binds_locally(ipaddress.ip_address("127.0.0.1"))
    assert binds_locally(ipaddress.ip_address("127.0.0.2"))
    assert not binds_locally(ipaddress.ip_address("192.0.2.1"))


def test_ring_ip_must_be_one_address(tmp_path):
    base = {"devices": ("d1",), "cluster_secret_file": tmp_path / "secret"}
    assert StorageNodeConfig(**base, ring_ip="10.0.0.5").ring_ip == "10.0.0.5"
    with pytest.raises(ValueError, match="ring_ip must be an IPv4 or IPv6 address"):
        StorageNodeConfig(**base, ring_ip="node1.example")
    with pytest.raises(ValueError, match="not a wildcard"):
        StorageNodeConfig(**base, ring_ip="::")


def test_binds_locally_on_ipv6_loopback():
    if Path("/proc/sys/net/ipv6/ip_nonlocal_bind").read_text().strip() != "0":
        pytest.skip("this kernel lets any IPv6 address be bound: the probe answers no for all")
    assert binds_locally(ipaddress.ip_address("::1"))
    assert not binds_locally(ipaddress.ip_address("2001:db8::1"))  # documentation prefix: nobody's


def test_where_any_address_binds_the_probe_answers_no(tmp_path, monkeypatch):
    """With ip_nonlocal_bind on, binding proves nothing: no wildcard address counts as own
    (the node then needs ring_ip, and its updates to itself go over HTTP meanwhile)."""
    from dolmen.storage_node import own_address

    setting = tmp_path / "ip_nonlocal_bind"
    setting.write_text("1\n")
    monkeypatch.setitem(own_address._NONLOCAL_BIND_SETTINGS, 4, setting)
    assert not binds_locally(ipaddress.ip_address("127.0.0.1"))
    monkeypatch.setitem(own_address._NONLOCAL_BIND_SETTINGS, 4, tmp_path / "missing")
    assert not binds_locally(ipaddress.ip_address("127.0.0.1"))
