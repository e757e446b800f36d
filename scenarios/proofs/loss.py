"""What the ack-tracking markers say a recovery lost: acknowledged commits split by whether their WAL had been
archived (to the end of the archive), or exactness on both sides of a target (point-in-time)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pgdrill.scenarios.backups.wal import parse_lsn
from pgdrill.scenarios.proofs.measure import pitr_exactness
from pgdrill.scenarios.verdicts.result import INFO, ScenarioResult


class Markers(Protocol):
    """The markers of a Workload once sampled: acknowledged seqs, their commit LSN and commit time."""

    acked: set[int]
    lsn: dict[int, str]
    commit_ts: dict[int, float]


def judge_physical_loss(result: ScenarioResult, markers: Markers, present: set[int], archived_end_lsn: int) -> None:
    """Lost markers whose WAL was archived are real data loss; those only in unarchived WAL are expected."""
    lost = markers.acked - present
    in_archive = sorted(s for s in lost if parse_lsn(markers.lsn[s]) <= archived_end_lsn)
    if in_archive:
        result.find("ARCHIVED_DATA_LOST", f"{len(in_archive)} acknowledged transactions were lost although their WAL "
                                          f"had been archived (markers {in_archive[0]}..{in_archive[-1]})")
    unarchived = len(lost) - len(in_archive)
    result.facts["lost_unarchived_expected"] = unarchived
    if unarchived:
        result.find("UNARCHIVED_WAL_LOST", f"{unarchived} acknowledged transactions lived only in the WAL segment not "
                                           f"yet archived when the data directory was lost (the loss archive_timeout "
                                           f"bounds)", INFO)


def judge_stop_point(result: ScenarioResult, markers: Markers, target: datetime, present: set[int]) -> None:
    """PITR is proved by markers on both sides of the target (the server's stop line is proofs.replay's)."""
    before = [s for s, ts in markers.commit_ts.items() if ts <= target.timestamp()]
    after = [s for s, ts in markers.commit_ts.items() if ts > target.timestamp()]
    if not before or not after:
        result.find("PITR_UNPROVEN", f"no markers committed {'before' if not before else 'after'} the target: "
                                     "exactness around it cannot be shown")
    missing, extra = pitr_exactness(markers.commit_ts, target.timestamp(), present)
    if missing:
        result.find("PITR_MISSED_COMMITS", f"{len(missing)} markers committed at or before the target are "
                                           f"missing (first {missing[0]})")
    if extra:
        result.find("PITR_OVERSHOT", f"{len(extra)} markers committed after the target are present "
                                     f"(first {extra[0]}): recovery went past the target")
    result.facts["pitr_exact"] = bool(before and after) and not missing and not extra
