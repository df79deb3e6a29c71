"""hybrid.heap: freed blocks stay in the heap inside heap_reuse (each probe in its own process, since
mallopt is process-wide)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hybrid.heap import is_glibc

_REUSE_PROBE = """
import resource, sys
import torch
from contextlib import nullcontext
from hybrid.heap import heap_reuse

def faults_of_a_second_block():
    torch.ones(32 * 2**20).sum()  # 128 MiB, allocated, touched and freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(31 * 2**20).sum()  # 124 MiB: fits in the freed block wherever it lies in the heap
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

with heap_reuse() if sys.argv[1] == "reuse" else nullcontext():
    print(faults_of_a_second_block())
"""


@pytest.mark.skipif(not is_glibc(), reason="glibc only")
def test_heap_reuse_keeps_a_freed_block_for_the_next_step():
    def faults(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", _REUSE_PROBE, mode], capture_output=True, text=True, check=True
        )
        return int(out.stdout.strip())

    pages = 124 * 2**20 // os.sysconf("SC_PAGE_SIZE")
    assert faults("default") > pages // 2  # glibc maps the block afresh: every page faults again
    assert faults("reuse") < pages // 20  # the freed block is still mapped and is reused
