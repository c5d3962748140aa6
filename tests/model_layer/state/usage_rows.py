"""Usage records for the writer and journal tests: one tenant, one key, ``i`` input tokens."""

from __future__ import annotations

import time

from model_layer.state import UsageRecord


def usage_record(i: int) -> UsageRecord:
    return UsageRecord(time.time(), "acme", "AKIA1", "m", "Converse", i, 1, 0, 0, 0.001, 5, "complete")
