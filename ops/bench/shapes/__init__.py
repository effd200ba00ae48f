"""`python -m ops.bench.shapes`: the two upstream shapes the delivery design weighed —
broadcast topics (`chats:<k>`) and Postgres Changes on public.messages — compared on the
embedded stack for the same message load, with no gateway in the path (see README.md)."""
