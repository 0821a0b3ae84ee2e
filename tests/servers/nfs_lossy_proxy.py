#!/usr/bin/env python3
"""A TCP proxy in front of an NFS server that loses answers: the server does what a call asks,
and the proxy then drops the connection instead of passing the answer on.

A client that reconnects sends the call again; when the server's duplicate-request cache does
not recognise the resend (a new connection from another port), the server executes it a second
time. For idempotent calls (READ, WRITE, GETATTR) that is harmless; for the calls that change
the namespace the second execution can fail although the first succeeded: LINK and MKDIR with
EEXIST (the name exists), RENAME and REMOVE with NOENT (the source is gone); an unchecked CREATE
succeeds again. This proxy makes that happen on demand, so tests can show ferry tells the two
apart.

It reads ONC RPC record marking (RFC 5531 section 11) in both directions, notes the xid and
procedure of every NFS call, and loses the first answer to each call (by xid) whose procedure is
listed. Counts (all losses, and per procedure; calls per procedure, by name) go to a JSON stats
file after every loss (calls within a tenth of a second), and so does, per connection (numbered from 1 in the order they came; the latest 32 only, as every lost
answer costs a connection), the most calls it ever had in flight at once, in all and of READs:
"in_flight" {"3": {"all": 8, "READ": 4}}.

  nfs_lossy_proxy.py --listen 127.0.0.2:20490 --to 127.0.0.2:2049 --procs LINK,RENAME \
      --stats FILE
"""
import argparse
import json
import os
import select
import socket
import struct
import threading

NFS_PROGRAM = 100003
# NFSv3 procedure numbers (RFC 1813), the ones whose answers can be lost.
PROCEDURES = {"CREATE": 8, "MKDIR": 9, "REMOVE": 12, "RENAME": 14, "LINK": 15}
# Every NFSv3 procedure's name, for the per-procedure call counts.
ALL_PROCEDURES = ["NULL", "GETATTR", "SETATTR", "LOOKUP", "ACCESS", "READLINK", "READ", "WRITE",
                  "CREATE", "MKDIR", "SYMLINK", "MKNOD", "REMOVE", "RMDIR", "RENAME", "LINK",
                  "READDIR", "READDIRPLUS", "FSSTAT", "FSINFO", "PATHCONF", "COMMIT"]
READ = 6
KEEP_IN_FLIGHT = 32  # Connections whose calls in flight are kept in the stats.


def take_records(buf):
    """Splits complete RPC records off the front of `buf`: ([(wire bytes, payload)], rest)."""
    records = []
    pos = 0
    while True:
        start, payload = pos, b""
        while True:
            if len(buf) - pos < 4:
                return records, buf[start:]
            (header,) = struct.unpack(">I", buf[pos:pos + 4])
            length = header & 0x7FFFFFFF
            if len(buf) - pos - 4 < length:
                return records, buf[start:]
            payload += buf[pos + 4:pos + 4 + length]
            pos += 4 + length
            if header & 0x80000000:
                break
        records.append((buf[start:pos], payload))


