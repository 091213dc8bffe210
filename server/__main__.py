"""``python -m server``: the same as the ``switchboard`` command."""

from server.cli import main

raise SystemExit(main())
