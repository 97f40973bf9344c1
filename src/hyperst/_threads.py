"""Keep torch's thread count where the user set it while hyperst runs numba-compiled library code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def keep_torch_threads() -> Iterator[None]:
    """Restore torch's intra-op thread count after the block.

    scanpy's normalisation and highly-variable-gene code run numba-parallel kernels; numba's OpenMP layer starts one
    thread per core and calls ``omp_set_num_threads`` on the ``libgomp`` it shares with torch, which silently
    overrides ``torch.set_num_threads`` and ``OMP_NUM_THREADS`` for the rest of the session (jobs pinned to one
    thread then oversubscribe the machine, and idle OpenMP workers spin). Hand-written because neither numba nor
    threadpoolctl restores a thread count changed this way.
    """
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