class Proxy:
    def __init__(self, args):
        self.target = args.to
        self.lose = {PROCEDURES[p] for p in args.procs.split(",") if p}
        self.stats_path = args.stats
        self.lock = threading.Lock()
        self.lost_xids = set()  # GUARDED_BY(lock)
        # "lost" in all, and "lost_LINK" etc. per procedure.
        # "by_procedure": calls counted per procedure name ("LOOKUP": 12, …).
        self.stats = {"connections": 0, "calls": 0, "lost": 0, "in_flight": {},
                      "by_procedure": {}}  # GUARDED_BY(lock)
        self.names = {number: name for name, number in PROCEDURES.items()}
        self.unwritten = False  # GUARDED_BY(lock): counts changed since the file was written.
        self.write_stats()
        threading.Thread(target=self.write_counts_now_and_then, daemon=True).start()

    def write_counts_now_and_then(self):
        """Call counts change on every call: they reach the file a tenth of a second later."""
        while True:
            threading.Event().wait(0.1)
            with self.lock:
                if self.unwritten:
                    self.write_stats()

    def write_stats(self):
        """(REQUIRES lock, or the constructor.)"""
        self.unwritten = False
        if self.stats_path:
            with open(self.stats_path + ".tmp", "w") as f:
                json.dump(self.stats, f)
            os.replace(self.stats_path + ".tmp", self.stats_path)

    def should_lose(self, xid, procedure):
        with self.lock:
            if procedure not in self.lose or xid in self.lost_xids:
                return False
            self.lost_xids.add(xid)
            self.stats["lost"] += 1
            key = "lost_" + self.names[procedure]
            self.stats[key] = self.stats.get(key, 0) + 1
            self.write_stats()
            return True

    def note_call(self, number, calls, payload):
        """Remembers an NFS call's procedure by its xid; True to pass the record on."""
        if len(payload) >= 24:
            xid, kind, _, program, _, procedure = struct.unpack(">6I", payload[:24])
            if kind == 0 and program == NFS_PROGRAM:
                calls[xid] = procedure
                with self.lock:
                    self.stats["calls"] += 1
                    name = ALL_PROCEDURES[procedure] if procedure < len(ALL_PROCEDURES) else str(procedure)
                    by_procedure = self.stats["by_procedure"]
                    by_procedure[name] = by_procedure.get(name, 0) + 1
                    self.unwritten = True
                    self.note_in_flight(number, calls)
        return True

    def note_in_flight(self, number, calls):
        """Keeps the most calls connection `number` had unanswered at once (REQUIRES lock)."""
        now = {"all": len(calls), "READ": sum(1 for p in calls.values() if p == READ)}
        in_flight = self.stats["in_flight"]
        if str(number) not in in_flight:
            in_flight.pop(str(number - KEEP_IN_FLIGHT), None)
        most = in_flight.setdefault(str(number), {"all": 0, "READ": 0})
        if any(now[k] > most[k] for k in now):
            for k in now:
                most[k] = max(most[k], now[k])
            self.write_stats()

    def pass_answer(self, calls, payload):
        """False to lose this answer: the server did the call, the client never hears of it."""
        (xid,) = struct.unpack(">I", payload[:4])
        procedure = calls.pop(xid, None)
        return procedure is None or not self.should_lose(xid, procedure)

    def serve(self, client):
        with self.lock:
            self.stats["connections"] += 1
            number = self.stats["connections"]
        server = socket.create_connection(self.target)
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        calls = {}  # xid -> procedure, for calls on this connection not yet answered.
        # Per direction: where to send, what is buffered, what to do with each record.
        ways = {client: [server, b"", lambda p: self.note_call(number, calls, p)],
                server: [client, b"", lambda p: self.pass_answer(calls, p)]}
        try:
            while True:
                readable, _, _ = select.select(list(ways), [], [])
                for source in readable:
                    way = ways[source]
                    data = source.recv(1 << 20)
                    if not data:
                        return
                    records, way[1] = take_records(way[1] + data)
                    for wire, payload in records:
                        if not way[2](payload):
                            return  # Drops both connections, the answer unsent.
                        way[0].sendall(wire)
        except OSError:
            pass  # Either side went away: the connection ends either way.
        finally:
            client.close()
            server.close()

    def run(self, listen):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(listen)
        listener.listen(64)
        while True:
            client, _ = listener.accept()
            threading.Thread(target=self.serve, args=(client,), daemon=True).start()


def host_port(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", type=host_port, required=True)
    parser.add_argument("--to", type=host_port, required=True)
    parser.add_argument("--procs", default="LINK,RENAME",
                        help="NFSv3 procedures whose first answer is lost (%s)" %
                        ",".join(PROCEDURES))
    parser.add_argument("--stats", help="JSON counters: connections, calls, lost")
    args = parser.parse_args()
    Proxy(args).run(args.listen)


if __name__ == "__main__":
    main()
