#!/usr/bin/env python3
"""Prints the 4 KiB blocks where two images differ, as a change list ("offset length" per line,
runs merged): what a block-level change tracker would report between them.

    diff_blocks.py OLD NEW > changes.txt
"""
import sys

BLOCK = 4096
STEP = 1 << 20


def main():
    old_path, new_path = sys.argv[1], sys.argv[2]
    runs = []
    with open(old_path, "rb") as old, open(new_path, "rb") as new:
        offset = 0
        while True:
            a, b = old.read(STEP), new.read(STEP)
            if not a and not b:
                break
            if a != b:
                a = a.ljust(len(b), b"\0")
                b = b.ljust(len(a), b"\0")
                for i in range(0, len(b), BLOCK):
                    if a[i:i + BLOCK] != b[i:i + BLOCK]:
                        start = offset + i
                        length = min(BLOCK, len(b) - i)
                        if runs and runs[-1][0] + runs[-1][1] == start:
                            runs[-1][1] += length
                        else:
                            runs.append([start, length])
            offset += max(len(a), len(b))
    for start, length in runs:
        print(start, length)


if __name__ == "__main__":
    main()
