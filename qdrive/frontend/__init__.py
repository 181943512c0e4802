"""Readers of QEMU's command-line syntaxes (package kept free of logic)."""
