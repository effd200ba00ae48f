"""supabase-js (the official JavaScript client, on Node) against the embedded stack.

One pytest test per Node test file in tests/js, each on its own fresh stack; every Node
test inside it is reported as a pytest subtest, so a failure names the behaviour that broke.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import EmbeddedStack
from tests.supabase_js_helpers import (
    JS_DIR,
    NODE_MAJOR_MIN,
    install_problem,
    node_major,
    node_test_files,
    run_node_tests,
    setup_sql,
)

# Below pytest's per-test timeout, so a hang is reported with node's output.
NODE_DEADLINE_SECONDS = 100.0
NPM_CI_SECONDS = 300.0


@pytest.fixture(scope="session")
def js_packages() -> None:
    """The pinned npm packages, installed from the registry on first use (as the
    embedded PostgreSQL comes from its wheel): `python -m pytest` needs no other step."""
    if install_problem() is None:
        return
    npm = shutil.which("npm")
    if npm is not None:
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=JS_DIR,
            check=False,
            timeout=NPM_CI_SECONDS,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
    problem = install_problem()
    if problem is not None:
        pytest.fail(f"supabase-js suite cannot run: {problem}", pytrace=False)


async def _apply_setup_sql(database_url: str, test_file: str) -> None:
    sql = setup_sql(test_file)
    if sql is None:
        return
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.mark.parametrize("test_file", node_test_files())
async def test_supabase_js(
    test_file: str,
    embedded: EmbeddedStack,
    tmp_path: Path,
    subtests: pytest.Subtests,
    js_packages: None,
) -> None:
    assert await node_major() >= NODE_MAJOR_MIN, f"supabase-js needs Node {NODE_MAJOR_MIN}+"
    await _apply_setup_sql(embedded.database_url, test_file)
    env = {
        "SUPABASE_URL": embedded.url,
        "SUPABASE_ANON_KEY": embedded.anon_key,
        "SUPABASE_SERVICE_ROLE_KEY": embedded.service_key,
    }
    run = await run_node_tests(test_file, env, tmp_path / "report.tap", NODE_DEADLINE_SECONDS)

    for node_test in run.tests:
        with subtests.test(msg=node_test.name):
            assert node_test.passed, node_test.details
    assert run.tests, f"node reported no tests for {test_file}:\n{run.output}"
    failed = [t.name for t in run.tests if not t.passed]
    assert run.returncode == 0, f"node --test {test_file} exited {run.returncode}; failed: {failed}"
