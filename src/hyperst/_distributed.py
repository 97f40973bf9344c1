"""Which process of a distributed run this is: the first one writes what every process holds (a table, a store)."""

from __future__ import annotations


def process_rank() -> int:
    """Return this process's rank in a distributed (``torch.distributed``) run; 0 outside one."""
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
