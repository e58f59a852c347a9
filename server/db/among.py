"""Membership in a list of values, written so that a statement's text does not depend on the list's length.

`column IN (:a, :b, …)` has one placeholder per value: each length is a different statement. PostgreSQL's
driver prepares every statement once per connection and keeps the last hundred; a crowd's gathered reads
ask about 1, 7, 23 or 41 people at a time, on ten pooled connections, so most of those reads paid a trip to
prepare their statement first (a storm of 5,000 joins: 678 statements prepared for 2,891 run, nearly all
of them these lists). On PostgreSQL a list is therefore sent as one array, `column = ANY($1)`, and pairs as
two arrays taken in step, `(a, b) IN (SELECT * FROM unnest($1, $2))`: one statement whatever the count.
SQLite prepares nothing across calls, and keeps the plain `IN`.

The values are named parameters, given when the statement runs: a statement built once (with `Among`) is
compiled once, instead of its construction and cache key being paid for again by every batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam, func, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import InstrumentedAttribute

# A table's column or a mapped class's attribute.
Column = ColumnElement[Any] | InstrumentedAttribute[Any]


@dataclass(frozen=True)
class Among:
    """Membership clauses for one database: `arrays` on PostgreSQL."""

    arrays: bool

    @classmethod
    def of(cls, engine: AsyncEngine) -> Among:
        return cls(arrays=engine.dialect.name == "postgresql")

    def values(self, column: Column, name: str) -> ColumnElement[bool]:
        """`column IN :name`; the statement runs with `{name: [values]}`."""
        if self.arrays:
            return column == any_(bindparam(name, type_=ARRAY(column.type)))
        return column.in_(bindparam(name, expanding=True))

    def pairs(self, columns: tuple[Column, Column], name: str) -> ColumnElement[bool]:
        """`(first, second) IN :name`; the statement runs with `self.pair_values(name, pairs)`."""
        first, second = columns
        if self.arrays:
            unnested = (
                func.unnest(
                    bindparam(f"{name}_first", type_=ARRAY(first.type)),
                    bindparam(f"{name}_second", type_=ARRAY(second.type)),
                )
                .table_valued("first", "second")
                .render_derived()
            )
            return tuple_(first, second).in_(select(unnested.c.first, unnested.c.second))
        return tuple_(first, second).in_(bindparam(name, expanding=True))

    def pair_values(self, name: str, pairs: Iterable[tuple[Any, Any]]) -> dict[str, Any]:
        """The parameters of `pairs(columns, name)`: each pair once."""
        listed = list(dict.fromkeys(pairs))
        if self.arrays:
            return {f"{name}_first": [one for one, _ in listed], f"{name}_second": [two for _, two in listed]}
        return {name: listed}


def listed(values: Iterable[Any]) -> list[Any]:
    """The parameter of `Among.values`: each value once."""
    return list(dict.fromkeys(values))
