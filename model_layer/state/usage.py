"""Usage records and running spend in the state database.

:meth:`UsageStore.add_many` writes a batch of usage rows and adds their cost to the tenant's
``spend`` rows for the UTC day and month, in one transaction: budgets are checked against
``spend`` without summing ``usage``, and the two can never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, case, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from model_layer.state.database import Database
from model_layer.state.records import Spend, UsageRecord, UsageSummary
from model_layer.state.schema import spend, usage


def periods(at: float) -> tuple[str, str]:
    """The spend periods (UTC day, UTC month) a timestamp falls in."""
    when = datetime.fromtimestamp(at, UTC)
    return f"d:{when:%Y-%m-%d}", f"m:{when:%Y-%m}"


class UsageStore:
    def __init__(self, db: Database):
        self.db = db

    def add_many(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        with self.db.write() as conn:
            conn.execute(insert(usage), [r.__dict__ for r in records])
            _add_spend(conn, records)

    def add(self, record: UsageRecord) -> None:
        self.add_many([record])

    def spend(self, tenant_id: str, at: float) -> Spend:
        day, month = periods(at)
        with self.db.read() as conn:
            rows = conn.execute(
                select(spend.c.period, spend.c.cost_usd).where(
                    (spend.c.tenant_id == tenant_id) & spend.c.period.in_([day, month])
                )
            ).all()
        found = dict(rows)
        return Spend(day_usd=found.get(day, 0.0), month_usd=found.get(month, 0.0))

    def summarize(
        self,
        *,
        tenant_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[UsageSummary]:
        c = usage.c
        query = select(
            c.tenant_id,
            c.model_id,
            func.count(),
            func.sum(case((c.error_code.is_not(None), 1), else_=0)),
            func.sum(c.input_tokens),
            func.sum(c.output_tokens),
            func.sum(c.cache_read_input_tokens),
            func.sum(c.cache_write_input_tokens),
            func.sum(c.cost_usd),
            func.avg(c.latency_ms),
        ).group_by(c.tenant_id, c.model_id)
        if tenant_id is not None:
            query = query.where(c.tenant_id == tenant_id)
        if since is not None:
            query = query.where(c.at >= since.timestamp())
        if until is not None:
            query = query.where(c.at < until.timestamp())
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(c.tenant_id, c.model_id)).all()
        return [
            UsageSummary(
                t,
                m,
                int(n),
                int(e),
                int(i),
                int(o),
                int(cr),
                int(cw),
                round(float(cost), 8),
                round(float(lat), 1),
            )
            for t, m, n, e, i, o, cr, cw, cost, lat in rows
        ]

    def records(self, *, tenant_id: str | None = None, limit: int = 1000) -> list[UsageRecord]:
        """The newest records first (for tests, audits and the usage API's detail view)."""
        query = select(usage).order_by(usage.c.id.desc()).limit(limit)
        if tenant_id is not None:
            query = query.where(usage.c.tenant_id == tenant_id)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        fields = UsageRecord.__dataclass_fields__
        return [UsageRecord(**{k: v for k, v in row._mapping.items() if k in fields}) for row in rows]


def _add_spend(conn: Connection, records: Sequence[UsageRecord]) -> None:
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for r in records:
        if r.cost_usd:
            for period in periods(r.at):
                totals[(r.tenant_id, period)] += r.cost_usd
    if not totals:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    rows = [{"tenant_id": t, "period": p, "cost_usd": v} for (t, p), v in sorted(totals.items())]
    stmt = dialect.insert(spend)
    stmt = stmt.on_conflict_do_update(
        index_elements=[spend.c.tenant_id, spend.c.period],
        set_={"cost_usd": spend.c.cost_usd + stmt.excluded.cost_usd},
    )
    conn.execute(stmt, rows)
