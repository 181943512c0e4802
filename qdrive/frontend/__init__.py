"""The front end: what a launcher or a script uses beside the parser (no logic here)."""
