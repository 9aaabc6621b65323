"""The C allocator's settings for a long-running node (glibc; where there is no mallopt nothing is done).

A PIN check (scrypt, models/pins.py) needs a 16 MiB block. glibc hands blocks that large out with mmap and gives
them back to the system when freed, but after the first such free it raises its mmap threshold to that block's size
and from then on keeps freed large blocks in its heap arenas (one per thread that allocated, up to eight per core):
measured on a node at 2 M sales, eight managers signing in at once left it holding 140 MB more for good (716 MB
after every report had run, with the page caches of the time). A fixed threshold keeps large blocks mapped and
returned when freed (the same node: 54-76 MB).
"""

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)
MMAP_THRESHOLD_BYTES = 1024 * 1024  # blocks at least this large are mapped and unmapped: never kept after use


def keep_large_blocks_mapped() -> bool:
    """Fix the allocator's mmap threshold (glibc); False where that cannot be done (another C library)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None)
    return mallopt is not None and mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
