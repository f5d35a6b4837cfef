#!/usr/bin/env python3
"""The soak test's "collector front": forwards every TCP connection on 127.0.0.1:LISTEN to
the real collector on 127.0.0.1:TARGET, so the collector can "restart" while one
ipfix-collector counts everything the run delivered.

  SIGTERM  a graceful restart, as ipfix-collector's own stop: stop accepting, half-close
           towards each client (it sees the collector end the session), keep forwarding
           what the client still sends until it closes (at most 10 s), then exit.
  SIGKILL  a crash: whatever the relay had accepted but not forwarded (its socket's
           receive queue, the octets in hand) is lost, as with a collector that dies.

usage: relay.py LISTEN_PORT TARGET_PORT"""
import os
import signal
import socket
import sys
import threading
import time

listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
stopping = threading.Event()
clients = []
lock = threading.Lock()


def pump(src, dst, done):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    done.set()


def serve(client):
    upstream = socket.create_connection(('127.0.0.1', target_port))
    up_done, down_done = threading.Event(), threading.Event()
    threading.Thread(target=pump, args=(client, upstream, up_done), daemon=True).start()
    threading.Thread(target=pump, args=(upstream, client, down_done), daemon=True).start()
    up_done.wait()
    # The client finished sending: pass its end on and let the collector close.
    try:
        upstream.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    down_done.wait(10)
    for s in (client, upstream):
        s.close()
    with lock:
        clients.remove(client)


def on_term(*_):
    stopping.set()


signal.signal(signal.SIGTERM, on_term)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('127.0.0.1', listen_port))
server.listen(64)
server.settimeout(0.2)
while not stopping.is_set():
    try:
        c, _ = server.accept()
    except socket.timeout:
        continue
    except OSError:
        break
    with lock:
        clients.append(c)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
server.close()
with lock:
    for c in clients:
        try:
            c.shutdown(socket.SHUT_WR)  # the collector's side of the session ends
        except OSError:
            pass
deadline = time.time() + 10
while time.time() < deadline:
    with lock:
        if not clients:
            break
    time.sleep(0.05)
os._exit(0)
