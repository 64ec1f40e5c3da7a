"""``python -m ot_gradnets``: the ``ot-gradnets`` command line."""

from ot_gradnets.cli import main

raise SystemExit(main())
