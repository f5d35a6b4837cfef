#!/usr/bin/python3
"""Writes the Antrea information elements (PEN 56506) from ipfix/elements/antrea-elements.csv
as an IANA-registry-style XML file, the format libfixbuf reads (ipfixDump --element-file,
like /usr/share/libfixbuf/cert_ipfix.xml).

usage: antrea_xml.py antrea-elements.csv OUT.xml
"""

import csv
import sys
from xml.sax.saxutils import escape


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        print(f"antrea_xml: no elements in {argv[1]}", file=sys.stderr)
        return 1
    out = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<registry id="antrea_ipfix" xmlns="http://www.iana.org/assignments"',
        '          xmlns:cert="http://www.cert.org/ipfix">',
        "  <title>Antrea IPFIX elements (generated for the interop tests)</title>",
        '  <registry id="antrea-information-elements">',
        "    <title>Project Antrea (PEN 56506)</title>",
    ]
    for r in rows:
        out += [
            "    <record>",
            f"      <name>{escape(r['name'])}</name>",
            f"      <dataType>{escape(r['data_type'])}</dataType>",
            f"      <cert:enterpriseId>{int(r['enterprise'])}</cert:enterpriseId>",
            f"      <elementId>{int(r['element_id'])}</elementId>",
            "      <status>current</status>",
            "    </record>",
        ]
    out += ["  </registry>", "</registry>", ""]
    with open(argv[2], "w") as f:
        f.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
