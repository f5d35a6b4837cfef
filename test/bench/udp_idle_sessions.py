#!/usr/bin/env python3
"""Memory of idle UDP exporter sessions (issue 16, defect 7).

Starts BINARY (flow-aggregator) with one udp:// listener, then N exporters, each from a
new source port, send one message (a template and one record, or only a data set with
--untemplated) and go quiet, as exporters that churn through source ports do. Prints
the resident memory before and after, and per session.

  test/bench/udp_idle_sessions.py build/release/app/flow-aggregator [N] [--untemplated]
"""

import json
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request


def message(seq, with_template):
    sets = b""
    if with_template:  # template 256: sourceIPv4Address, destinationIPv4Address, octetDeltaCount
        body = struct.pack("!HH", 256, 3) + struct.pack("!HHHHHH", 8, 4, 12, 4, 1, 8)
        sets += struct.pack("!HH", 2, 4 + len(body)) + body
    rec = struct.pack("!IIQ", 0x0A000001, 0x0A000002, 1500)
    sets += struct.pack("!HH", 256, 4 + len(rec)) + rec
    return struct.pack("!HHIII", 10, 16 + len(sets), 0, seq, 1) + sets


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def metric(admin, name, labels=""):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin, timeout=10).read().decode()
    m = re.search(r"^flow_aggregator_%s%s (\S+)$" % (name, re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else 0.0


def main():
    # Every exporter keeps its socket (and so its source port: the kernel would hand a
    # closed one out again, and two exporters would share a session).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 5000
    untemplated = "--untemplated" in sys.argv
    d = tempfile.mkdtemp(prefix="udp-idle-")
    with open(d + "/fa.toml", "w") as f:
        f.write('[collector]\nlisten = ["udp://127.0.0.1:0"]\nmax_sessions = 100000\n'
                'max_udp_sessions = 100000\nmax_sessions_per_address = 100000\n'
                'udp_untemplated_idle_timeout = "1h"\n'
                '[admin]\nlisten = "127.0.0.1:0"\n[runtime]\nlog_format = "json"\n'
                '[[destination]]\nname = "out"\nurl = "jsonl:%s/out.jsonl"\n' % d)
    err = open(d + "/fa.err", "w")
    p = subprocess.Popen([binary, "run", "-c", d + "/fa.toml"], stderr=err, stdout=err)
    port = admin = 0
    for _ in range(300):
        time.sleep(0.1)
        for line in open(d + "/fa.err"):
            if not line.startswith("{"):
                continue
            j = json.loads(line)
            if j.get("event") == "listening":
                port = int(j["port"])
            if "admin_port" in j:
                admin = int(j["admin_port"])
        if port and admin:
            break
    try:
        target = ("127.0.0.1", port)
        # Warm up (first session, thread stacks, allocator arenas), then measure.
        socks = []

        def exporters(k):
            for i in range(k):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.sendto(message(0, not untemplated), target)
                socks.append(s)
                if i % 500 == 499:
                    time.sleep(0.05)  # no receive buffer overflow

        def settle(k):
            deadline = time.time() + 60
            while metric(admin, "sessions_open", '{transport="udp"}') < k and time.time() < deadline:
                time.sleep(0.1)
            time.sleep(1)
            return metric(admin, "sessions_open", '{transport="udp"}')

        warm = 200
        exporters(warm)
        opened_warm = settle(warm)
        before = rss_kib(p.pid)
        exporters(n)
        opened = settle(warm + n) - opened_warm
        after = rss_kib(p.pid)
        print("sessions %d (opened %d)  RSS %d -> %d KiB  %.0f bytes per idle session"
              % (n, opened, before, after, (after - before) * 1024.0 / max(opened, 1)))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)


if __name__ == "__main__":
    main()
