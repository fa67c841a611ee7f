"""Rules about measures: "top 5 products by revenue", "revenue by region", "order count".

A mixin of `Parser`. A measure is a number summed over rows (or the rows counted); the
thing it is ranked or grouped by is an entity or a period. When the measure lives in
another table than the entity, it is aggregated along the foreign keys between them:
"the top products by revenue" sums each product's order lines, it does not list products.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dana.nl2sql.lexicon import AGGREGATE_WORDS, DIRECTION_WORDS, MONEY_WORDS, lemma
from dana.nl2sql.linking import (
    Mention,
    Target,
    is_business_term,
    is_measure,
    label_columns,
    money_column,
    primary_key,
)
from dana.nl2sql.plan import Col, Item

if TYPE_CHECKING:
    from dana.nl2sql.parser import Parser

RANK_WORDS = {"top": "desc", "bottom": "asc"}
RANK_CUES = (("by",), ("in", "terms", "of"), ("based", "on"), ("according", "to"),
             ("ranked", "by"))  # fmt: skip
MEASURE_COUNTS = (("number", "of"), ("count", "of"), ("amount", "of"))
SUPERLATIVES = frozenset({"most", "least", "highest", "lowest", "largest", "biggest",
                          "greatest", "smallest"})  # fmt: skip
MONEY_VERBS = frozenset({"spent", "spend", "spends", "spending", "paid", "pay", "pays"})
# Rows shown by "the top products by revenue" when the question gives no number.
DEFAULT_TOP = 10


class MeasureRules:
    # -- top / bottom N by a measure ------------------------------------------------------

    def _rankings(self: Parser) -> None:
        for i, word in enumerate(self.low):
            if word in RANK_WORDS and not self.used[i] and not self._is_mention(i):
                self._ranking_at(i, RANK_WORDS[word])

    def _ranking_at(self: Parser, i: int, direction: str) -> None:
        j, limit = i + 1, None
        if j < len(self.tokens) and self.tokens[j].kind == "number":
            limit, j = int(self.tokens[j].number or 0), j + 1
        entity = self.mention_at(self.skip_fillers(j))
        if entity is None or self.role.get(entity.start):
            return
        # "top 3 customers by sales" where `customer` is a text column: rank its values
        by_column = not self._as_table(entity, 0.3)
        if by_column and (entity.kind != "column" or self._numeric(entity.best)):
            return
        cue = next((c for c in RANK_CUES if self.matches(entity.end, c)), None)
        found = self._measure_at(entity.end + len(cue), entity.best.table) if cue else None
        if found is None:
            return
        item, measure, end = found
        table = entity.best.table
        if item.agg is None and item.col is not None and item.col.table != table:
            item = Item(agg="sum", col=item.col, label=item.col.column)
        self.consume(i, end)
        self._take(entity, "entity")
        self._take(measure, "having" if item.col is None else "order")
        self.order.append((item, direction))
        plural = self.low[entity.end - 1] != self.tokens[entity.end - 1].lem
        self.limit = limit or (DEFAULT_TOP if plural else 1)
        labels = [entity.best.column or ""] if by_column else None
        self._show_ranked(table, entity.start, item, end, labels)

    # -- which X has the most <measure> ------------------------------------------------

    def _superlative_measures(self: Parser) -> None:
        for i, word in enumerate(self.low):
            if word in SUPERLATIVES and not self.used[i] and not self._is_mention(i):
                self._superlative_measure_at(i, DIRECTION_WORDS[word])

    def _superlative_measure_at(self: Parser, i: int, direction: str) -> None:
        """ "Which store had the most revenue", "the customer who spent the most": the
        measure lives in rows related to the thing asked for, so it is summed per thing,
        like "the top store by revenue"."""
        entity = self._entity_before(i)
        if entity is None:
            return
        table = entity.best.table
        found = self._measure_at(i + 1, table)
        before = self.back_fillers(i - 1)
        if found is None and before >= 0 and self.low[before] in MONEY_VERBS:
            column = self._money_column(table)
            end = i + 1
            if column is None:
                return
            mention = Mention(before, before + 1, "column", [Target(column.table, column.column)])
            found = Item(agg="sum", col=column), mention, end
            self.consume(before, i)
        if found is None:
            return
        item, measure, end = found
        if item.col is None or item.col.table == table or item.agg not in (None, "sum"):
            return
        strong = self.low[i] in ("most", "least") or item.agg == "sum" or self._term(measure)
        if not strong:
            return
        item = Item(agg="sum", col=item.col)
        self.consume(i, end)
        if i and self.low[i - 1] == "the":
            self.consume(i - 1, i)
        self._take(entity, "entity")
        self._take(measure, "order")
        self.order.append((item, direction))
        self.limit = 1
        self._show_ranked(table, entity.start, item, end, None)

    def _entity_before(self: Parser, position: int) -> Mention | None:
        tables = [
            m for m in self.mentions
            if m.end <= position and not self.role.get(m.start) and m.kind == "table"
        ]  # fmt: skip
        return tables[-1] if tables else None

    def _show_ranked(
        self: Parser, table: str, position: int, item: Item, end: int, labels: list[str] | None
    ) -> None:
        """Show each ranked thing by its name, beside the measure it is ranked by; group by
        its key as well, so two things named alike stay apart."""
        key = primary_key(self.index.tables[table])
        if labels is None:
            labels = label_columns(self.index.tables[table]) or ([key] if key else [])
            keys = [key] if key and key not in labels else []
        else:
            keys = []
        if not labels:
            return
        self.select.extend((position, Item(col=Col(table, label))) for label in labels)
        self.select.append((end, item))
        if item.agg is not None:
            self.group.extend(Item(col=Col(table, k)) for k in keys + labels)

    def _measure_at(
        self: Parser, position: int, entity: str | None = None
    ) -> tuple[Item, Mention, int] | None:
        """The measure named at `position`: "revenue", "total sales", "number of orders"."""
        p = self.skip_fillers(position, frozenset({"their", "its"}))
        func = None
        word = self.low[p] if p < len(self.low) else ""
        if AGGREGATE_WORDS.get(word) in ("sum", "avg") and not self._is_mention(p):
            func, p = AGGREGATE_WORDS[word], self.skip_fillers(p + 1)
        money = self._money_at(p, entity)
        if money is not None:
            mention, end = money
            column = mention.best.column or ""
            item = Item(agg=func or "sum", col=Col(mention.best.table, column))
            return item, mention, end
        for cue in MEASURE_COUNTS:
            if func is None and self.matches(p, cue):
                func, p = "count", self.skip_fillers(p + len(cue))
        mention = self.mention_at(p)
        if mention is None:
            return None
        if func == "count" or mention.kind == "table":
            if not self._as_table(mention, 0.3):
                return None
            end = mention.end + (1 if self.matches(mention.end, ("count",)) else 0)
            return Item(agg="count", label=mention.best.table.lower()), mention, end
        if mention.kind != "column" or not self._measured(mention):
            return None
        column = mention.best.column or ""
        label = {None: None, "sum": column}.get(func, f"average_{column}")
        return (
            Item(agg=func, col=Col(mention.best.table, column), label=label),
            mention,
            mention.end,
        )

    def _money_at(self: Parser, p: int, entity: str | None) -> tuple[Mention, int] | None:
        """ "spend", "order value", "amount spent": a generic money word is the money column
        of the table named with it, or of the one table that records the entity's money."""
        mention = self.mention_at(p)
        table, end = entity, p
        if mention is not None and mention.kind == "table":
            table, end = mention.best.table, mention.end
        elif mention is not None:
            return None
        if table is None or end >= len(self.low) or self.low[end] not in MONEY_WORDS:
            return None
        if self.matches(end, ("amount", "of")):
            return None  # "the amount of orders" counts them
        end += 2 if end + 1 < len(self.low) and self.low[end + 1] in MONEY_WORDS else 1
        found = self._money_column(table)
        if found is None:
            return None
        return Mention(p, end, "column", [Target(found.table, found.column)]), end

    def _money_column(self: Parser, table: str) -> Col | None:
        own = money_column(self.index.tables[table])
        if own is not None:
            return Col(table, own)
        found = {
            (edge.table, money_column(self.index.tables[edge.table]))
            for edge in self.edges
            if edge.ref_table == table
        }
        found = {f for f in found if f[1] is not None}
        if len(found) != 1:
            return None
        name, column = found.pop()
        return Col(name, column or "")

    def _measured(self: Parser, mention: Mention) -> bool:
        target = mention.best
        table = self.index.tables[target.table]
        column = table.column(target.column or "")
        return column is not None and is_measure(table, column)

    def _term(self: Parser, mention: Mention) -> bool:
        column = self.index.column(mention.best.table, mention.best.column or "")
        return column is not None and is_business_term(column)

    # -- a measure by a dimension: revenue by region, orders per month --------------------

    def _measure_before(self: Parser, position: int) -> bool:
        """Whether the words just before `position` name a measure or an entity counted."""
        mention = self.mention_covering(position - 1) if position else None
        if mention is None or self.role.get(mention.start):
            return False
        return mention.kind == "table" or (mention.kind == "column" and self._measured(mention))

    def _bare_measures(self: Parser) -> None:
        """ "Revenue by region" sums the revenue; "orders per month" counts the orders; a
        business term alone ("revenue last quarter") is its total."""
        if self._aggregated():
            return
        free = [m for m in self.mentions if not self.role.get(m.start) and m.kind == "column"]
        if not self.group:
            terms = [m for m in free if self._term(m)]
            if terms and len(terms) == len(free):
                self._sum(terms)
            return
        grouped = {
            g.col.table for g in self.group if g.col and not g.bucket and self._is_key(g.col)
        }
        cued = self._measure_cue
        measures = [
            m for m in free
            if self._measured(m) and m.best.table not in grouped and (cued or self._term(m))
        ]  # fmt: skip
        if measures:
            self._sum(measures)
            return
        if not cued or free:
            return
        entities = [
            m for m in self.mentions
            if m.kind == "table" and not self.role.get(m.start) and m.best.table not in grouped
        ]  # fmt: skip
        if len(entities) == 1:
            self._take(entities[0], "count")
            self.count_table = entities[0].best.table
            item = Item(agg="count", label=self.count_table.lower())
            self.select.append((entities[0].start, item))

    def _sum(self: Parser, measures: list[Mention]) -> None:
        for mention in measures:
            self._take(mention, "agg")
            column = mention.best.column or ""
            item = Item(agg="sum", col=Col(mention.best.table, column), label=column)
            self.select.append((mention.start, item))

    def _aggregated(self: Parser) -> bool:
        return (
            any(i.agg for _, i in self.select)
            or any(i.agg for i, _ in self.order)
            or bool(self.having)
        )

    def _is_key(self: Parser, column: Col) -> bool:
        return column.column == primary_key(self.index.tables[column.table])

    # -- "order count": a count named after the noun --------------------------------------

    def _count_after_noun(self: Parser, position: int) -> bool:
        """ "the order count", "customer count": the rows of the table just before."""
        noun = self.mention_covering(position - 1) if position else None
        if noun is None or self.role.get(noun.start) or not self._as_table(noun, 0.3):
            return False
        if noun.end != position or lemma(self.low[position]) != "count":
            return False
        self.consume(position, position + 1)
        self._take(noun, "count")
        self.count_table = noun.best.table
        self.select.append((noun.start, Item(agg="count")))
        return True

    # -- order of periods -----------------------------------------------------------------

    def _chronological(self: Parser) -> None:
        """Rows per period come in time order, unless the question orders them."""
        if self.order:
            return
        for item in self.group:
            if item.bucket is not None:
                self.order.append((Item(col=item.col, bucket=item.bucket), "asc"))
