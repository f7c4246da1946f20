"""``python -m torch2jax`` and the ``torch2jax`` console script."""

from __future__ import annotations

import sys

from torch2jax.cli import main

if __name__ == "__main__":
    sys.exit(main())
