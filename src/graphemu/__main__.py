"""`python -m graphemu ...` runs the same CLI as the `graphemu` console script."""

from __future__ import annotations

import sys

from graphemu.cli import main

sys.exit(main())
