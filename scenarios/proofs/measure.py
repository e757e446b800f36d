"""RPO and lost transactions from the ack-tracking writer, exactly as DESIGN.md defines them.

lost = acknowledged before the disaster and absent after recovery;
RPO  = commit time of the last acknowledged − commit time of the last survivor before the first lost
       commit (0 when none lost): a hole in the middle counts from where it starts, not from the last
       marker that happens to have survived after it.
For PITR the check is exact in both directions around the target.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RpoMeasure:
    rpo_seconds: float
    lost: list[int]
    acknowledged: int
    survivors: int
    lower_bound: bool = False  # every marker was lost: the true RPO reaches back before the first one


def measure_rpo(commit_ts: dict[int, float], acked: set[int], present: set[int]) -> RpoMeasure:
    """commit_ts: seq -> commit time for the acknowledged markers, sampled before the disaster."""
    lost = sorted(acked - present)
    kept = acked & present
    before_loss = [s for s in kept if lost and s < lost[0]]
    if not lost:
        rpo = 0.0
    elif not before_loss:  # nothing survived before the first loss: the loss reaches back past the workload
        rpo = max(commit_ts[s] for s in acked) - min(commit_ts[s] for s in acked)
    else:
        rpo = max(commit_ts[s] for s in acked) - max(commit_ts[s] for s in before_loss)
    return RpoMeasure(round(max(rpo, 0.0), 3), lost, len(acked), len(kept),
                      lower_bound=bool(lost) and not before_loss)


def pitr_exactness(commit_ts: dict[int, float], target: float, present: set[int]) -> tuple[list[int], list[int]]:
    """(missing: committed at or before the target but absent, extra: committed after it but present)."""
    expected = {seq for seq, ts in commit_ts.items() if ts <= target}
    after = {seq for seq, ts in commit_ts.items() if ts > target}
    return sorted(expected - present), sorted(after & present)
