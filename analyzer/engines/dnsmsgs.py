"""DNS messages from Wireshark's DNS dissector, fed to the same tracker as the default engine.

How this works: tshark prints a message's resource records as parallel lists
(``dns.resp.name``, ``dns.resp.type``, ``dns.resp.class``) covering the
answer, authority and additional sections in order, and each record's data in
a list of its own type (``dns.a``, ``dns.aaaa``, ``dns.cname``). The first
``dns.count.answers`` records are the answers; walking them in order and taking
the next value of the matching data list rebuilds each answer, exactly as the
default engine reads them with dnspython: addresses only from class IN A/AAAA
records, CNAMEs followed within the message. A frame that holds several DNS
messages (DNS over TCP) is read for its first one only.
"""

from __future__ import annotations

import dns.rdatatype

from analyzer.dns import DnsMessage
from analyzer.engines.fields import Layers, first, flag, to_int

_A, _CNAME, _AAAA = 1, 5, 28
_CLASS_IN = 1


def _name(text: str) -> str:
    text = text.lower().rstrip(".")
    return "" if text == "<root>" else text


def message_from_fields(layers: Layers) -> DnsMessage | None:
    """The first DNS message of a frame, or ``None`` when it has no question."""
    ident, qname = first(layers, "dns_id"), first(layers, "dns_qry_name")
    if ident is None or qname is None:
        return None
    qtype = to_int(first(layers, "dns_qry_type"))
    answers = to_int(first(layers, "dns_count_answers"))
    names = layers.get("dns_resp_name", [])
    types = layers.get("dns_resp_type", [])
    classes = layers.get("dns_resp_class", [])
    data = {_A: iter(layers.get("dns_a", [])), _AAAA: iter(layers.get("dns_aaaa", []))}
    cname_values = iter(layers.get("dns_cname", []))
    addresses: list[tuple[str, str]] = []
    cnames: list[tuple[str, str]] = []
    for i in range(min(answers, len(names), len(types))):
        rtype = to_int(types[i])
        owner = _name(names[i])
        rclass = to_int(classes[i]) if i < len(classes) else _CLASS_IN
        if rtype in data:
            value = next(data[rtype], None)
            if value is not None and rclass & 0x7FFF == _CLASS_IN:
                addresses.append((owner, value))
        elif rtype == _CNAME:
            target = next(cname_values, None)
            if target is not None:
                cnames.append((owner, _name(target)))
    return DnsMessage(
        id=to_int(ident),
        is_response=flag(first(layers, "dns_flags_response")),
        rcode=to_int(first(layers, "dns_flags_rcode")),
        qname=_name(qname),
        qtype=dns.rdatatype.to_text(dns.rdatatype.RdataType.make(qtype)) if qtype else "0",
        addresses=tuple(addresses),
        cnames=tuple(cnames),
    )
