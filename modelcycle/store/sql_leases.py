"""Leases on a SQL database: taking, renewing and releasing one is a single statement, so two
processes or hosts asking at the same moment cannot both get it."""

from __future__ import annotations

from sqlalchemy import case, select

from modelcycle.store import schema
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import Lease
from modelcycle.store.validation import check_lease_request

t = schema.leases


class SqlLeases:
    def acquire_lease(self, name: str, owner: str, ttl_s: float) -> Lease | None:
        name, owner, ttl_ms = check_lease_request(name, owner, ttl_s)
        now = now_ms()
        insert = self._insert(t).values(name=name, owner=owner, epoch=1, expires_at=now + ttl_ms)
        taken = insert.on_conflict_do_update(
            index_elements=[t.c.name],
            set_={"owner": insert.excluded.owner, "expires_at": insert.excluded.expires_at,
                  "epoch": case((t.c.owner == insert.excluded.owner, t.c.epoch), else_=t.c.epoch + 1)},
            where=(t.c.owner == insert.excluded.owner) | (t.c.expires_at < now),
        ).returning(t.c.name, t.c.owner, t.c.epoch, t.c.expires_at)
        with self._write() as conn:
            row = conn.execute(taken).first()
        return Lease(*row) if row is not None else None

    def release_lease(self, name: str, owner: str) -> None:
        name, owner, _ = check_lease_request(name, owner, 1)
        with self._write() as conn:
            conn.execute(t.update().where(t.c.name == name, t.c.owner == owner).values(expires_at=0))

    def get_lease(self, name: str) -> Lease | None:
        name, _, _ = check_lease_request(name, "-", 1)
        with self._read() as conn:
            row = conn.execute(select(t.c.name, t.c.owner, t.c.epoch, t.c.expires_at).where(t.c.name == name)).first()
        return Lease(*row) if row is not None and row.expires_at >= now_ms() else None
