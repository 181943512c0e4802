"""``python -m qdrive``: the command-line tool (the lean path first, as the script does)."""

from ._lean import main

raise SystemExit(main())
