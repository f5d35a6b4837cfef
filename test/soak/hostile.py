#!/usr/bin/env python3
"""The soak test's hostile client, alongside the real exporters until SIGTERM. Two
processes, so that the attack's own work never delays the probe's measurement:

  hostile.py attack TCP_PORT UDP_PORT ADMIN_PORT REPORT

  - a pool of idle TCP connections to the IPFIX listener and to the admin port, one of
    each replaced every second (so a leak of sessions or descriptors shows as growth);
  - every 200 ms a TCP connection that sends garbage, one that sends a bad version, and
    one that sends part of a message (the header promises more) and hangs up a second
    later;
  - a slowloris client on the admin port, a header line every 2 s;
  - garbage UDP datagrams to the UDP listener (no valid message, so no records).
  None of it carries a valid data record: the run's record accounting stays exact.

  hostile.py probe ADMIN_PORT REPORT
  - GET /healthz once a second, timed (a probe fails when it gets no 200 within 10 s).

At SIGTERM each writes a JSON report to REPORT: the connections it opened; the probes,
failed probes, probes slower than 1 s, and the median, 99th percentile and slowest probe
in ms."""
import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time

mode = sys.argv[1]
if mode == 'attack':
    tcp_port, udp_port, admin_port, report = (int(sys.argv[2]), int(sys.argv[3]),
                                              int(sys.argv[4]), sys.argv[5])
else:
    admin_port, report = int(sys.argv[2]), sys.argv[3]
stop = threading.Event()
stats = {'probes': 0, 'probe_failures': 0, 'slow_probes': 0, 'connections': 0}
probe_ms = []
rng = random.Random(16)


def connect(port):
    s = socket.socket()
    s.settimeout(5)
    s.connect(('127.0.0.1', port))
    stats['connections'] += 1
    return s


def quietly(f, *args):
    try:
        return f(*args)
    except OSError:
        return None


def idle_pools():
    pools = {tcp_port: [], admin_port: []}
    while not stop.is_set():
        for port, pool in pools.items():
            while len(pool) < 16:
                s = quietly(connect, port)
                if s is None:
                    break
                pool.append(s)
            if pool:
                pool.pop(0).close()
        stop.wait(1)
    for pool in pools.values():
        for s in pool:
            s.close()


def bad_messages():
    pending = []
    while not stop.is_set():
        garbage = os.urandom(rng.randint(1, 300))
        bad_version = struct.pack('!HHIII', 9, 32, 0, 0, 1) + bytes(16)
        partial = struct.pack('!HHIII', 10, 2000, 0, 0, 1) + bytes(84)
        for payload, linger in ((garbage, False), (bad_version, False), (partial, True)):
            s = quietly(connect, tcp_port)
            if s is None:
                continue
            quietly(s.sendall, payload)
            if linger:
                pending.append((time.time() + 1, s))
            else:
                s.close()
        now = time.time()
        while pending and pending[0][0] <= now:
            pending.pop(0)[1].close()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(3):
            quietly(u.sendto, os.urandom(rng.randint(1, 200)), ('127.0.0.1', udp_port))
        u.close()
        stop.wait(0.2)
    for _, s in pending:
        s.close()


def slowloris():
    while not stop.is_set():
        s = quietly(connect, admin_port)
        if s is None:
            stop.wait(1)
            continue
        quietly(s.sendall, b'GET /metrics HTTP/1.1\r\nHost: soak\r\n')
        for i in range(30):
            if stop.wait(2) or quietly(s.sendall, b'X-Slow-%d: 1\r\n' % i) is None:
                break
        s.close()


def probes():
    while not stop.is_set():
        t0 = time.time()
        ok = False
        try:
            s = connect(admin_port)
            s.settimeout(10)
            s.sendall(b'GET /healthz HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n')
            answer = b''
            while True:
                b = s.recv(4096)
                if not b:
                    break
                answer += b
            s.close()
            ok = answer.startswith(b'HTTP/1.1 200')
        except OSError:
            pass
        ms = (time.time() - t0) * 1000
        stats['probes'] += 1
        stats['probe_failures'] += 0 if ok else 1
        stats['slow_probes'] += 1 if ms > 1000 else 0
        probe_ms.append(ms)
        stop.wait(1)


signal.signal(signal.SIGTERM, lambda *_: stop.set())
work = (idle_pools, bad_messages, slowloris) if mode == 'attack' else (probes,)
threads = [threading.Thread(target=f) for f in work]
for t in threads:
    t.start()
while not stop.is_set():
    stop.wait(0.5)
for t in threads:
    t.join(15)
probe_ms.sort()
if probe_ms:
    stats['median_probe_ms'] = round(probe_ms[len(probe_ms) // 2], 1)
    stats['p99_probe_ms'] = round(probe_ms[min(len(probe_ms) - 1, len(probe_ms) * 99 // 100)], 1)
    stats['slowest_probe_ms'] = round(probe_ms[-1], 1)
with open(report, 'w') as f:
    json.dump(stats, f)
os._exit(0)
