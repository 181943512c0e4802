"""``python -m qdrive``: the command-line tool."""

from .cli import main

raise SystemExit(main())
