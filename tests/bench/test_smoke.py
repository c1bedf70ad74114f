"""The benchmarks are not tests, but they must not rot: each runs here for a moment."""

from __future__ import annotations

import os
import shutil

import pytest

from bench import http

pytestmark = pytest.mark.slow


def test_http_benchmark_runs_and_reports_every_case(capsys):
    if shutil.which("wrk") is None:
        if os.environ.get("GATEWAY_REQUIRE_WRK"):
            pytest.fail("wrk is required here (apt-get install wrk)")
        pytest.skip("wrk is not installed (apt-get install wrk)")
    code = http.main(["--databases", "sqlite", "--duration", "1", "--customers", "20",
                      "--connections", "4"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    for case in ("bare", "read", "read-dpop", "list100", "token"):
        assert f"sqlite     {case}" in out
