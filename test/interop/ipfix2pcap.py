#!/usr/bin/python3
"""Wraps an RFC 5655 IPFIX file (concatenated messages) in a pcap of one TCP connection
127.0.0.1:40000 -> 127.0.0.1:4739, so tshark's IPFIX (cflow) dissector decodes it as
IPFIX over TCP. Messages are split at their header length and sent as a byte stream in
segments of at most --mss octets (an IPFIX message may be 65535 octets, more than one
IPv4 packet can carry), preceded by a three-way handshake and followed by FIN/ACK, so
that tshark's TCP reassembly sees one clean session.

usage: ipfix2pcap.py IN.ipfix OUT.pcap [--mss N]
Prints "messages=M bytes=B" and exits 1 if IN is not a whole number of IPFIX messages.
"""

import argparse
import struct
import sys

SRC = (bytes([127, 0, 0, 1]), 40000)
DST = (bytes([127, 0, 0, 1]), 4739)
FLAG_FIN, FLAG_SYN, FLAG_PSH, FLAG_ACK = 0x01, 0x02, 0x08, 0x10


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def split_messages(data: bytes):
    messages, off = [], 0
    while off < len(data):
        if len(data) - off < 16:
            raise ValueError(f"truncated message header at offset {off}")
        version, length = struct.unpack_from("!HH", data, off)
        if version != 10 or length < 16 or off + length > len(data):
            raise ValueError(f"bad message at offset {off}: version {version} length {length}")
        messages.append(data[off:off + length])
        off += length
    return messages


class pcap_writer:
    def __init__(self, out):
        self.out = out
        self.ts = 1_700_000_000.0
        # Classic pcap, microseconds, LINKTYPE_RAW (101): packets start at the IPv4 header.
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 101))
        self.ip_id = 1

    def tcp(self, src, dst, seq, ack, flags, payload=b""):
        sport, dport = src[1], dst[1]
        tcp_hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                              5 << 4, flags, 65535, 0, 0)
        pseudo = src[0] + dst[0] + struct.pack("!BBH", 0, 6, len(tcp_hdr) + len(payload))
        csum = checksum(pseudo + tcp_hdr + payload)
        tcp_hdr = tcp_hdr[:16] + struct.pack("!H", csum) + tcp_hdr[18:]
        total = 20 + len(tcp_hdr) + len(payload)
        ip_hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, self.ip_id & 0xFFFF, 0x4000, 64,
                             6, 0, src[0], dst[0])
        ip_hdr = ip_hdr[:10] + struct.pack("!H", checksum(ip_hdr)) + ip_hdr[12:]
        self.ip_id += 1
        frame = ip_hdr + tcp_hdr + payload
        sec = int(self.ts)
        self.out.write(struct.pack("<IIII", sec, int((self.ts - sec) * 1e6), len(frame),
                                   len(frame)))
        self.out.write(frame)
        self.ts += 0.001


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--mss", type=int, default=16384)
    opts = parser.parse_args(argv[1:])
    args, mss = [opts.input, opts.output], opts.mss
    with open(args[0], "rb") as f:
        data = f.read()
    try:
        messages = split_messages(data)
    except ValueError as e:
        print(f"ipfix2pcap: {args[0]}: {e}", file=sys.stderr)
        return 1
    with open(args[1], "wb") as out:
        w = pcap_writer(out)
        cseq, sseq = 1000, 5000
        w.tcp(SRC, DST, cseq, 0, FLAG_SYN)
        w.tcp(DST, SRC, sseq, cseq + 1, FLAG_SYN | FLAG_ACK)
        cseq += 1
        sseq += 1
        w.tcp(SRC, DST, cseq, sseq, FLAG_ACK)
        stream = b"".join(messages)
        for off in range(0, len(stream), mss):
            seg = stream[off:off + mss]
            w.tcp(SRC, DST, cseq, sseq, FLAG_ACK | FLAG_PSH, seg)
            cseq += len(seg)
            w.tcp(DST, SRC, sseq, cseq, FLAG_ACK)
        w.tcp(SRC, DST, cseq, sseq, FLAG_FIN | FLAG_ACK)
        w.tcp(DST, SRC, sseq, cseq + 1, FLAG_FIN | FLAG_ACK)
        w.tcp(SRC, DST, cseq + 1, sseq + 1, FLAG_ACK)
    print(f"messages={len(messages)} bytes={len(data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
