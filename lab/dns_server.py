"""The router's DNS server: every name is NXDOMAIN, as for a realm host only an internal DNS knows.

    python -m lab.dns_server --listen 192.168.1.1:53

Answers over UDP with the root zone's SOA in the authority section, as a
public resolver does for ``harbor-core.internal``. Uses dnspython, which pushcap
already depends on. One JSON line per query on stdout.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections.abc import Sequence

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rrset

ROOT_SOA = "a.root-servers.net. nstld.verisign-grs.com. 2024010100 1800 900 604800 86400"


def nxdomain(query: bytes) -> bytes | None:
    """The NXDOMAIN answer to a query, or None for bytes that are not a DNS query."""
    try:
        request = dns.message.from_wire(query)
    except dns.exception.DNSException:
        return None
    response = dns.message.make_response(request)
    response.set_rcode(dns.rcode.NXDOMAIN)
    response.flags |= dns.flags.RA
    response.authority.append(dns.rrset.from_text(".", 86400, "IN", "SOA", ROOT_SOA))
    wire: bytes = response.to_wire()
    return wire


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.dns_server", description=__doc__)
    parser.add_argument("--listen", required=True, help="ADDR:PORT")
    args = parser.parse_args(argv)
    addr, _, port = args.listen.rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((addr, int(port)))
        print(json.dumps({"event": "ready", "listen": args.listen}), flush=True)
        while True:
            data, peer = sock.recvfrom(4096)
            reply = nxdomain(data)
            if reply is not None:
                sock.sendto(reply, peer)
            print(
                json.dumps({"t": round(time.time(), 6), "event": "query", "from": peer[0]}),
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
