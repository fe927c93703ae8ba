"""A real DNS server on loopback (UDP and TCP) serving in-memory zones, for tests.

Built on dnslib's ``DNSServer`` with our own resolver because dnslib's zone resolver answers
NXDOMAIN where NODATA is right and does not chase CNAMEs. This one answers like an
authoritative server:

- NOERROR with the records when the name has the type asked for;
- CNAME chains inside our data are followed (the answer holds the CNAMEs and the target's
  records), except when the CNAME itself is asked for;
- NODATA (NOERROR, empty answer) when the name exists with other types only, or is an empty
  non-terminal (``_domainkey.x`` when ``sel._domainkey.x`` exists);
- NXDOMAIN when the name does not exist;
- TXT values longer than 255 bytes are stored as several character-strings, as a zone file
  would split them;
- UDP answers larger than the client's limit (512 bytes, or its EDNS payload size) are sent
  truncated (TC bit), so clients retry over TCP exactly as against a real server.

Two misbehaviours for tests: ``timeout_name`` (the query is dropped, so the client times
out) and ``servfail_name`` (SERVFAIL). Both apply to the name and every name below it, so
one call breaks every check of a domain.

A third one is an attacker's DNS rebinding: ``answer_in_turn(name, "A", [first, then])``
answers successive queries with successive addresses (TTL 0; the last one repeats), and
``asked`` counts every query by (name, type).
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict

from dnslib import (
    AAAA,
    CNAME,
    MX,
    NS,
    QTYPE,
    RCODE,
    RR,
    TXT,
    A,
    DNSError,
    DNSHeader,
    DNSLabel,
    DNSRecord,
)
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

TTL = 60
MAX_CNAME_HOPS = 8
TXT_CHUNK = 255


def normalise(name: str) -> str:
    return name.strip().rstrip(".").lower()


def split_txt(value: str) -> list[bytes]:
    """Split a TXT value into <=255-byte character-strings (the wire format's limit)."""
    data = value.encode()
    return [data[i : i + TXT_CHUNK] for i in range(0, len(data), TXT_CHUNK)] or [b""]


def make_rdata(rtype: str, value: str) -> object:
    """dnslib rdata for a zone-file-like value ("10 mx.example.com" for MX, etc.)."""
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    if rtype == "CNAME":
        return CNAME(value.rstrip(".") + ".")
    if rtype == "NS":
        return NS(value.rstrip(".") + ".")
    if rtype == "MX":
        preference, exchange = value.split(None, 1)
        return MX(exchange.rstrip(".") + ".", int(preference))
    if rtype == "TXT":
        return TXT(split_txt(value))
    raise ValueError(f"unsupported record type {rtype}")


class ZoneResolver(BaseResolver):
    """Answers from ``records`` (name -> type -> rdata list); thread-safe for adds."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, list[object]]] = defaultdict(lambda: defaultdict(list))
        self.timeouts: set[str] = set()
        self.servfails: set[str] = set()
        self.in_turn: dict[tuple[str, str], list[object]] = {}
        self.asked: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        qname = normalise(str(request.q.qname))
        qtype = QTYPE[request.q.qtype]
        reply = request.reply()  # sets QR and AA
        with self.lock:
            if self.matches(qname, self.timeouts):
                # DNSHandler swallows DNSError without replying: the client sees silence.
                raise DNSError(f"dropping query for {qname} on purpose")
            if self.matches(qname, self.servfails):
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            self.asked[(qname, qtype)] += 1
            if any(name == qname for name, _ in self.in_turn):
                self.answer_in_turn(reply, qname, qtype)
                return reply
            self.answer(reply, qname, qtype)
        return reply

    def answer_in_turn(self, reply: DNSRecord, qname: str, qtype: str) -> None:
        turns = self.in_turn.get((qname, qtype))
        if not turns:
            return  # NODATA for the other types of a rebinding name
        rdata = turns.pop(0) if len(turns) > 1 else turns[0]
        # TTL 0: a rebinding attacker wants every lookup to come back to them.
        reply.add_answer(RR(DNSLabel(qname + "."), QTYPE.reverse[qtype], rdata=rdata, ttl=0))

    @staticmethod
    def matches(qname: str, names: set[str]) -> bool:
        return any(qname == name or qname.endswith("." + name) for name in names)

    def answer(self, reply: DNSRecord, qname: str, qtype: str) -> None:
        name = qname
        for _ in range(MAX_CNAME_HOPS):
            node = self.records.get(name)
            if node is None:
                if name == qname and not self.has_children(name):
                    reply.header.rcode = RCODE.NXDOMAIN
                # A CNAME leading out of our data: return the chain so far, like a real
                # authoritative server that is not recursive.
                return
            if qtype in node or qtype == "ANY":
                for rtype, rdatas in node.items():
                    if qtype in (rtype, "ANY"):
                        for rdata in rdatas:
                            reply.add_answer(
                                RR(DNSLabel(name + "."), QTYPE.reverse[rtype], rdata=rdata, ttl=TTL)
                            )
                return
            if "CNAME" in node:
                rdata = node["CNAME"][0]
                reply.add_answer(RR(DNSLabel(name + "."), QTYPE.CNAME, rdata=rdata, ttl=TTL))
                name = normalise(str(rdata.label))  # type: ignore[attr-defined]
                continue
            return  # NODATA: the name exists, just not with this type
        reply.header.rcode = RCODE.SERVFAIL  # a CNAME loop, as real servers report it

    def has_children(self, name: str) -> bool:
        suffix = "." + name
        return any(other.endswith(suffix) for other in self.records)


class SizedDNSHandler(DNSHandler):
    """Truncates UDP answers above the client's limit: 512 bytes, or its EDNS payload size."""

    def get_reply(self, data: bytes) -> bytes:
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        rdata = reply.pack()
        if self.protocol == "udp" and len(rdata) > self.udp_limit(request):
            # dnslib's own truncate() drops the question section, which strict clients
            # (dnspython) reject; a real server keeps it and just sets TC.
            truncated = DNSRecord(
                DNSHeader(id=reply.header.id, bitmap=reply.header.bitmap, tc=1), q=reply.q
            )
            rdata = truncated.pack()
        return rdata

    @staticmethod
    def udp_limit(request: DNSRecord) -> int:
        payloads = [rr.rclass for rr in request.ar if rr.rtype == QTYPE.OPT]
        return max(512, payloads[0]) if payloads else 512


class QuietLogger(DNSLogger):
    def __init__(self) -> None:
        super().__init__(logf=lambda _text: None)


class TestDnsServer:
    """UDP+TCP DNS server on 127.0.0.1 at a free port, running in background threads."""

    __test__ = False  # a helper, not a pytest test class

    def __init__(self) -> None:
        self.resolver = ZoneResolver()
        self.udp, self.tcp = self.bind_pair()
        self.port = self.udp.server.server_address[1]

    def bind_pair(self) -> tuple[DNSServer, DNSServer]:
        """Bind UDP and TCP on the same free port, retrying if TCP's half is taken."""
        for _ in range(20):
            udp = DNSServer(
                self.resolver,
                address="127.0.0.1",
                port=0,
                logger=QuietLogger(),
                handler=SizedDNSHandler,
            )
            port = udp.server.server_address[1]
            try:
                tcp = DNSServer(
                    self.resolver,
                    address="127.0.0.1",
                    port=port,
                    tcp=True,
                    logger=QuietLogger(),
                    handler=SizedDNSHandler,
                )
            except OSError:
                udp.server.server_close()
                continue
            return udp, tcp
        raise RuntimeError("could not find a port free for both UDP and TCP")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TestDnsServer:
        self.udp.start_thread()
        self.tcp.start_thread()
        return self

    def stop(self) -> None:
        for server in (self.udp, self.tcp):
            server.stop()
            server.server.server_close()

    def add(self, name: str, rtype: str, value: str) -> None:
        rtype = rtype.upper()
        with self.resolver.lock:
            self.resolver.records[normalise(name)][rtype].append(make_rdata(rtype, value))

    def remove(self, name: str, rtype: str | None = None) -> None:
        """Drop records at ``name`` (all types when ``rtype`` is None)."""
        with self.resolver.lock:
            node = self.resolver.records.get(normalise(name))
            if node is None:
                return
            if rtype is None:
                del self.resolver.records[normalise(name)]
            else:
                node.pop(rtype.upper(), None)

    def answer_in_turn(self, name: str, rtype: str, values: list[str]) -> None:
        """Answer the 1st query for (name, rtype) with values[0], the 2nd with values[1]...;
        the last value answers every later query."""
        rtype = rtype.upper()
        with self.resolver.lock:
            self.resolver.in_turn[(normalise(name), rtype)] = [
                make_rdata(rtype, value) for value in values
            ]

    def asked(self, name: str, rtype: str) -> int:
        """How many queries for (name, rtype) reached this server."""
        with self.resolver.lock:
            return self.resolver.asked[(normalise(name), rtype.upper())]

    def timeout_name(self, name: str) -> None:
        with self.resolver.lock:
            self.resolver.timeouts.add(normalise(name))

    def servfail_name(self, name: str) -> None:
        with self.resolver.lock:
            self.resolver.servfails.add(normalise(name))
