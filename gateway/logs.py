"""Structured logs: one line per record, `key=value` (log.format = "text") or one JSON
object (log.format = "json"), with the connection id, user id and the catalogue's error
code as fields wherever a line concerns them.

Call sites write `conn=%s user=%s code=%s` in their message (readable as text, and
cheap: formatting happens only for records that are written); the JSON formatter lifts
those pairs into fields, as do `extra={...}` values. Tokens never belong in a log line; as
a last guard, anything shaped like a JWT or a Supabase secret key is masked on the way
out. Message bodies are never logged by the gateway (nothing here could tell one apart).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from gateway.config import LogConfig

__all__ = ["QUIET_LOGGERS", "JsonFormatter", "KeyValueFormatter", "configure", "redact"]

# JWTs (three base64url parts, the first two JSON objects: "eyJ") and the new API keys.
_SECRETS = re.compile(r"eyJ[\w-]{4,}\.eyJ[\w-]{4,}\.[\w-]*|sb_(?:secret|publishable)_[\w-]+")
_PAIR = re.compile(r"\b([a-z_]+)=(\S+)")
# Attributes every LogRecord has: anything else on a record came from `extra`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    return _SECRETS.sub("[redacted]", text)


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class KeyValueFormatter(logging.Formatter):
    """`ts=… level=… logger=… msg="…" key=value…`: greppable, and close to logfmt."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return redact(" ".join(f"{k}={_kv(v)}" for k, v in fields.items()))


def _kv(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (not text or re.search(r'[\s"=]', text)) else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `conn=…`-style pairs in the message become fields."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        fields: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": message,
        }
        for key, value in _PAIR.findall(message):
            fields.setdefault(key, value)
        fields.update({k: v for k, v in _extras(record).items() if k not in fields})
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(fields, default=str, ensure_ascii=False))


# Client libraries whose DEBUG/INFO lines carry frames and requests: Realtime payloads
# (message bodies, access tokens in join payloads) and URLs (tokens in query strings). Kept
# at WARNING whatever log.level says; they are also a cost on the hot path.
QUIET_LOGGERS = ("httpx", "httpcore", "realtime", "websockets")


def configure(config: LogConfig, stream: TextIO = sys.stderr) -> logging.Handler:
    """Send every log record of the process through one formatted handler."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if config.format == "json" else KeyValueFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.level)
    return handler
