"""Helpers for scripts/contract (standard library only).

  contract.py banner LOG                      service name and base URL per line, from `malha up`'s banner
  contract.py token                           reads a login response on stdin, prints its access_token
  contract.py session GATEWAY EMAIL PASSWORD STATE
                                              prints an access token issued after MFA (amr pwd, otp):
                                              enrols the account on first use, then refreshes the
                                              family kept in STATE (a JSON file) or logs in again
  contract.py document OUT SERVICE_DOC [MERGED_DOC]
                                              writes the document to test for one service; prints its
                                              operation count
  contract.py merged DOC                      exit 0 when DOC (the gateway's /openapi.json) has public operations
  contract.py summary REPORT_DIR              prints the summary of every run; exit 1 on any failure
"""

import glob
import json
import os
import re
import sys
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import totp

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# What every service serves on its own port and the gateway answers itself (never routes): a
# merged document leaves them out, so through the gateway they are not the service's.
PLATFORM = re.compile(r"^/(health/.*|metrics|openapi\.json)$")


def template(path):
    """`/v1/products/{id}` and `/v1/products/{product_id}` are one route."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def public_paths(document):
    return {
        path: item
        for path, item in (document.get("paths") or {}).items()
        if not PLATFORM.match(path) and any(key in METHODS for key in item)
    }


def operations(paths):
    return sum(1 for item in paths.values() for key in item if key in METHODS)


def banner(log):
    # "Malha is up. Point a browser or curl at http://…" then "  <service>  <url>" per line.
    text = open(log, encoding="utf-8", errors="replace").read()
    start = text.find("Malha is up.")
    if start < 0:
        sys.exit("no banner in " + log)
    for line in text[start:].splitlines()[1:]:
        match = re.match(r"^  ([a-z][a-z0-9-]*)\s+(https?://\S+)\s*$", line)
        if match:
            print(match.group(1), match.group(2))


def token():
    body = sys.stdin.read()
    try:
        print(json.loads(body)["access_token"])
    except (ValueError, KeyError, TypeError):
        sys.exit("no access_token in: " + body[:300])


def post(gateway, path, body, token=None):
    """(status, JSON body) of a POST through the gateway."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    request = urllib.request.Request(gateway + path, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def session(gateway, email, password, state_path):
    """Every run's token has the second factor, as the operations that need it (role changes, key
    rotation, refunds) ask, for the admin and the customer alike: the customer's enrolment being
    confirmed keeps the fuzzer from sending a random code to a pending one, which is a 422 no
    schema can tell from a right code. One login starts a refresh family (its amr is kept); each
    run refreshes it, so no run needs a code no earlier one used."""
    state = json.load(open(state_path)) if os.path.exists(state_path) else {}
    factor = totp.Factor(state["secret"]) if "secret" in state else None
    if factor and "last" in state:
        factor.last = state["last"]
    access = None
    if "refresh" in state:
        status, body = post(gateway, "/v1/auth/refresh", {"refresh_token": state["refresh"]})
        if status == 200:
            access, state["refresh"] = body["access_token"], body["refresh_token"]
    if access is None:
        status, body = post(gateway, "/v1/auth/login", {"email": email, "password": password})
        if status != 200:
            sys.exit(f"login of {email} answered {status}: {body}")
        if not body.get("mfa_required"):
            if factor:
                sys.exit(f"{email} logged in without its second factor")
            status, enrolment = post(gateway, "/v1/auth/mfa/enrolment", {}, token=body["access_token"])
            if status != 201:
                sys.exit(f"enrolment of {email} answered {status}: {enrolment}")
            factor = totp.Factor(enrolment["secret"])
            status, confirmed = post(gateway, "/v1/auth/mfa/enrolment/confirm", {"code": factor.fresh()},
                                     token=body["access_token"])
            if status != 200:
                sys.exit(f"confirming {email}'s enrolment answered {status}: {confirmed}")
            status, body = post(gateway, "/v1/auth/login", {"email": email, "password": password})
        status, pair = post(gateway, "/v1/auth/login/mfa", {"mfa_token": body["mfa_token"], "code": factor.fresh()})
        if status != 200:
            sys.exit(f"second step of {email} answered {status}: {pair}")
        access, state["refresh"] = pair["access_token"], pair["refresh_token"]
    if factor:
        state["secret"], state["last"] = factor.secret, factor.last
    with open(state_path, "w") as out:
        json.dump(state, out)
    print(access)


def document(out, service_doc, merged_doc=None):
    own = json.load(open(service_doc))
    mine = public_paths(own)
    if merged_doc:
        # The gateway's merged document, restricted to the routes this service documents.
        merged = json.load(open(merged_doc))
        wanted = {template(path) for path in mine}
        result = dict(merged)
        result["paths"] = {path: item for path, item in public_paths(merged).items() if template(path) in wanted}
    else:
        result = dict(own)
        result["paths"] = mine
    json.dump(result, open(out, "w"), indent=1, sort_keys=True)
    print(operations(result["paths"]))


def merged(doc):
    try:
        paths = public_paths(json.load(open(doc)))
    except (OSError, ValueError):
        sys.exit(1)
    sys.exit(0 if paths else 1)


def summary(report_dir):
    runs = []
    for line in open(os.path.join(report_dir, "runs.tsv")):
        service, role, rc, seconds, ops = line.rstrip("\n").split("\t")
        runs.append((service, role, int(rc), int(seconds), int(ops)))
    failed_runs = 0
    total_failures = 0
    details = []
    print(f"{'service':<15}{'as':<10}{'ops':>5}{'cases':>7}{'failed':>8}{'errors':>8}{'secs':>6}  result")
    for service, role, rc, seconds, ops in runs:
        junit = os.path.join(report_dir, f"{service}-{role}.xml")
        cases = failed = errors = 0
        # A run killed by its bound leaves an empty (or no) report: its rc says what happened.
        if os.path.exists(junit) and os.path.getsize(junit) > 0:
            for case in ET.parse(junit).getroot().iter("testcase"):
                cases += 1
                problems = case.findall("failure") + case.findall("error")
                if case.findall("failure"):
                    failed += 1
                if case.findall("error"):
                    errors += 1
                for problem in problems:
                    text = (problem.get("message") or "") + "\n" + (problem.text or "")
                    details.append((service, role, case.get("name"), problem.tag, text.strip()))
        if rc == 99:
            result = f"FAIL: malha up crashed (up-{service}-{role}.log)"
        elif rc in (124, 137):
            result = "TIMED OUT (bound reached: raise CONTRACT_RUN_TIMEOUT or lower CONTRACT_MAX_EXAMPLES)"
        elif ops == 0:
            result = "FAIL: the document has no public operation"
        elif rc != 0 or failed or errors:
            result = f"FAIL (schemathesis exit {rc})"
        else:
            result = "ok"
        if result != "ok":
            failed_runs += 1
        total_failures += failed + errors
        print(f"{service:<15}{role:<10}{ops:>5}{cases:>7}{failed:>8}{errors:>8}{seconds:>6}  {result}")
    print()
    for service, role, name, tag, text in details:
        print(f"--- {service} as {role}: {name} ({tag})")
        print("\n".join("    " + line for line in text.splitlines()[:25]))
    print(f"{len(runs)} runs, {failed_runs} failed, {total_failures} failing operations")
    sys.exit(1 if failed_runs else 0)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"banner": banner, "token": token, "session": session, "document": document, "merged": merged,
     "summary": summary}[command](*args)
