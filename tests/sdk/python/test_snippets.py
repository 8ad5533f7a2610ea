"""The code a newcomer copies: the Python and Node lines `adminstats demo` prints, and the SDK
snippets in the README, run as written (credentials and URL filled in) against a real demo."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness import REPO, binary_path

NOW = "2026-11-21T10:00:00+08:00"


@pytest.fixture(scope="module")
def demo():
    data = tempfile.mkdtemp(prefix="adminstats-snippets-")
    proc = subprocess.Popen(
        [str(binary_path()), "demo", "--users", "60", "--days", "10", "--listen", "127.0.0.1:0",
         "--now", NOW, "--data", data],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("Stop with Ctrl-C"):
            break
    text = "\n".join(lines)
    assert lines and lines[0].startswith("listening on http://"), text
    yield text
    proc.terminate()
    proc.wait(timeout=15)
    shutil.rmtree(data, ignore_errors=True)


def block(text: str, first: str, last_prefix: str) -> str:
    """The lines from the one starting with `first` through the next starting with `last_prefix`."""
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith(first))
    end = next(i for i in range(start, len(lines)) if lines[i].lstrip().startswith(last_prefix))
    return "\n".join(lines[start:end + 1])


def node_path() -> str:
    return os.environ.get("NODE_PATH") or str(REPO / "target" / "sdk" / "node" / "node_modules")


def run_node(code: str) -> str:
    if not shutil.which("node") or not Path(node_path(), "@larksuiteoapi", "node-sdk").exists():
        pytest.fail("the Node SDK is not installed: run scripts/node-env.sh (scripts/test.sh does)")
    out = subprocess.run(["node", "-e", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "NODE_PATH": node_path()})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_the_printed_python_snippet_lists_stats(demo):
    code = block(demo, "import lark_oapi", "print(")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    code_, msg, n, _name = out.stdout.strip().splitlines()[-1].split(" ", 3)
    assert (code_, msg, n) == ("0", "success", "20"), out.stdout


def test_the_printed_node_snippet_lists_stats(demo):
    code = block(demo, "const lark = require", ".then(")
    assert run_node(code).split(" ")[:2] == ["0", "20"]


def credentials(demo: str):
    base = demo.splitlines()[0].split("listening on ", 1)[1].strip()
    app_id, secret = re.search(r"app_id (\S+)\s+app_secret (\S+)", demo).groups()
    return base, app_id, secret


def readme_block(lang: str) -> str:
    readme = (REPO / "README.md").read_text()
    return re.search(r"```" + lang + r"\n(.*?)```", readme, re.S).group(1)


def fill(code: str, demo: str) -> str:
    base, app_id, secret = credentials(demo)
    code = code.replace("http://127.0.0.1:8080", base).replace("cli_…", app_id)
    return code.replace('"…"', f'"{secret}"').replace("'…'", f"'{secret}'")


def test_the_readme_python_snippet_runs(demo):
    code = fill(readme_block("python"), demo)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    code_, log_id, n = out.stdout.split()
    assert code_ == "0" and len(log_id) == 34 and int(n) == 60


def test_the_readme_node_snippet_runs(demo):
    code = fill(readme_block("js"), demo)
    wrapped = "(async () => {\n" + code + "\nconsole.log(r.code, r.data.items.length);\n})().catch((e) => { console.error(e); process.exit(1); });"
    assert run_node(wrapped) == "0 60"
