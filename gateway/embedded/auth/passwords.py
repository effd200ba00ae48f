"""Password hashing for the embedded Auth API: stdlib scrypt, stored self-describing as
`$scrypt$ln=14,r=8,p=1$<salt>$<hash>` (unpadded base64) so the cost can change later."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

LOG2_N = 14
BLOCK_SIZE = 8
PARALLELISM = 1
SALT_BYTES = 16
HASH_BYTES = 32
# scrypt needs 128 * r * n bytes; leave headroom above OpenSSL's 32 MiB default cap.
MAX_MEMORY = 64 * 1024 * 1024

_FORMAT = re.compile(
    r"^\$scrypt\$ln=(?P<ln>\d{1,2}),r=(?P<r>\d{1,2}),p=(?P<p>\d{1,2})"
    r"\$(?P<salt>[A-Za-z0-9+/]+)\$(?P<hash>[A-Za-z0-9+/]+)$"
)


@dataclass(frozen=True)
class _Parsed:
    log2_n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _parse(stored: str) -> _Parsed | None:
    match = _FORMAT.match(stored)
    if match is None:
        return None
    try:
        salt, digest = _unb64(match["salt"]), _unb64(match["hash"])
    except (binascii.Error, ValueError):
        return None
    log2_n, r, p = int(match["ln"]), int(match["r"]), int(match["p"])
    if not (1 <= log2_n <= 20 and 1 <= r <= 16 and 1 <= p <= 4) or not digest:
        return None
    return _Parsed(log2_n, r, p, salt, digest)


def _derive(password: str, spec: _Parsed) -> bytes:
    """scrypt with the cost, salt and output length of `spec`."""
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=spec.salt,
        n=2**spec.log2_n,
        r=spec.r,
        p=spec.p,
        maxmem=MAX_MEMORY,
        dklen=len(spec.digest),
    )


def _hash_sync(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _derive(password, _Parsed(LOG2_N, BLOCK_SIZE, PARALLELISM, salt, bytes(HASH_BYTES)))
    return f"$scrypt$ln={LOG2_N},r={BLOCK_SIZE},p={PARALLELISM}${_b64(salt)}${_b64(digest)}"


# Checking against this when there is no usable hash (unknown email, no password) costs
# the same time as a real check, so timing does not reveal which emails are registered.
_DUMMY = _Parsed(LOG2_N, BLOCK_SIZE, PARALLELISM, bytes(SALT_BYTES), bytes(HASH_BYTES))


def _verify_sync(password: str, stored: str | None) -> bool:
    parsed = _parse(stored or "")
    if parsed is None:
        _derive(password, _DUMMY)
        return False
    return hmac.compare_digest(_derive(password, parsed), parsed.digest)


# scrypt is deliberately slow: it runs in a worker thread so the event loop keeps serving.
async def hash_password(password: str) -> str:
    """A new salted hash of `password`."""
    return await asyncio.to_thread(_hash_sync, password)


async def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored`; a missing or foreign hash never matches."""
    return await asyncio.to_thread(_verify_sync, password, stored)


def is_password_hash(value: str) -> bool:
    """Whether `value` is a hash this module can verify (admin `password_hash`)."""
    return _parse(value) is not None
