# Sourced by scripts/bench/*: free loopback ports.
# free_port_block N: a port P such that P … P+N-1 are all free on 127.0.0.1 now (`malha up` puts
# its services on the gateway's port and the next ones; `malha up` itself refuses a taken one).
free_port_block() {
  python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randint(20000, 32000 - n)  # below the ephemeral range: no client connection takes one later
    sockets = []
    try:
        for port in range(base, base + n):
            s = socket.socket()
            s.bind(("127.0.0.1", port))
            sockets.append(s)
    except OSError:
        continue
    finally:
        for s in sockets:
            s.close()
    print(base)
    break
else:
    sys.exit("no block of free ports found")
PY
}
