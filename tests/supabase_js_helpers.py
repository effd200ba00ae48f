"""Running the supabase-js suite in tests/js with Node's test runner: the install check, the
`node --test` child process (its spec output streamed, its TAP report parsed per test)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

JS_DIR = Path(__file__).resolve().parent / "js"
NODE_MAJOR_MIN = 20
NPM_CI_HINT = "run `npm ci` in tests/js: (cd tests/js && npm ci --no-audit --no-fund)"

_RESULT = re.compile(
    r"^(?P<indent> *)(?P<failed>not )?ok \d+ - (?P<name>.*?)(?P<directive> # .*)?$"
)
_SUBTEST = re.compile(r"^(?P<indent> *)# Subtest: (?P<name>.*)$")


def node_test_files() -> list[str]:
    """Every Node test file of the suite (one pytest test each)."""
    return sorted(path.name for path in JS_DIR.glob("*.test.mjs"))


def setup_sql(test_file: str) -> str | None:
    """`<name>.setup.sql` next to `<name>.test.mjs`: SQL a test file needs, run as superuser."""
    path = JS_DIR / test_file.replace(".test.mjs", ".setup.sql")
    return path.read_text() if path.exists() else None


def _read_report(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def install_problem() -> str | None:
    """Why the suite cannot run here (no Node 20+, no or stale node_modules), or None."""
    node = shutil.which("node")
    if node is None:
        return f"`node` (Node.js >= {NODE_MAJOR_MIN}) is not on PATH"
    pins: dict[str, str] = json.loads((JS_DIR / "package.json").read_text())["dependencies"]
    for package, pinned in pins.items():
        manifest = JS_DIR / "node_modules" / package / "package.json"
        if not manifest.exists():
            return f"tests/js/node_modules lacks {package}: {NPM_CI_HINT}"
        installed = json.loads(manifest.read_text())["version"]
        if installed != pinned:
            return (
                f"tests/js/node_modules has {package} {installed} but package.json pins"
                f" {pinned}: {NPM_CI_HINT}"
            )
    return None


async def node_major() -> int:
    proc = await asyncio.create_subprocess_exec("node", "--version", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return int(out.decode().strip().lstrip("v").split(".")[0])


@dataclass(frozen=True)
class NodeTest:
    """One test's result from node's TAP report; `name` joins suite names with ' > '."""

    name: str
    passed: bool
    details: str


@dataclass(frozen=True)
class NodeRun:
    returncode: int
    output: str
    tests: list[NodeTest]


def parse_tap(text: str) -> list[NodeTest]:
    """Results of node's TAP reporter (nested suites included), in report order."""
    results: list[NodeTest] = []
    parents: dict[int, str] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        subtest = _SUBTEST.match(line)
        if subtest:
            indent = len(subtest["indent"])
            parents = {level: name for level, name in parents.items() if level < indent}
            parents[indent] = _unescape(subtest["name"])
            continue
        result = _RESULT.match(line)
        if result is None:
            continue
        indent = len(result["indent"])
        path = [name for level, name in sorted(parents.items()) if level < indent]
        name = " > ".join([*path, _unescape(result["name"])])
        directive = (result["directive"] or "").strip(" #")
        # A skipped or todo test proved nothing: the suite does not skip.
        passed = result["failed"] is None and not directive
        details = directive or _yaml_block(lines, index + 1, indent)
        results.append(NodeTest(name, passed, details))
    return results


def _unescape(name: str) -> str:
    return name.replace("\\#", "#").replace("\\\\", "\\")


def _yaml_block(lines: list[str], start: int, indent: int) -> str:
    """The diagnostic block after a result line (error, expected/actual, location)."""
    pad = " " * (indent + 2)
    if start >= len(lines) or lines[start] != pad + "---":
        return ""
    block: list[str] = []
    for line in lines[start + 1 :]:
        if line == pad + "...":
            break
        block.append(line.removeprefix(pad))
    return "\n".join(line for line in block if not line.startswith("duration_ms"))


async def run_node_tests(
    test_file: str, env: dict[str, str], report: Path, deadline: float
) -> NodeRun:
    """`node --test <file>` in tests/js; its spec output is echoed line by line as it comes
    (pytest shows it with the failure, or live with -s) and its TAP report is parsed."""
    proc = await asyncio.create_subprocess_exec(
        "node",
        "--test",
        # realtime-js's disconnect() leaves a 10 s timer behind that would hold the process.
        "--test-force-exit",
        "--test-reporter=spec",
        "--test-reporter-destination=stdout",
        "--test-reporter=tap",
        f"--test-reporter-destination={report}",
        test_file,
        cwd=JS_DIR,
        env={**os.environ, "NO_COLOR": "1", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        # node --test runs each file in a child process: a group lets a hang be ended whole.
        start_new_session=True,
    )
    output: list[str] = []
    try:
        async with asyncio.timeout(deadline):
            assert proc.stdout is not None
            while line := (await proc.stdout.readline()).decode(errors="replace"):
                output.append(line)
                sys.stdout.write(line)
            returncode = await proc.wait()
    except TimeoutError:
        note = f"\n[node --test {test_file} ran past {deadline:.0f} s and was killed]\n"
        output.append(note)
        sys.stdout.write(note)
        returncode = -1
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    return NodeRun(returncode, "".join(output), parse_tap(_read_report(report)))
