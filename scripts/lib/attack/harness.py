"""The attack suite's harness (standard library only): a throwaway `malha up`, a tiny upstream,
HTTP over http.client and raw sockets, and the case runner with its report.
"""

import http.client
import http.server
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
import traceback
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


# --- outcomes --------------------------------------------------------------------------------

class Fail(Exception):
    """The server answered something other than what the case requires."""


class Pending(Exception):
    """Not asserted (yet): a feature that is not there, or a hole reported for the Swift side."""


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-cased name -> last value
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    @property
    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def code(self):
        value = self.json
        return value.get("code") if isinstance(value, dict) else None

    def brief(self):
        code = self.code
        return f"{self.status}" + (f" {code}" if code else "") + (f" {self.text[:160]!r}" if not code and self.body else "")


def expect(response, status, code=None, what=""):
    """Fails unless `response` has exactly `status` (and problem+json `code`, when given)."""
    label = f"{what}: " if what else ""
    if response.status != status or (code is not None and response.code != code):
        wanted = f"{status}" + (f" {code}" if code else "")
        raise Fail(f"{label}expected {wanted} got {response.brief()}")
    return response


def ensure(condition, message):
    if not condition:
        raise Fail(message)


# --- HTTP ------------------------------------------------------------------------------------

def request(base, method, path, token=None, body=None, headers=None, source=None, timeout=15, raw_body=None):
    """One request on a fresh connection. `base` is http://host:port; `body` is sent as JSON."""
    parsed = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(
        parsed.hostname, parsed.port, timeout=timeout, source_address=(source, 0) if source else None)
    all_headers = {"Connection": "close"}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    data = raw_body
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    all_headers.update(headers or {})
    try:
        connection.request(method, path, body=data, headers=all_headers)
        reply = connection.getresponse()
        payload = reply.read()
        return Response(reply.status, {k.lower(): v for k, v in reply.getheaders()}, payload)
    finally:
        connection.close()


def raw_exchange(port, data, wait=3.0, host="127.0.0.1"):
    """Sends `data` on a fresh socket; returns (bytes received, closed by the server?, seconds)."""
    began = time.monotonic()
    sock = socket.create_connection((host, port), timeout=wait)
    received = b""
    closed = False
    try:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = began + wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
    finally:
        sock.close()
    return received, closed, time.monotonic() - began


STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})")


def statuses(received):
    """The status code of every response in a raw byte stream."""
    return [int(match.group(1)) for match in STATUS_LINE.finditer(received)]


def raw_problem_code(received):
    match = re.search(rb'"code"\s*:\s*"([^"]+)"', received)
    return match.group(1).decode() if match else None


# --- the upstream of static routes and of the shadow service ---------------------------------

