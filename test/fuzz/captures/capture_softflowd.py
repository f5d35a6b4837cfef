#!/usr/bin/env python3
"""Captures what softflowd 1.1.0 exports for a small hand-made packet capture: IPv4 TCP
and UDP flows and IPv6 flows, over UDP (one file of datagrams back to back) and over TCP
(the byte stream). The files are seeds of fuzz_session_path (test/fuzz/captures/).

usage: capture_softflowd.py OUT_DIR"""
import os, socket, struct, subprocess, sys, tempfile, threading, time

def csum(h):
    s = sum(struct.unpack('!%dH' % (len(h) // 2), h))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

def l4(proto, sport, dport, flags, payload):
    if proto == 6:
        return struct.pack('!HHIIBBHHH', sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0) + payload
    return struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload

def frame4(src, dst, proto, sport, dport, flags, payload):
    body = l4(proto, sport, dport, flags, payload)
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(body), 1, 0, 64, proto, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return b'\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00' + ip + body

def frame6(src, dst, proto, sport, dport, flags, payload):
    body = l4(proto, sport, dport, flags, payload)
    ip = struct.pack('!IHBB16s16s', 6 << 28, len(body), proto, 64,
                     socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst))
    return b'\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x86\xdd' + ip + body

def pcap(path):
    out = [struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)]
    t = 1700000000
    flows = []
    for i in range(12):
        flows.append((frame4, '10.0.0.%d' % (1 + i), '10.0.1.%d' % (1 + i % 3), 6 if i % 3 else 17,
                      30000 + i, 443 if i % 3 else 53, 3 + i % 3, 10 * (i % 4)))
    for i in range(4):
        flows.append((frame6, 'fd00::%x' % (1 + i), 'fd00::1:%x' % (1 + i), 6 if i % 2 else 17,
                      40000 + i, 8080, 2 + i, 20))
    for mk, src, dst, proto, sport, dport, packets, size in flows:
        for k in range(packets):
            flags = 0x02 if k == 0 else (0x11 if k + 1 == packets else 0x18)
            fr = mk(src, dst, proto, sport, dport, flags, b'x' * size)
            out.append(struct.pack('<IIII', t, 0, len(fr), len(fr)) + fr)
            t += 1
    with open(path, 'wb') as f:
        f.write(b''.join(out))

def run(work, pcap_path, port, tcp):
    ctl = os.path.join(work, 'ctl-%d' % port)
    argv = ['/usr/sbin/softflowd', '-d', '-r', pcap_path, '-v', '10', '-n', '127.0.0.1:%d' % port,
            '-c', ctl, '-p', os.path.join(work, 'pid-%d' % port)]
    if tcp:
        argv += ['-P', 'tcp']
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while subprocess.call(['/usr/sbin/softflowctl', '-c', ctl, 'statistics'],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) != 0:
        if time.time() > deadline:
            p.kill()
            sys.exit('softflowctl statistics never answered')
        time.sleep(0.05)
    subprocess.call(['/usr/sbin/softflowctl', '-c', ctl, 'shutdown'], stdout=subprocess.DEVNULL)
    p.wait(timeout=30)

def read_until_quiet(sock, into):
    """Appends what `sock` receives to `into` until it closes or is quiet for 3 s."""
    sock.settimeout(3)
    try:
        while True:
            b = sock.recv(65536)
            if not b:
                break
            into.append(b)
    except socket.timeout:
        pass


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp()
    pcap_path = os.path.join(work, 'flows.pcap')
    pcap(pcap_path)
    # UDP: every datagram is one message.
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(('127.0.0.1', 0))
    datagrams = []
    th = threading.Thread(target=read_until_quiet, args=(u, datagrams))
    th.start()
    run(work, pcap_path, u.getsockname()[1], False)
    th.join()
    with open(os.path.join(out_dir, 'softflowd-udp.ipfix'), 'wb') as f:
        f.write(b''.join(datagrams))
    # TCP: one stream.
    l = socket.socket()
    l.bind(('127.0.0.1', 0))
    l.listen(1)
    l.settimeout(20)
    stream = []
    th = threading.Thread(target=lambda: read_until_quiet(l.accept()[0], stream))
    th.start()
    run(work, pcap_path, l.getsockname()[1], True)
    th.join()
    with open(os.path.join(out_dir, 'softflowd-tcp.ipfix'), 'wb') as f:
        f.write(b''.join(stream))
    print('%d datagrams, %d octets over TCP' % (len(datagrams), sum(map(len, stream))))

main()
