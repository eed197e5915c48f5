"""Fixtures of the fuzz corpus: one worker process for the session, Hypothesis settings that
make every run the same (derandomized, no example database), and the corpus summary."""

from __future__ import annotations

import pytest
from fuzz_oracle import TALLIES, Worker, summary_lines


@pytest.fixture(scope="session")
def worker():
    w = Worker()
    yield w
    w.stop()


def pytest_terminal_summary(terminalreporter) -> None:
    if TALLIES:
        terminalreporter.section("fuzz corpus")
        for line in summary_lines():
            terminalreporter.write_line(line)