class Upstream:
    """An http.server on loopback that answers every request with the path it saw, and keeps
    every path it saw (so a case can prove what did and did not reach it)."""

    def __init__(self, name):
        self.seen = []
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with owner.lock:
                    owner.seen.append((self.command, self.path, bool(self.headers.get("Authorization"))))
                body = json.dumps({"upstream": name, "method": self.command, "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_one

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def paths(self):
        with self.lock:
            return [path for _, path, _ in self.seen]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# --- the sandbox -----------------------------------------------------------------------------

def free_port_block(n):
    """scripts/lib/ports.sh's free_port_block: P … P+n-1 free on loopback now."""
    out = subprocess.run(
        ["bash", "-c", f". '{ROOT}/scripts/lib/ports.sh'; free_port_block {n}"],
        check=True, capture_output=True, text=True)
    return int(out.stdout.strip())


class Sandbox:
    """`malha up` on a free block of ports in a throwaway data directory."""

    def __init__(self, binary, work, env_extra):
        self.binary = binary
        self.work = work
        self.data = os.path.join(work, "data")
        self.log_path = os.path.join(work, "up.log")
        self.registry_key = secrets.token_hex(32)
        self.env_extra = env_extra
        self.process = None
        self.urls = {}

    def start(self, timeout=180):
        began = time.monotonic()
        for attempt in range(3):
            self.port = free_port_block(12)
            self.gateway = f"http://127.0.0.1:{self.port}"
            env = dict(os.environ)
            env.update({
                "MALHA_LOG_LEVEL": "warning",
                "MALHA_TESTING_WEAK_BCRYPT_COST": "4",
                "MALHA_REGISTRY_KEY": self.registry_key,
                "MALHA_HTTP_HEADER_TIMEOUT_MS": "2000",
                "MALHA_HTTP_IDLE_TIMEOUT_MS": "5000",
            })
            env.update(self.env_extra)
            log = open(self.log_path, "w")
            self.process = subprocess.Popen(
                [self.binary, "up", "--port", str(self.port), "--data-dir", self.data],
                cwd=self.work, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
            log.close()
            if self.wait_ready(began + timeout):
                self.parse_banner()
                return time.monotonic() - began
            text = self.log_tail()
            self.stop()
            if "address already in use" not in text.lower():
                raise RuntimeError("malha up did not become ready; its log ends:\n" + text)
        raise RuntimeError("malha up found no free ports")

    def wait_ready(self, deadline):
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if request(self.gateway, "GET", "/health/ready", timeout=2).status == 200 and \
                        "Malha is up" in open(self.log_path, errors="replace").read():
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            return False
        # Ready means every service is; the gateway learns their routes from the registry right after.
        probes = {"/v1/categories": 200, "/v1/auth/me": 401, "/v1/orders": 401, "/v1/payments": 401,
                  "/v1/notifications": 401, "/v1/accounts": 401, "/v1/admin/dead-letters": 401,
                  "/v1/registry/instances": 401, "/v1/accounts/x/balances": 401}
        while time.monotonic() < deadline:
            try:
                if all(request(self.gateway, "GET", path, timeout=2).status == status for path, status in probes.items()):
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def parse_banner(self):
        text = open(self.log_path, errors="replace").read()
        start = text.find("Malha is up.")
        for line in text[start:].splitlines()[1:]:
            match = re.match(r"^  ([a-z][a-z0-9-]*)\s+(https?://\S+)\s*$", line)
            if match:
                self.urls[match.group(1)] = match.group(2)

    def port_of(self, service):
        return urllib.parse.urlsplit(self.urls[service]).port

    def credential(self, service):
        """`malha registry credential <service>` under this sandbox's registry key."""
        out = subprocess.run(
            [self.binary, "registry", "credential", service], check=True, capture_output=True, text=True,
            env=dict(os.environ, MALHA_REGISTRY_KEY=self.registry_key))
        return out.stdout.strip().splitlines()[-1]

    def admin_credentials(self):
        email, password = open(os.path.join(self.data, "demo-admin.txt")).read().splitlines()[:2]
        return email.strip(), password.strip()

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines=20):
        try:
            return "\n".join(open(self.log_path, errors="replace").read().splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        """SIGTERM to the process this sandbox started (by its id), up to 30 s, then SIGKILL."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the runner ------------------------------------------------------------------------------

class Runner:
    def __init__(self):
        self.results = []

    def run(self, name, group, function, *args):
        began = time.monotonic()
        try:
            function(*args)
            status, detail = "ok", ""
        except Pending as pending:
            status, detail = "pending", str(pending)
        except Fail as failure:
            status, detail = "fail", str(failure)
        except Exception as error:  # a harness error is a failure too, with its trace in the report
            status, detail = "fail", f"{type(error).__name__}: {error}"
            detail += "\n" + traceback.format_exc(limit=4)
        seconds = time.monotonic() - began
        self.results.append({"name": name, "group": group, "status": status, "detail": detail,
                             "seconds": round(seconds, 3)})
        first_line = detail.splitlines()[0] if detail else ""
        short = first_line if len(first_line) <= 200 else first_line[:197] + "..."
        shown = {"ok": "ok", "pending": f"pending: {short}", "fail": f"FAIL: {short}"}
        print(f"  {name:<58} {shown[status]}", flush=True)
        return status

    def failed(self):
        return [result for result in self.results if result["status"] == "fail"]
