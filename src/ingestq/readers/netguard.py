"""Keep the scraper out of private networks (SSRF).

A URL is fetched only after its host is resolved and every address it resolves
to is checked. The request then goes to the checked address itself (the host
name travels in the Host header and TLS SNI), so a DNS answer that changes
between the check and the connection (rebinding) cannot slip past.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ingestq.errors import BlockedURLError, TransientJobError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

ALLOW_HINT = "set INGESTQ_ALLOW_PRIVATE_NETWORKS=1 in the worker's environment to allow it"


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TransientJobError(f"cannot resolve {host}: {exc.strerror}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


#: IPv6 prefixes that carry an IPv4 address in their last 32 bits (RFC 6052 NAT64,
#: the well-known prefix and the local-use one).
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address; the server part is public by design
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(ip: IPAddress) -> str:
    """Why ``ip`` is off limits, or "" if it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and (inner := embedded_ipv4(ip)) is not None:
        # Reaching it reaches the IPv4 address inside, so that is what is judged.
        reason = refusal(inner)
        return f"{reason} (it embeds {inner})" if reason else ""
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata lives there)"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "non-public"
    return ""


@dataclass(frozen=True)
class Target:
    """Where to connect for a URL: its host name and the address checked for it."""

    host: str
    port: int
    address: str


class NetGuard:
    """Resolves and vets hosts. ``exempt`` is a test seam: addresses treated as public."""

    def __init__(
        self, allow_private: bool, resolver: Resolver = system_resolver, exempt: Iterable[str] = ()
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.exempt = frozenset(exempt)

    def check(self, url: str) -> Target:
        """The address to connect to for ``url``; :class:`BlockedURLError` if refused."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in self.resolver(host, port)]
        if not addresses:
            raise TransientJobError(f"cannot resolve {host}: no addresses")
        if not self.allow_private:
            for ip in addresses:
                reason = refusal(ip) if str(ip) not in self.exempt else ""
                if reason:
                    raise BlockedURLError(
                        f"refused {url}: {host} is a {reason} address ({ip}); {ALLOW_HINT}"
                    )
        return Target(host=host, port=port, address=str(addresses[0]))
