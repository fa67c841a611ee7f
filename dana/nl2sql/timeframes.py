"""Rules about time: "in 2024", "last quarter", "the last 6 months", "monthly", "per week".

A mixin of `Parser`. Every rule needs a date column, and picks it the same way: from the
rows the question counts or measures, else from the nearest table along foreign keys.
"Revenue in 2024" is dated by the order the revenue line belongs to, not by when some
customer signed up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dana.nl2sql.lexicon import name_words, stem
from dana.nl2sql.linking import date_column, is_measure, is_temporal
from dana.nl2sql.paths import distances
from dana.nl2sql.plan import Col, Cond, Item, NotUnderstood

if TYPE_CHECKING:
    from dana.nl2sql.parser import Parser

PERIOD_UNITS = {
    "day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month",
    "months": "month", "quarter": "quarter", "quarters": "quarter", "year": "year",
    "years": "year",
}  # fmt: skip
# Adjectives that ask for one row per period: "monthly revenue", "weekly order count".
BUCKET_WORDS = {
    "daily": "day", "weekly": "week", "monthly": "month", "quarterly": "quarter",
    "yearly": "year", "annual": "year", "annually": "year",
}  # fmt: skip
# Words before a period that ask for one row per period: "per month", "by week".
BUCKET_CUES = ("per", "by", "each", "every", "a")
RECENT_WORDS = ("last", "past", "previous", "this", "current")
# Words the time rules read: never "missing data" when a question is declined.
TIME_WORDS = frozenset(PERIOD_UNITS) | frozenset(BUCKET_WORDS) | frozenset(RECENT_WORDS)


class TimeRules:
    # -- periods: last month, the last 6 months, this year --------------------------------

    def _periods(self: Parser) -> None:
        for i, word in enumerate(self.low):
            if word in RECENT_WORDS and not self.used[i]:
                self._period_at(i, word)

    def _period_at(self: Parser, i: int, word: str) -> None:
        count, unit_at = 1, i + 1
        if unit_at < len(self.tokens) and self.tokens[unit_at].kind == "number":
            count, unit_at = int(self.tokens[unit_at].number or 0), unit_at + 1
        unit = PERIOD_UNITS.get(self.low[unit_at]) if unit_at < len(self.low) else None
        if unit is None or self._is_mention(unit_at):
            return
        column = self._date_column()
        if column is None:
            raise NotUnderstood(f"which date '{word} {unit}' applies to")
        kind = "current" if word in ("this", "current") else "previous"
        if unit_at == i + 2 or self.low[unit_at].endswith("s"):
            kind = "recent"
        before = self.low[max(0, i - 2) : i]
        start = i - 2 if before in (["in", "the"], ["for", "the"], ["over", "the"]) else i
        self.consume(start, unit_at + 1)
        self._add_filter(i, Cond(column, "period", (unit, count, kind)))

    # -- buckets: monthly, per week, by year ----------------------------------------------

    def _time_buckets(self: Parser) -> None:
        """ "monthly order count", "revenue per month": one group per period of the date."""
        for i, word in enumerate(self.low):
            if self.used[i] or self._is_mention(i):
                continue
            if word in BUCKET_WORDS:
                self._bucket_at(i, i, BUCKET_WORDS[word])
            elif word in BUCKET_CUES and i + 1 < len(self.low) and not self.used[i + 1]:
                unit = PERIOD_UNITS.get(self.low[i + 1])
                if unit is not None and not self.low[i + 1].endswith("s"):
                    if not self._is_mention(i + 1):
                        self._bucket_at(i, i + 1, unit)

    def _bucket_at(self: Parser, start: int, end: int, unit: str) -> None:
        column = self._date_column()
        if column is None:
            raise NotUnderstood(f"which date to group by {unit}")
        self.consume(start, end + 1)
        self.group.append(Item(col=column, bucket=unit, label=unit))
        self._measure_cue = True

    # -- years: in 2024, between 2010 and 2015 --------------------------------------------

    def _year_filter(self: Parser, i: int, value: float, op: str | None, start: int) -> bool:
        if not (1000 <= value <= 2100) or value != int(value):
            return False
        before = self.low[i - 1] if i else ""
        if op is None and before not in ("in", "of", "year", "on", "during", "from"):
            return False
        column = self._verb_year_column(start if op else i - 1) or self._stored_year_column(i)
        if column is None:
            return False
        self.consume(start if op else i - 1, i + 1)
        col, bucket = column
        self._add_filter(start if op else i - 1, Cond(col, op or "=", (int(value),), bucket=bucket))
        if before == "year" and i >= 2 and self.low[i - 2] in ("in", "of", "the"):
            self.consume(i - 2, i - 1)
        return True

    def _verb_year_column(self: Parser, position: int) -> tuple[Col, str | None] | None:
        """ "opened after 2010" is the year column named after opening, if there is one."""
        for j in range(position - 1, max(-1, position - 4), -1):
            verb = stem(self.low[j])
            for table in self._scope_tables():
                for column in self.index.tables[table].columns:
                    words = name_words(column.name)
                    dated = "year" in words or "date" in words or is_temporal(column)
                    if dated and verb in {stem(w) for w in words}:
                        self.consume(j, j + 1)
                        bucket = None if "year" in words else "year"
                        return Col(table, column.name), bucket
        return None

    def _stored_year_column(self: Parser, i: int) -> tuple[Col, str | None] | None:
        """The year column for a number compared; when text columns also store that number,
        a year column outside the question's tables is too far-fetched to guess."""
        column = self._year_column()
        stored = self.stored_numbers.get(i)
        if column is None or stored is None:
            return column
        named = self.tables_in_question()
        if column[0].table in named:
            return column
        near = [t for t in stored if t.table in named and t.column]
        if len({(t.table, t.column) for t in near}) == 1:
            return Col(near[0].table, near[0].column or ""), None
        return None

    def _year_column(self: Parser) -> tuple[Col, str | None] | None:
        for table_name in self._dated_order():
            table = self.index.tables[table_name]
            for column in table.columns:
                if "year" in name_words(column.name):
                    return Col(table.name, column.name), None
            date = date_column(table)
            if date is not None:
                return Col(table.name, date), "year"
        return None

    # -- which date ------------------------------------------------------------------------

    def _date_column(self: Parser) -> Col | None:
        for name in self._dated_order():
            date = date_column(self.index.tables[name])
            if date is not None:
                return Col(name, date)
        return None

    def _dated_order(self: Parser) -> list[str]:
        """Tables in the order a date is looked for: the measured rows, then the nearest
        along foreign keys, the question's own tables first among equals."""
        anchors = self._anchor_tables()
        scope = self._scope_tables()
        distance = distances(anchors, self.edges)
        # A table no foreign key reaches cannot date these rows.
        others = [t for t in self.index.tables if t not in anchors and t in distance]
        others.sort(key=lambda t: (distance[t], t not in scope))
        return anchors + others

    def _anchor_tables(self: Parser) -> list[str]:
        """The tables whose rows the question counts or sums."""
        anchors = [self.count_table] if self.count_table else []
        for mention in self.mentions:
            target = mention.best if mention.targets else None
            if mention.kind == "column" and target is not None and target.column:
                table = self.index.tables[target.table]
                column = table.column(target.column)
                if column is not None and is_measure(table, column):
                    anchors.append(target.table)
        return list(dict.fromkeys(anchors)) or self._scope_tables()
