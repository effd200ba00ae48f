"""Keys of the embedded stack: API keys, the JWT secret, the signing key pair and JWKS.

Mirrors the Supabase CLI: anon/service_role API keys are HS256 JWTs; `sb_publishable_`
and `sb_secret_` keys map to those roles the way the CLI's API gateway does; user access
tokens are HS256 by default, or ES256/RS256 with a `kid` (published as JWKS).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from gateway.config import EmbeddedConfig

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
# Tokens whose signature is kept verified: more than the users active at once (with 1,000
# first-in-first-out, 2,000 active users missed on nearly every request).
VERIFIED_CACHE_SIZE = 10_000


class TokenError(Exception):
    """A token was rejected. `reason` is one of the values below; message is human text."""

    MISSING = "missing"
    MALFORMED = "malformed"
    EXPIRED = "expired"
    BAD_SIGNATURE = "bad_signature"
    MISSING_CLAIMS = "missing_claims"
    UNKNOWN_KID = "unknown_kid"

    def __init__(self, reason: str, message: str, *, expired_seconds: int = 0) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.expired_seconds = expired_seconds


@dataclass(frozen=True)
class Claims:
    """Verified JWT claims. `role` is the database role the request runs as."""

    raw: Mapping[str, Any]

    @property
    def role(self) -> str:
        return str(self.raw.get("role", "anon"))

    @property
    def sub(self) -> str | None:
        sub = self.raw.get("sub")
        return str(sub) if sub is not None else None

    @property
    def exp(self) -> int | None:
        exp = self.raw.get("exp")
        return int(exp) if isinstance(exp, int | float) else None

    def json(self) -> str:
        return json.dumps(dict(self.raw), separators=(",", ":"))


@dataclass(frozen=True)
class SigningKey:
    """An asymmetric key pair that signs user tokens, published (public half) as a JWK."""

    alg: str
    kid: str
    private: Any
    public: Any
    public_jwk: dict[str, Any]


_ALGORITHMS: dict[str, Any] = {"ES256": ECAlgorithm, "RS256": RSAAlgorithm}


def _generate(alg: str) -> Any:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def load_signing_key(path: Path, alg: str) -> SigningKey:
    """The key pair stored at `path`, created (mode 0600) on first use."""
    algorithm = _ALGORITHMS[alg]
    if path.exists():
        jwk: dict[str, Any] = json.loads(path.read_text())
    else:
        jwk = json.loads(algorithm.to_jwk(_generate(alg)))
        jwk.update(
            {"kid": str(uuid.uuid4()), "alg": alg, "use": "sig", "key_ops": ["sign", "verify"]}
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(jwk, fh)
    private_fields = {"d", "p", "q", "dp", "dq", "qi"}
    public = {k: v for k, v in jwk.items() if k not in private_fields}
    public["key_ops"] = ["verify"]
    return SigningKey(
        alg,
        str(jwk["kid"]),
        algorithm.from_jwk(json.dumps(jwk)),
        algorithm.from_jwk(json.dumps(public)),
        public,
    )


class KeyRing:
    """Signs and verifies every token of the embedded stack."""

    def __init__(self, config: EmbeddedConfig, data_dir: Path) -> None:
        self.config = config
        self.secret = config.jwt_secret
        alg = "RS256" if config.signing == "RS256" else "ES256"
        # Published whatever `signing` says, so clients can always fetch a JWKS.
        self.signing_key = load_signing_key(data_dir / f"signing_key_{alg.lower()}.json", alg)
        self.kid: str = self.signing_key.kid
        self._verified: dict[str, Claims] = {}  # token → claims, least recently used first

    # API keys -------------------------------------------------------------------------

    def bearer_for(self, apikey: str | None, authorization: str | None) -> str | None:
        """The JWT a request acts with, by the Supabase CLI gateway's rule.

        A Bearer that is not an `sb_` key wins; otherwise the apikey decides, with
        sb_secret_/sb_publishable_ keys replaced by the service_role/anon JWTs.
        """
        if authorization:
            scheme, _, value = authorization.partition(" ")
            value = value.strip()
            if scheme.lower() == "bearer" and value and not value.startswith("sb_"):
                return value
        if apikey == self.config.secret_key:
            return self.config.service_key
        if apikey == self.config.publishable_key:
            return self.config.anon_key
        if apikey and apikey.startswith("sb_"):
            return None  # an unknown new-style key maps to nothing
        return apikey or None

    # JWTs -----------------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        """Public signing keys; the HS256 secret is never listed (as GoTrue does)."""
        return {"keys": [self.signing_key.public_jwk]}

    def sign(self, claims: Mapping[str, Any]) -> str:
        """Sign a user access token the configured way (HS256, or ES256/RS256 with our kid)."""
        key = self.signing_key
        if self.config.signing == key.alg:
            return jwt.encode(
                dict(claims), key.private, algorithm=key.alg, headers={"kid": key.kid}
            )
        return jwt.encode(dict(claims), self.secret, algorithm="HS256")

    def verify(self, token: str | None, *, require: tuple[str, ...] = ("exp", "role")) -> Claims:
        """Verify signature and expiry; `require` lists claims that must be present.

        A token's signature is checked once (like PostgREST's JWT cache) and remembered,
        least recently used dropped first; the claims and expiry are checked on every use.
        """
        if not token:
            raise TokenError(TokenError.MISSING, "API key is missing")
        claims = self._verified.pop(token, None)
        if claims is None:
            claims = self._signed(token)
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                del self._verified[next(iter(self._verified))]  # the least recently used
        self._verified[token] = claims  # now the most recently used
        raw = claims.raw
        missing = [name for name in require if name not in raw]
        if missing:
            raise TokenError(
                TokenError.MISSING_CLAIMS, "Fields `role` and `exp` are required in JWT"
            )
        exp = raw.get("exp")
        if exp is not None:
            if not isinstance(exp, int | float) or exp <= 0:
                raise TokenError(TokenError.EXPIRED, "Token expiration time is invalid")
            now = int(time.time())
            if exp <= now:
                raise TokenError(
                    TokenError.EXPIRED, "Token has expired", expired_seconds=now - int(exp)
                )
        return claims

    def _signed(self, token: str) -> Claims:
        """The claims of a token whose signature holds (nothing else is checked here)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenError(
                TokenError.MALFORMED, "The token provided is not a valid JWT"
            ) from None
        alg = header.get("alg")
        key: Any
        if alg in HMAC_ALGORITHMS:
            key = self.secret
        elif alg == self.signing_key.alg:
            if header.get("kid") not in (None, self.kid):
                raise TokenError(
                    TokenError.UNKNOWN_KID, f"No key found for kid {header.get('kid')!r}"
                )
            key = self.signing_key.public
        else:
            raise TokenError(TokenError.MALFORMED, "The token provided is not a valid JWT")
        try:
            raw = jwt.decode(
                token,
                key,
                algorithms=[str(alg)],
                options={"verify_aud": False, "verify_exp": False, "require": []},
            )
        except jwt.InvalidSignatureError:
            raise TokenError(TokenError.BAD_SIGNATURE, "Failed to validate JWT signature") from None
        except jwt.InvalidTokenError:
            raise TokenError(
                TokenError.MALFORMED, "The token provided is not a valid JWT"
            ) from None
        return Claims(raw)
