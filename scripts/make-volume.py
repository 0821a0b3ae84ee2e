#!/usr/bin/env python3
"""Writes a deterministic volume image that looks like a used disk: runs of compressible text,
incompressible (already compressed) data, repeated blocks and zero-filled holes.

    make-volume.py PATH SIZE_MIB [SEED]
"""
import os
import random
import sys


def main():
    path, size_mib = sys.argv[1], int(sys.argv[2])
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    words = ("volume backup snapshot restore chunk block index pack data server host "
             "database replica site night record file system the a of to and in").split()
    total = size_mib << 20
    written = 0
    with open(path, "wb") as f:
        while written < total:
            kind = rng.random()
            n = min(total - written, rng.randint(64, 4096) * 1024)
            if kind < 0.35:  # Text: logs, configuration, source.
                line = " ".join(rng.choice(words) for _ in range(12)) + ".\n"
                block = (line * (65536 // len(line) + 1))[:65536].encode()
                piece = bytearray()
                while len(piece) < n:
                    piece += block
                    block = block[1:] + block[:1]
                f.write(piece[:n])
            elif kind < 0.75:  # Compressed or encrypted payloads.
                f.write(rng.randbytes(n))
            elif kind < 0.85:  # Repeated content: the same 1 MiB again.
                rep = random.Random(7).randbytes(1 << 20)
                f.write((rep * (n // len(rep) + 1))[:n])
            else:  # Free space: zeros, left as a hole.
                f.seek(n, os.SEEK_CUR)
            written += n
        f.truncate(total)


if __name__ == "__main__":
    main()
