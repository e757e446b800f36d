"""Checklist item 6, data checksums: the restored cluster stopped cleanly and read page by page by pg_checksums."""

from __future__ import annotations

import re

from pgdrill.fixtures.contract import Cluster
from pgdrill.scenarios.verdicts.checks import Check, NotRun, require, run_check
from pgdrill.scenarios.verdicts.result import DrillFailure


def checksums_offline(cluster: Cluster) -> Check:
    """Checklist item 6: stop the server cleanly, pg_checksums --check, start it again."""
    def probe() -> str:
        cluster.stop("fast")
        try:
            out = cluster.offline_tool("pg_checksums", "--check")
        finally:
            cluster.start()
        text = out.stdout + out.stderr
        failures = re.findall(r'checksum verification failed in file "([^"]+)", block (\d+)', text)
        if failures:
            where = ", ".join(f"{f} block {b}" for f, b in failures[:5])
            raise DrillFailure("CHECKSUM_FAILURE", f"pg_checksums found corrupt pages: {where}")
        if "checksums are not enabled" in text:
            raise NotRun("data checksums are not enabled in this cluster")
        require(out.returncode == 0, f"pg_checksums exited {out.returncode}: {' '.join(text.split())[:200]}")
        bad = re.search(r"Bad checksums:\s+(\d+)", text)
        return f"pg_checksums --check: {bad.group(0) if bad else 'clean'}"
    return run_check("data checksums (pg_checksums --check, offline)", probe)
