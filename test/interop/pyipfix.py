#!/usr/bin/python3
"""python3-ipfix (Brian Trammell's `ipfix` module, Debian python3-ipfix) on both ends of
flow-aggregator, for the interop tests. Run it with /usr/bin/python3: the module is only
installed for the system interpreter.

  pyipfix.py export --target HOST:PORT --odid N --records N [--per-message K]
      Connects over TCP (HOST may be an IPv6 address in brackets), sends one template
      and N data records of plain IANA elements, K records per message, then closes the
      sending side and waits for the peer to close. Record i is a pure function of
      (odid, i): see expected_record(). The template has a variable-length string (some
      values in the 3-octet length form) and a reduced-size counter.

  pyipfix.py check FILE --odid N --records N --exporter4 ADDR --exporter6 ADDR
      Reads an RFC 5655 file (ipfix-collector --save) with python3-ipfix, finds the N
      records `export` sent, and checks that every original field arrived unchanged and
      that flow-aggregator appended originalObservationDomainId (405) = N,
      originalExporterIPv4Address (403) and originalExporterIPv6Address (404) as given,
      and nothing else. Also checks the output's sequence numbers (RFC 7011 3.1).

  pyipfix.py decode FILE --antrea-csv CSV
      Decodes every record of FILE with python3-ipfix (Antrea elements registered from
      CSV) and checks the sequence numbers.

`check` and `decode` print one JSON object on stdout and exit 0 when nothing was wrong,
1 otherwise (the JSON then lists the problems, at most 20).
"""

import argparse
import csv
import ipaddress
import json
import socket
import struct
import sys
import time
from datetime import datetime

import ipfix.ie
import ipfix.message
import ipfix.template

TEMPLATE_ID = 300
FIELDS = [
    "sourceIPv4Address",
    "destinationIPv4Address",
    "sourceTransportPort",
    "destinationTransportPort",
    "protocolIdentifier",
    "octetDeltaCount",
    "packetDeltaCount[4]",  # reduced-size encoding (RFC 7011 6.2): passed through as is
    "flowStartMilliseconds",
    "flowEndMilliseconds",
    "ingressInterface",
    "interfaceName",  # variable length: 1-octet and 3-octet length forms
]
PROVENANCE = {
    "originalObservationDomainId",
    "originalExporterIPv4Address",
    "originalExporterIPv6Address",
}
EPOCH_MS = 1_700_000_000_000


