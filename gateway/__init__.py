"""A real-time chat gateway on Supabase."""

__version__ = "0.1.0"
