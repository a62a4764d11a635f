"""``python -m secondorder``: the same command line as ``secondorder``."""

from secondorder.cli import main

raise SystemExit(main())