def expected_record(odid, i):
    """Record i of exporter `odid`. packetDeltaCount = i + 1 identifies it."""
    start = EPOCH_MS + i * 7
    # Every tenth name is longer than 254 octets, so it is sent with the 3-octet length.
    name = f"eth{i % 4}-odid{odid}" + ("-" + "x" * 300 if i % 10 == 3 else "")
    return {
        "sourceIPv4Address": ipaddress.IPv4Address(f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"),
        "destinationIPv4Address": ipaddress.IPv4Address(f"192.0.2.{i % 250 + 1}"),
        "sourceTransportPort": 10000 + i % 50000,
        "destinationTransportPort": (443, 53, 8080)[i % 3],
        "protocolIdentifier": (6, 17)[i % 2],
        "octetDeltaCount": 1000 * (i + 1) + odid,
        "packetDeltaCount": i + 1,
        "flowStartMilliseconds": datetime.utcfromtimestamp(start / 1000),
        "flowEndMilliseconds": datetime.utcfromtimestamp((start + 1500 + i % 1000) / 1000),
        "ingressInterface": odid * 10 + i % 10,
        "interfaceName": name,
    }


def split_host_port(text):
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    return host, int(port)


def cmd_export(args):
    ipfix.ie.use_iana_default()
    tmpl = ipfix.template.from_ielist(TEMPLATE_ID, ipfix.ie.spec_list(FIELDS))
    host, port = split_host_port(args.target)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect((host, port))
    msg = ipfix.message.MessageBuffer()
    msg.begin_export(args.odid)
    msg.add_template(tmpl)
    sent = messages = 0
    in_message = 0
    for i in range(args.records):
        msg.export_ensure_set(TEMPLATE_ID)
        msg.export_namedict(expected_record(args.odid, i))
        sent += 1
        in_message += 1
        if in_message == args.per_message:
            sock.sendall(msg.to_bytes())
            messages += 1
            in_message = 0
            msg.begin_export(args.odid)
    if in_message > 0 or messages == 0:
        sock.sendall(msg.to_bytes())
        messages += 1
    # Close our side and read until the peer closes, so nothing is cut off in flight.
    sock.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline and sock.recv(4096):
            pass
    except (socket.timeout, ConnectionResetError):
        pass
    sock.close()
    print(json.dumps({"records": sent, "messages": messages, "odid": args.odid}))
    return 0


class sequence_checker:
    """RFC 7011 3.1: a message's sequence number is the number of data records sent
    before it in the session and ODID (the saved file holds one session)."""

    def __init__(self):
        self.next = {}
        self.errors = []

    def message(self, odid, seq):
        want = self.next.setdefault(odid, seq)
        if seq != want:
            self.errors.append(f"ODID {odid}: sequence number {seq}, expected {want}")
            self.next[odid] = seq

    def records(self, odid, n):
        self.next[odid] = (self.next[odid] + n) & 0xFFFFFFFF


def read_records(path, on_record):
    """Calls on_record(rec, header_odid) for every data record of the file; returns
    (messages, template ids seen, sequence errors)."""
    msg = ipfix.message.MessageBuffer()
    tids = set()
    msg.template_record_hook = lambda m, t: tids.add(t.tid)
    unknown = []
    msg.unknown_data_set_hook = lambda m, s: unknown.append(m.odid)
    seq = sequence_checker()
    messages = 0
    with open(path, "rb") as f:
        while True:
            try:
                msg.read_message(f)
            except EOFError:
                break
            messages += 1
            seq.message(msg.odid, msg.sequence)
            n = 0
            for rec in msg.namedict_iterator():
                on_record(rec, msg.odid)
                n += 1
            seq.records(msg.odid, n)
    errors = seq.errors + [f"data set without template in ODID {o}" for o in unknown]
    return messages, tids, errors


def finish(summary, problems):
    summary["problems"] = problems[:20]
    summary["num_problems"] = len(problems)
    print(json.dumps(summary, sort_keys=True))
    return 0 if not problems else 1


def cmd_check(args):
    ipfix.ie.use_iana_default()
    exporter4 = ipaddress.IPv4Address(args.exporter4)
    exporter6 = ipaddress.IPv6Address(args.exporter6)
    seen = {}
    problems = []
    foreign = 0

    def on_record(rec, header_odid):
        nonlocal foreign
        if rec.get("originalObservationDomainId") != args.odid:
            foreign += 1
            return
        i = rec.get("packetDeltaCount", 0) - 1
        if not 0 <= i < args.records:
            problems.append(f"record with packetDeltaCount {i + 1} out of range")
            return
        seen[i] = seen.get(i, 0) + 1
        want = expected_record(args.odid, i)
        for name, value in want.items():
            if rec.get(name) != value:
                problems.append(f"record {i}: {name} = {rec.get(name)!r}, sent {value!r}")
        if rec.get("originalExporterIPv4Address") != exporter4:
            problems.append(f"record {i}: originalExporterIPv4Address = "
                            f"{rec.get('originalExporterIPv4Address')}, want {exporter4}")
        if rec.get("originalExporterIPv6Address") != exporter6:
            problems.append(f"record {i}: originalExporterIPv6Address = "
                            f"{rec.get('originalExporterIPv6Address')}, want {exporter6}")
        extra = set(rec) - set(want) - PROVENANCE
        if extra:
            problems.append(f"record {i}: unexpected fields {sorted(extra)}")
        if header_odid == args.odid:
            problems.append(f"record {i}: message ODID is the exporter's, not the mediator's")

    messages, tids, errors = read_records(args.file, on_record)
    problems += errors
    missing = args.records - len(seen)
    if missing:
        problems.append(f"{missing} of {args.records} records missing")
    dups = sum(n - 1 for n in seen.values())
    if dups:
        problems.append(f"{dups} duplicate records")
    return finish({"messages": messages, "templates": len(tids), "records": sum(seen.values()),
                   "unique_records": len(seen), "foreign_records": foreign}, problems)


def cmd_decode(args):
    ipfix.ie.use_iana_default()
    ipfix.ie.use_5103_default()
    types = {"string": "string", "ipv4Address": "ipv4Address", "ipv6Address": "ipv6Address",
             "octetArray": "octetArray", "dateTimeSeconds": "dateTimeSeconds"}
    with open(args.antrea_csv, newline="") as f:
        for row in csv.DictReader(f):
            t = types.get(row["data_type"], row["data_type"])
            length = 65535 if row["length"] == "variable" else int(row["length"])
            ipfix.ie.for_spec(f"{row['name']}({row['enterprise']}/{row['element_id']})<{t}>[{length}]")
    per_odid = {}
    exporters4, exporters6, cluster_ids, problems = set(), set(), set(), []
    total = 0

    def on_record(rec, header_odid):
        nonlocal total
        total += 1
        odid = rec.get("originalObservationDomainId")
        if odid is None:
            problems.append("record without originalObservationDomainId")
            return
        per_odid[str(odid)] = per_odid.get(str(odid), 0) + 1
        exporters4.add(str(rec.get("originalExporterIPv4Address")))
        exporters6.add(str(rec.get("originalExporterIPv6Address")))
        if "clusterId" in rec:
            cluster_ids.add(rec["clusterId"])

    messages, tids, errors = read_records(args.file, on_record)
    problems += errors
    return finish({"messages": messages, "templates": len(tids), "records": total,
                   "per_odid": per_odid, "exporters4": sorted(exporters4),
                   "exporters6": sorted(exporters6), "cluster_ids": sorted(cluster_ids)},
                  problems)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--target", required=True)
    e.add_argument("--odid", type=int, required=True)
    e.add_argument("--records", type=int, required=True)
    e.add_argument("--per-message", type=int, default=50)
    c = sub.add_parser("check")
    c.add_argument("file")
    c.add_argument("--odid", type=int, required=True)
    c.add_argument("--records", type=int, required=True)
    c.add_argument("--exporter4", required=True)
    c.add_argument("--exporter6", required=True)
    d = sub.add_parser("decode")
    d.add_argument("file")
    d.add_argument("--antrea-csv", required=True)
    args = p.parse_args()
    return {"export": cmd_export, "check": cmd_check, "decode": cmd_decode}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
