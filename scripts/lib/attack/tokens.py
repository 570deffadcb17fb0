"""JWTs for the attack suite: forged ones (alg none, HS256 with the public key, a foreign EC key)
and ones minted with the platform's real signing key (read from the sandbox's data directory) to
prove that the claim checks — exp, nbf, iat, iss, aud, typ — are enforced, not only the signature.
"""

import base64
import hashlib
import hmac
import json
import sqlite3
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def segment(obj) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def parts(token: str):
    """(header dict, claims dict, signature str) of a compact JWS."""
    head, body, signature = token.split(".")
    return json.loads(b64url_decode(head)), json.loads(b64url_decode(body)), signature


def es256_sign(private_key, header: dict, claims: dict) -> str:
    signing_input = segment(header) + "." + segment(claims)
    der = private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def hs256_sign(secret: bytes, header: dict, claims: dict) -> str:
    signing_input = segment(header) + "." + segment(claims)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(mac)


def unsigned(header: dict, claims: dict, signature: str = "") -> str:
    return segment(header) + "." + segment(claims) + "." + signature


def foreign_key():
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(private_key, kid: str) -> dict:
    numbers = private_key.public_key().public_numbers()
    return {
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
        "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def jwk_public_pem(jwk: dict) -> bytes:
    x = int.from_bytes(b64url_decode(jwk["x"]), "big")
    y = int.from_bytes(b64url_decode(jwk["y"]), "big")
    key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


SEALED_PREFIX = "aes256gcm:v1:"


def real_signing_key(data_dir: str):
    """(kid, private key) of identity's current signing key, read from `identity.sqlite` in the
    sandbox's data directory: plaintext PEM, or sealed with AES-256-GCM under `identity.kek`
    (the key id as authenticated data) where the build seals keys at rest."""
    db = sqlite3.connect(f"file:{data_dir}/identity.sqlite?mode=ro", uri=True, timeout=10)
    try:
        kid, stored = db.execute(
            "SELECT kid, private_key_pem FROM signing_keys ORDER BY generation DESC LIMIT 1").fetchone()
    finally:
        db.close()
    if stored.startswith(SEALED_PREFIX):
        kek = bytes.fromhex(open(f"{data_dir}/identity.kek").read().strip())
        combined = base64.b64decode(stored[len(SEALED_PREFIX):])
        stored = AESGCM(kek).decrypt(combined[:12], combined[12:], kid.encode()).decode()
    return kid, serialization.load_pem_private_key(stored.encode(), password=None)


def claims_for(subject: str, roles, issuer: str, audience: str = "malha", now=None, lifetime=900, **extra) -> dict:
    now = int(now if now is not None else time.time())
    claims = {
        "iss": issuer, "sub": subject, "aud": audience, "roles": list(roles), "iat": now, "nbf": now,
        "exp": now + lifetime, "jti": hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:32],
    }
    claims.update(extra)
    return claims
