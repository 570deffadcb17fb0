"""Schemathesis hooks for scripts/contract (loaded through SCHEMATHESIS_HOOKS).

A client of an idempotent endpoint sends one Idempotency-Key per distinct request and the same
key only when it retries the same request (the IETF Idempotency-Key draft; README,
"Idempotency"). Schemathesis reuses one generated key value across different bodies, which
the services rightly refuse (422 idempotency_key_reused). This hook makes the harness a correct
client: a valid key is replaced by one derived from the request itself, so equal requests share
a key (and get the stored answer) and different ones do not. Invalid keys (negative cases) are
left as generated, so their rejection is still checked.
"""

import hashlib
import json
import re

import schemathesis

VALID_KEY = re.compile(r"[!-~]{1,255}")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers
    if not headers:
        return
    for name in list(headers):
        if name.lower() != "idempotency-key":
            continue
        value = headers[name]
        if not isinstance(value, str) or not VALID_KEY.fullmatch(value):
            return
        request = json.dumps(
            [case.method, case.formatted_path, case.query, case.body if not callable(case.body) else None],
            sort_keys=True, default=str)
        headers[name] = "contract-" + hashlib.sha256(request.encode()).hexdigest()[:40]
