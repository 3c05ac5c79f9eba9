"""Saved views of the web UI on a SQL database: the id is made from the query, so saving is an
insert that does nothing when the row is there, safe when several processes save at once."""

from __future__ import annotations

from sqlalchemy import select

from modelcycle.exceptions import Conflict, NotFound
from modelcycle.store import schema
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import SavedView
from modelcycle.store.validation import check_view_id, check_view_query, view_id

t = schema.saved_views


class SqlViews:
    def save_view(self, query: str) -> SavedView:
        query = check_view_query(query)
        found = view_id(query)
        insert = self._insert(t).values(id=found, query=query, created_at=now_ms())
        with self._write() as conn:
            conn.execute(insert.on_conflict_do_nothing(index_elements=[t.c.id]))
            row = conn.execute(select(t.c.query, t.c.created_at).where(t.c.id == found)).one()
        if row.query != query:  # two queries whose digests begin alike: about one in 2**50
            raise Conflict(f"The view id {found!r} is taken by another query; the view cannot be saved. "
                           "Change the view a little (its order of parameters) and save it again.")
        return SavedView(found, query, row.created_at)

    def get_view(self, view_id: str) -> SavedView:
        view_id = check_view_id(view_id)
        with self._read() as conn:
            row = conn.execute(select(t.c.query, t.c.created_at).where(t.c.id == view_id)).first()
        if row is None:
            raise NotFound(f"No saved view {view_id!r}; views are saved by POST /api/views.")
        return SavedView(view_id, row.query, row.created_at)
