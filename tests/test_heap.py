"""hybrid.heap: freed blocks stay in the heap inside heap_reuse, also after a nested block closes, and
glibc's behaviour returns when the last block closes (each probe in its own process: mallopt is
process-wide)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hybrid.heap import is_glibc

_PROBE = """
import resource, sys
import torch
from hybrid.heap import heap_reuse

def faults_of_a_second_block():
    torch.ones(32 * 2**20).sum()  # 128 MiB, allocated, touched and freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(31 * 2**20).sum()  # 124 MiB: fits in the freed block wherever it lies in the heap
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

mode = sys.argv[1]
if mode == "default":
    print(faults_of_a_second_block())
elif mode == "reuse":
    with heap_reuse():
        print(faults_of_a_second_block())
elif mode == "nested":
    with heap_reuse():
        with heap_reuse():
            pass
        print(faults_of_a_second_block())
elif mode == "closed":
    with heap_reuse():
        with heap_reuse():
            pass
    print(faults_of_a_second_block())
"""
PAGES = 124 * 2**20 // os.sysconf("SC_PAGE_SIZE")


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not is_glibc(), reason="glibc only")
@pytest.mark.parametrize(
    ("mode", "reused"), [("default", False), ("reuse", True), ("nested", True), ("closed", False)]
)
def test_a_freed_block_is_reused_only_while_a_heap_reuse_block_is_open(mode, reused):
    faults = _faults(mode)
    if reused:
        assert faults < PAGES // 20  # the freed block is still mapped and serves the next one
    else:
        assert faults > PAGES // 2  # glibc maps the block afresh: every page faults again
