"""Load generator for the chat gateway: `python -m ops.bench --help` (see README.md)."""
