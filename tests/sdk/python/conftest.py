"""Shared fixtures: server logs are attached to the report of a failing test."""
import pytest

import harness


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for srv in list(harness.LIVE_SERVERS):
            tail = srv.log_tail(60)
            if tail:
                report.sections.append((f"adminstats stderr ({srv.workdir.name})", tail))


@pytest.fixture(scope="session", autouse=True)
def _stop_leftover_servers():
    yield
    for srv in list(harness.LIVE_SERVERS):
        if srv.running():
            srv.stop()
