"""The pluggable sender of short messages to a phone (SMS gateway, WhatsApp Business API...).

It lives in core because two packages that never import each other use it: the app API sends its
verification codes, the complaint pipeline sends the reporter's status link. Production wires an
implementation into ``app[appkeys.PHONE_SENDER]``; without one the development sender logs.
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)


class PhoneSender(Protocol):
    """Delivers a message to a phone number; raises OSError or TimeoutError when it cannot."""

    async def send_code(self, phone: str, code: str) -> None: ...

    async def send_text(self, phone: str, text: str) -> None: ...


class LoggingSender:
    """Development: writes the code to the log instead of sending it. A text may carry a secret
    (the reporter's status link), so only its length is logged."""

    async def send_code(self, phone: str, code: str) -> None:
        log.warning("kode verifikasi untuk %s: %s (pengirim pengembangan: tidak dikirim)", phone, code)

    async def send_text(self, phone: str, text: str) -> None:
        log.warning("pesan %d karakter untuk %s tidak dikirim (pengirim pengembangan)", len(text), phone[-4:])
