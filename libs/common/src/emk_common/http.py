"""HTTP helpers shared by the services."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from fastapi import Request


def client_ip(request: Request, trusted_proxies: Sequence[str]) -> str:
    """The caller's address. ``X-Forwarded-For`` is believed only as far as it was written by
    proxies we trust (the gateway): walking it from the right, the first address that is not
    a trusted proxy is the client. Anyone else's header is ignored, so a client cannot pick
    its own rate-limit bucket."""
    peer = request.client.host if request.client else "unknown"
    networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in networks)

    if not trusted(peer):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            return hop
    return hops[0] if hops else peer
