"""TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s) for the scripts that log the demo admin in with its
second factor (scripts/attack, scripts/contract), and `python3 scripts/lib/totp.py SECRET`.

Identity accepts a code once, and no code of an earlier step after it (the replay rule), within
one step either side of now: `fresh` hands out a code no earlier login used, waiting for the next
step only when both the current and the next one are spent.
"""

import base64
import hashlib
import hmac
import struct
import sys
import time

PERIOD = 30


def step(at=None):
    return int((time.time() if at is None else at) // PERIOD)


def code(secret, counter):
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{value:06d}"


class Factor:
    """One enrolled secret and the last step this process used."""

    def __init__(self, secret):
        self.secret = secret
        self.last = None

    def fresh(self):
        wanted = step() if self.last is None else max(step(), self.last + 1)
        while wanted > step() + 1:  # both spent: wait for the next step
            time.sleep(PERIOD - time.time() % PERIOD + 0.05)
        self.last = wanted
        return code(self.secret, wanted)


if __name__ == "__main__":
    print(code(sys.argv[1], step()))
