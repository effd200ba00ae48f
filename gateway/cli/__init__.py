"""The command line's larger commands: `serve` (with the embedded stack as a child when no
project is configured) and `token`."""
