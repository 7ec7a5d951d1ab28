#!/usr/bin/env python3
"""Delays packets by a fixed time per netfilter queue: a stand-in for `tc qdisc ... netem delay`
on kernels built without sch_netem. Run inside a lab host's network namespace, next to iptables
rules that send the packets to delay to a queue (`-j NFQUEUE --queue-num N --queue-bypass`).

    nfqueue-delay.py QUEUE=MS [QUEUE=MS ...]

Every packet queued on QUEUE is accepted MS milliseconds after the kernel handed it over, in
arrival order. Prints "ready" on stdout once every queue is bound; exits on SIGTERM/SIGINT (the
kernel then lets queued traffic through again: --queue-bypass). Only the standard library, raw
netlink (nfnetlink_queue): Node has no netlink sockets.
"""
import heapq
import os
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS = 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
NF_ACCEPT = 1


def attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack('=HH', length, kind) + payload + b'\0' * ((4 - length % 4) % 4)


def message(msg, queue, attrs, flags=NLM_F_REQUEST, seq=0):
    body = struct.pack('=BBH', socket.AF_UNSPEC, 0, socket.htons(queue)) + b''.join(attrs)
    return struct.pack('=IHHII', 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg, flags, seq, 0) + body


def parse_attrs(data):
    out = {}
    while len(data) >= 4:
        length, kind = struct.unpack_from('=HH', data)
        if length < 4:
            break
        out[kind & 0x7FFF] = data[4:length]
        data = data[(length + 3) & ~3:]
    return out


def configure(sock, queue, seq):
    """Binds the queue (metadata only: the packet itself is not copied) and waits for the ack."""
    for attrs in ([attr(NFQA_CFG_CMD, struct.pack('=BBH', NFQNL_CFG_CMD_BIND, 0, 0))],
                  [attr(NFQA_CFG_PARAMS, struct.pack('>IB', 0, NFQNL_COPY_META))]):
        seq += 1
        sock.send(message(NFQNL_MSG_CONFIG, queue, attrs, NLM_F_REQUEST | NLM_F_ACK, seq))
        while True:
            data = sock.recv(65536)
            length, kind, _flags, got_seq, _pid = struct.unpack_from('=IHHII', data)
            if kind == NLMSG_ERROR and got_seq == seq:
                (err,) = struct.unpack_from('=i', data, 16)
                if err != 0:
                    sys.exit(f'nfqueue-delay: binding queue {queue}: {os.strerror(-err)}')
                break
    return seq


def main(argv):
    if not argv:
        sys.exit(__doc__)
    delays = {}
    for spec in argv:
        queue, _, ms = spec.partition('=')
        delays[int(queue)] = float(ms) / 1000
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    seq = 0
    for queue in delays:
        seq = configure(sock, queue, seq)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    print('ready', flush=True)
    due = []  # (when, order, queue, packet id)
    order = 0
    while not stopping:
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, queue, packet_id = heapq.heappop(due)
            sock.send(message(NFQNL_MSG_VERDICT, queue, [attr(NFQA_VERDICT_HDR, struct.pack('>II', NF_ACCEPT, packet_id))]))
        timeout = max(0.0, due[0][0] - now) if due else 1.0
        try:
            readable, _, _ = select.select([sock], [], [], timeout)
        except InterruptedError:
            continue
        if not readable:
            continue
        data = sock.recv(65536)
        arrived = time.monotonic()
        while len(data) >= 16:
            length, kind, _flags, _seq, _pid = struct.unpack_from('=IHHII', data)
            if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                (queue,) = struct.unpack_from('>H', data, 18)
                header = parse_attrs(data[20:length]).get(NFQA_PACKET_HDR)
                if header is not None and queue in delays:
                    (packet_id,) = struct.unpack_from('>I', header)
                    order += 1
                    heapq.heappush(due, (arrived + delays[queue], order, queue, packet_id))
            data = data[(length + 3) & ~3:]


if __name__ == '__main__':
    main(sys.argv[1:])
