#!/usr/bin/env python3
"""Changes a volume image in place the way use changes a disk between backups: overwrites
PERCENT% of its 64 KiB blocks (at least one), picked by SEED, with other data.

    evolve-volume.py PATH SEED PERCENT
"""
import random
import sys


def main():
    path, seed, percent = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    rng = random.Random(seed)
    with open(path, "r+b") as f:
        f.seek(0, 2)
        blocks = f.tell() // 65536
        for _ in range(max(1, int(blocks * percent / 100))):
            f.seek(rng.randrange(blocks) * 65536)
            f.write(rng.randbytes(65536))


if __name__ == "__main__":
    main()
