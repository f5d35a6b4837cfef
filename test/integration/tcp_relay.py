#!/usr/bin/env python3
"""A TCP relay for destination fault tests: a collector that dies or resets mid-stream.

Forwards every connection accepted on 127.0.0.1:PORT to 127.0.0.1:TARGET, one thread
per direction (both ways: a TLS collector speaks too). Writes its port to --port-file (atomically) once listening.

--stall-after N   after forwarding N octets in all, stop reading: what the sender writes
                  then piles up in this process's socket (acknowledged by its TCP, never
                  read) and in the sender's, so that a SIGKILL loses it, as a collector
                  that dies mid-stream does. Writes --stall-file when it stalls.
--reset-first K   reset (RST: SO_LINGER 0) each of the first K connections after it
--reset-after N   forwarded N octets of it; what it read beyond them is discarded.
--rcvbuf N        receive buffer of accepted sockets (bounds what a stalled relay holds).
"""

import argparse
import os
import socket
import struct
import threading
import time


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


class relay:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.forwarded = 0
        self.connections = 0
        self.stalled = False

    def stall(self):
        if not self.stalled:
            self.stalled = True
            if self.args.stall_file:
                write_atomically(self.args.stall_file, "stalled\n")
        while True:
            time.sleep(3600)

    def upstream(self, client, target, number):
        """Exporter -> collector."""
        mine = 0
        resets = number <= self.args.reset_first
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    target.shutdown(socket.SHUT_WR)
                    return
                with self.lock:
                    if self.args.stall_after >= 0:
                        room = self.args.stall_after - self.forwarded
                        if room <= 0:
                            data, stall = b"", True
                        else:
                            data, stall = data[:room], len(data) > room
                    else:
                        stall = False
                    if resets:
                        room = self.args.reset_after - mine
                        cut = len(data) >= room
                        data = data[:room]
                    else:
                        cut = False
                    self.forwarded += len(data)
                mine += len(data)
                if data:
                    target.sendall(data)
                if stall:
                    self.stall()
                if cut:
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    client.close()
                    target.close()
                    return
        except OSError:
            for s in (client, target):
                try:
                    s.close()
                except OSError:
                    pass

    def downstream(self, client, target):
        """Collector -> exporter: an IPFIX collector sends nothing but its close, a TLS
        one its side of the handshake (and of the close), so forward it all."""
        try:
            while True:
                data = target.recv(65536)
                if not data:
                    break
                client.sendall(data)
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def serve(self):
        a = self.args
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Set before listen(): accepted sockets inherit it (and the window it implies).
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
        listener.bind(("127.0.0.1", a.port))
        listener.listen(64)
        write_atomically(a.port_file, "%d\n" % listener.getsockname()[1])
        while True:
            client, _ = listener.accept()
            self.connections += 1
            try:
                target = socket.create_connection(("127.0.0.1", a.target))
            except OSError:
                client.close()
                continue
            threading.Thread(target=self.upstream, args=(client, target, self.connections),
                             daemon=True).start()
            threading.Thread(target=self.downstream, args=(client, target), daemon=True).start()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", required=True)
    p.add_argument("--target", type=int, required=True)
    p.add_argument("--stall-after", type=int, default=-1)
    p.add_argument("--stall-file", default="")
    p.add_argument("--reset-first", type=int, default=0)
    p.add_argument("--reset-after", type=int, default=0)
    p.add_argument("--rcvbuf", type=int, default=64 * 1024)
    relay(p.parse_args()).serve()


if __name__ == "__main__":
    main()
