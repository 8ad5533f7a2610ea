"""What waiting long polls cost the server: N clients wait on admin_user_stats/days/changes
(wait_seconds=60) while the server's CPU time (utime + stime from /proc) is read over 20 s.

    cargo build -p adminstats && target/sdk/py/bin/python scripts/long-poll-cost.py 1000

(the venv comes from scripts/python-env.sh; ADMINSTATS_BIN picks another binary).
"""
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "sdk" / "python"))
from harness import Server, TenantBuilder, directory_json  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
t = TenantBuilder("lp", "cn"); t.user("a"); app = t.app("full")
srv = Server(Path(tempfile.mkdtemp()), directory_json(t), "2026-03-10T12:00:00+08:00", rate_limit=1000000).start()
tok = srv.token(app)
host, port = srv.base.replace("http://", "").split(":")
def ticks():
    f = open(f"/proc/{srv.proc.pid}/stat").read().split(")")[1].split()
    return int(f[11]) + int(f[12])
socks = []
for i in range(N):
    s = socket.create_connection((host, int(port)))
    s.sendall(f"GET /open-apis/admin/v1/admin_user_stats/days/changes?wait_seconds=60 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n\r\n".encode())
    socks.append(s)
time.sleep(3)
t0 = ticks(); w0 = time.time()
time.sleep(20)
t1 = ticks(); w1 = time.time()
hz = os.sysconf("SC_CLK_TCK")
rss = [l for l in open(f"/proc/{srv.proc.pid}/status") if l.startswith("VmRSS")][0].strip()
print(f"{N} waiting long polls: server CPU {(t1-t0)/hz:.3f} s over {w1-w0:.1f} s wall; {rss}")
for s in socks: s.close()
srv.close()
