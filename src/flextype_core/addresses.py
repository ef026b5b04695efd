"""Which network addresses a webhook may be sent to: the private-network guard.

A webhook URL is checked after DNS resolution, at create and at every delivery (a name
may resolve elsewhere later): every address it resolves to must be public, unless the
project allows private networks. The check itself is pure; resolving is the
``HostResolver`` port's.
"""

from __future__ import annotations

import ipaddress

__all__ = ["forbidden_reason"]


def forbidden_reason(address: str) -> str | None:
    """Return why ``address`` (an IPv4 or IPv6 literal) is not public, or None if it is.

    Loopback, private, link-local, multicast, unspecified and reserved addresses are not
    public, nor is any other address IANA does not list as globally reachable (shared
    address space 100.64.0.0/10, which holds cloud metadata services; site-local fec0::/10;
    6to4 2002::/16, which embeds an IPv4 address); an IPv4 address mapped into IPv6 is
    judged as the IPv4 address.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:  # 6to4 routes to the IPv4 address it embeds
            embedded = forbidden_reason(str(ip.sixtofour))
            return None if embedded is None else f"6to4 of a {embedded} address"
        elif ip.is_site_local:
            return "site-local"
    for reason, flagged in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("not globally reachable", not ip.is_global),
    ):
        if flagged:
            return reason
    return None
