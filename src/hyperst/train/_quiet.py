"""Keep Lightning's start-up chatter out of notebooks and logs while a fit runs."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from hyperst._logging import quiet_loggers

LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's info lines (device banner, logger tips) and one deprecation it triggers, for one fit.

    Lightning 2.6 builds ``torch.utils._pytree.LeafSpec``, which torch 2.13 deprecates with a ``FutureWarning`` on
    every fit: nothing a user can act on, so it is ignored here and only here.
    """
    with quiet_loggers(*LIGHTNING_LOGGERS), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*LeafSpec.* is deprecated", category=FutureWarning)
        yield
