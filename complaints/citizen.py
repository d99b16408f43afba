"""The reporter's secret: what lets a citizen act on their own complaint.

The tracking id (``WSB-XXXX-XXXX``) is public: printed on receipts, read over the phone, listed by
Open311. It shows the public status and nothing more. Acting on a complaint (answering a tunda,
accepting or disputing a follow-up) needs the complaint's own secret, 128 random bits given to the
reporter once, in the status link; only its SHA-256 is stored (a 128-bit random value needs no slow
hash: there is nothing to guess from a dictionary).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from urllib.parse import quote

from complaints.model import Actor
from core.roles import Role

log = logging.getLogger(__name__)

SECRET_BYTES = 16
# token_urlsafe(16) is 22 characters; anything much longer is not one of ours
MAX_SECRET_CHARS = 64
QUERY_KEY = "k"


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def secret_matches(stored_hash: bytes | None, given: str | None) -> bool:
    """True only for a complaint that has a secret and the right one (in constant time)."""
    if stored_hash is None or not given or len(given) > MAX_SECRET_CHARS:
        return False
    return hmac.compare_digest(bytes(stored_hash), secret_hash(given.strip()))


def status_path(tracking_id: str, secret: str) -> str:
    return f"/status/{quote(tracking_id, safe='')}?{QUERY_KEY}={quote(secret, safe='')}"


def by_secret(client_ip: str | None = None) -> Actor:
    """The reporter, proven by the complaint's secret (how the history and the audit log name them)."""
    return Actor(Role.CITIZEN, name="pelapor (tautan rahasia)", client_ip=client_ip)


def link_message(tracking_id: str, secret: str, public_url: str | None) -> str:
    """The SMS that gives the reporter their status link (or the code, without a public address)."""
    head = f"SIAGA Wonosobo: laporan {tracking_id} diterima."
    if public_url:
        link = public_url.rstrip("/") + status_path(tracking_id, secret)
        return f"{head} Pantau dan tanggapi di {link} . Tautan ini rahasia, jangan dibagikan."
    return (
        f"{head} Kode rahasia: {secret} . Masukkan bersama nomor laporan di halaman Cek status laporan. "
        "Jangan bagikan kode ini."
    )
