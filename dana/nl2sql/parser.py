"""From the words of a question to a `Plan`, by rules about English and schemas.

The parser walks the linked question (see `linking`) and gives every mention a role:
shown, counted, filtered, grouped, ordered. Cue words ("how many", "for each", "more
than", "without any") consume the tokens they cover. Whatever content word no rule
explains is kept in `unknown`: the translator declines rather than guess around it.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

from dana.nl2sql.lexicon import (
    ADJECTIVES,
    AGGREGATE_WORDS,
    CHART_KINDS,
    COMPARATORS,
    DIRECTION_WORDS,
    GROUP_CUES,
    LAYOUT_PHRASES,
    LINK_VERBS,
    NEGATIONS,
    ORDER_CUES,
    PRESENTATION_WORDS,
    STOPWORDS,
    lemma,
    name_words,
    singular,
)
from dana.nl2sql.linking import (
    Mention,
    SchemaIndex,
    Target,
    Token,
    is_business_term,
    is_measure,
    is_numeric,
    is_temporal,
    label_columns,
    name_column,
    primary_key,
)
from dana.nl2sql.measures import MeasureRules
from dana.nl2sql.plan import Col, Cond, Item, NotUnderstood, Plan
from dana.nl2sql.render import Edge, NoJoinPath, join_count, join_tree
from dana.nl2sql.timeframes import BUCKET_CUES, BUCKET_WORDS, PERIOD_UNITS, TimeRules
from dana.schema import Table

QUESTION_WORDS = frozenset(
    {
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "where",
        "when",
        "how",
        "list",
        "show",
        "give",
        "find",
        "return",
        "tell",
        "display",
        "get",
        "name",
        "count",
        "provide",
        "identify",
        "report",
        "compute",
    }
)
DESC_WORDS = frozenset({"descending", "desc", "decreasing", "reverse", "reversed", "downward"})
ASC_WORDS = frozenset(
    {
        "ascending",
        "asc",
        "increasing",
        "alphabetical",
        "alphabetically",
        "lexicographical",
        "lexicographic",
        "lexicographically",
    }
)
DISTINCT_WORDS = frozenset({"distinct", "different", "unique"})
ORDINAL_SUPERLATIVE = {"first": "asc", "last": "desc"}
LIKE_CUES = {
    ("contain",): "contains", ("contains",): "contains", ("containing",): "contains",
    ("include",): "contains", ("includes",): "contains", ("including",): "contains",
    ("substring",): "contains", ("word",): "contains", ("letter",): "contains",
    ("phrase",): "contains", ("with", "the", "word"): "contains",
    ("start", "with"): "starts", ("starts", "with"): "starts", ("starting", "with"): "starts",
    ("begin", "with"): "starts", ("begins", "with"): "starts",
    ("beginning", "with"): "starts", ("end", "with"): "ends", ("ends", "with"): "ends",
    ("ending", "with"): "ends",
}  # fmt: skip
NAMING_WORDS = frozenset({"named", "called", "titled", "name", "title"})
TOP_WORDS = frozenset({"top", "first", "highest", "best", "largest", "biggest", "most"})


@dataclass
class Parse:
    plan: Plan
    unknown: list[str]
    penalties: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class _Filter:
    position: int
    cond: Cond
    negated_relation: str | None = None  # a table the condition is "not" related through


class Parser(TimeRules, MeasureRules):
    def __init__(self, tokens: list[Token], mentions: list[Mention], index: SchemaIndex) -> None:
        self.tokens = tokens
        self.low = [t.low for t in tokens]
        self.mentions = mentions
        self.index = index
        self.edges = _edges(index)
        self.used = [False] * len(tokens)
        self.role: dict[int, str] = {}  # mention start -> role
        self.penalties: list[tuple[str, float]] = []
        self.select: list[tuple[int, Item]] = []
        self.filters: list[_Filter] = []
        self.group: list[Item] = []
        self.having: list[tuple[Item, str, object]] = []
        self.order: list[tuple[Item, str]] = []
        self.limit: int | None = None
        self.distinct = False
        self.count_table: str | None = None
        self.anti: list[tuple[int, str]] = []  # (position, related table)
        self.setop_values: list[tuple[Cond, Cond]] = []
        self._related_tables: list[str] = []
        # numbers compared that some text column also stores: position -> those columns
        self.stored_numbers: dict[int, list[Target]] = {}
        self._generic_order: str | None = None  # tables whose rows a HAVING or superlative counts
        self._measure_cue = False  # "by", "per" or a period: a bare measure is aggregated

    # -- helpers -------------------------------------------------------------------------

    def mention_at(self, position: int) -> Mention | None:
        """The mention starting at `position`; for "car models", the head noun "models"."""
        for mention in self.mentions:
            if mention.start == position:
                if self.role.get(position) == "modifier":
                    return self.mention_at(mention.end)
                return mention
        return None

    def mention_covering(self, position: int) -> Mention | None:
        for mention in self.mentions:
            if mention.start <= position < mention.end:
                return mention
        return None

    def matches(self, position: int, phrase: tuple[str, ...]) -> bool:
        end = position + len(phrase)
        return end <= len(self.tokens) and tuple(self.low[position:end]) == phrase

    def consume(self, start: int, end: int) -> None:
        for i in range(max(start, 0), min(end, len(self.tokens))):
            self.used[i] = True

    def skip_fillers(self, position: int, extra: frozenset[str] = frozenset()) -> int:
        """The next position whose token is not an article or one of `extra`."""
        fillers = {"the", "a", "an", "of", "its", "their", "his", "her"} | extra
        while position < len(self.tokens) and self.low[position] in fillers:
            position += 1
        return position

    def back_fillers(self, position: int, extra: frozenset[str] = frozenset()) -> int:
        fillers = {"the", "a", "an", "is", "are", "was", "were", "be", "of"} | extra
        while position >= 0 and self.low[position] in fillers:
            position -= 1
        return position

    def tables_in_question(self) -> list[str]:
        names = []
        for mention in self.mentions:
            if mention.kind == "table":
                names.append(mention.best.table)
            elif mention.kind == "column":
                names.append(mention.best.table)
        return list(dict.fromkeys(names))

    def explicit_tables(self) -> list[str]:
        return list(dict.fromkeys(m.best.table for m in self.mentions if m.kind == "table"))

    # -- entry point ---------------------------------------------------------------------

    def parse(self) -> Parse:
        for phrase in UNSUPPORTED:
            if any(self.matches(i, phrase) for i in range(len(self.tokens))):
                raise NotUnderstood(f"comparing two columns ('{' '.join(phrase)}')")
        self._presentation()
        self._unlink_compared_numbers()
        self._resolve_targets()
        self._compounds()
        self._rankings()
        self._superlative_measures()
        self._cue_orders()
        self._cue_groups()
        self._counts()
        self._periods()
        self._time_buckets()
        self._negations()
        self._average_comparisons()
        self._numbers()
        self._adjectives()
        self._aggregates()
        self._values()
        self._bare_measures()
        self._top_words()
        self._selects()
        plan = self._build()
        return Parse(plan, self._unknown(plan), self.penalties)

    # -- presentation: "chart", "as a table" -----------------------------------------------

    def _presentation(self) -> None:
        """ "Plot revenue by month", "orders per store as a bar chart": how to show the
        result is not part of the query; DANA draws a chart from the rows itself."""
        for i, word in enumerate(self.low):
            if word not in PRESENTATION_WORDS or self._is_mention(i):
                continue
            start = i
            while start > 0 and self.low[start - 1] in CHART_KINDS:
                start -= 1
            if start >= 2 and self.low[start - 1] in ("a", "an", "the"):
                if self.low[start - 2] in ("as", "in", "on", "into", "with"):
                    start -= 2
            end = i + 1
            if end < len(self.low) and self.low[end] in ("of", "showing", "for"):
                end += 1
            self.consume(start, end)
        for i in range(len(self.low)):
            for phrase in LAYOUT_PHRASES:
                if self.matches(i, phrase) and not self._is_mention(i + len(phrase) - 1):
                    self.consume(i, i + len(phrase))

    # -- target resolution ---------------------------------------------------------------

    def _unlink_compared_numbers(self) -> None:
        """ "after 2013", "3 or more": a number compared is a quantity, even when some text
        column happens to store it as a value."""
        kept = []
        for mention in self.mentions:
            token = self.tokens[mention.start]
            single = mention.end == mention.start + 1 and token.kind == "number"
            if mention.kind == "value" and single and self._compared(mention.start):
                self.stored_numbers[mention.start] = mention.targets
                continue
            kept.append(mention)
        self.mentions = kept

    def _compared(self, i: int) -> bool:
        for phrase, op in COMPARATORS:
            if op == "=":
                continue
            if phrase[0] == "or" and self.matches(i + 1, phrase):
                return True
            if phrase[0] != "or" and tuple(self.low[max(0, i - len(phrase)) : i]) == phrase:
                return True
        return False

    def _resolve_targets(self) -> None:
        """Among nearly as good readings of a span, prefer the table the words point at."""
        named = set(self.explicit_tables()) | self._sure_column_tables()
        grouped = self._grouped_tables()
        for mention in self.mentions:
            near = self._nearby_table(mention) if mention.kind == "column" else None
            if near is None and len(grouped) == 1 and mention.kind == "column":
                near = next(iter(grouped))
            self._name_of(mention, near)
            if len(mention.targets) < 2:
                continue
            top = mention.targets[0].score

            def rank(target: Target, near: str | None = near, top: float = top) -> tuple:
                close = target.score >= top - 0.25
                return (
                    not (close and target.table == near),
                    not (close and target.table in grouped),
                    not (close and target.table in named),
                    -target.score,
                )

            mention.targets.sort(key=rank)
            first = mention.targets[0]
            rivals = [
                t for t in mention.targets[1:]
                if t.score >= first.score and t.table != first.table and t.column is not None
            ]  # fmt: skip
            if rivals and mention.kind == "column" and near is None and first.table not in named:
                self.penalties.append((f"'{self._text(mention)}' is ambiguous", 0.8))
            self._rival_tables(mention)

    def _rival_tables(self, mention: Mention) -> None:
        """ "order" when both `order` and `orders` exist: two tables named alike, neither
        preferred by anything else in the question, is a guess; decline it."""
        first = mention.targets[0]
        if mention.kind != "table" or first.column is not None:
            return
        rivals = {
            t.table for t in mention.targets[1:]
            if t.column is None and t.score >= first.score and t.table != first.table
        }  # fmt: skip
        if rivals:
            named = ", ".join(sorted(rivals | {first.table}))
            self.penalties.append((f"'{self._text(mention)}' could mean {named}", 0.7))

    def _name_of(self, mention: Mention, near: str | None) -> None:
        # "the names of all cartoons": a cartoon's name is its title when it has no name
        words = tuple(t.lem for t in self.tokens[mention.start : mention.end])
        if near is None or words not in (("name",), ("title",)):
            return
        top = mention.targets[0].score
        if any(t.table == near and t.score >= top - 0.25 for t in mention.targets):
            return
        label = name_column(self.index.tables[near])
        if label is not None:
            mention.targets.insert(0, Target(near, label, score=top))

    def _compounds(self) -> None:
        """ "car models", "dog pets": in two nouns in a row the last one is the thing meant,
        the first only narrows it."""
        for first, second in zip(self.mentions, self.mentions[1:], strict=False):
            if first.end != second.start or first.kind != "table":
                continue
            if second.kind == "table" or (
                second.kind == "column"
                and second.table_reading(0.3) is not None
                and second.best.table != first.best.table
            ):
                self._as_table(second, 0.3)
                self._take(first, "modifier")

    def _sure_column_tables(self) -> set[str]:
        tables = set()
        for mention in self.mentions:
            if mention.kind in ("column", "value") and mention.targets:
                top = mention.targets[0].score
                if len({t.table for t in mention.targets if t.score >= top - 0.25}) == 1:
                    tables.add(mention.targets[0].table)
        return tables

    def _grouped_tables(self) -> set[str]:
        tables = set()
        for i, word in enumerate(self.low):
            if word in ("each", "every", "per"):
                found = self.mention_at(self.skip_fillers(i + 1))
                if found and found.kind == "table":
                    tables.add(found.best.table)
        return tables

    def _nearby_table(self, mention: Mention) -> str | None:
        """The table a column word belongs to: "singer names", "the name of the singer",
        "a cat that is 3" (the table of the thing just named)."""
        before = self.back_fillers(mention.start - 1)
        for m in self.mentions:
            if m.end - 1 == before and m.kind == "table" and before == mention.start - 1:
                return m.best.table
        found = self._table_after_list(mention.end)
        if found:
            return found
        return self._table_before_clause(mention.start)

    def _table_after_list(self, position: int) -> str | None:
        j = position
        list_words = {",", "and", "the", "its", "their", "all", "also", "as", "well"}
        while j < len(self.tokens) and (self.low[j] in list_words or self._is_mention(j)):
            found = self.mention_at(j)
            if found is not None and found.kind == "table":
                return found.best.table if j == position else None
            j += 1
        if j < len(self.tokens) and self.low[j] in ("of", "for", "in", "from"):
            after = self.skip_fillers(j + 1, _BEFORE_NOUN)
            while after < len(self.tokens) and self.tokens[after].kind == "number":
                after = self.skip_fillers(after + 1, _BEFORE_NOUN)
            found = self.mention_at(after)
            if found is not None and found.kind == "table":
                return found.best.table
            if found is not None and found.kind == "column" and self._starts_with_table(found):
                return found.best.table  # "cartoons directed by": the cartoon's column
            reading = found.table_reading(0.3) if found is not None else None
            if found is not None and reading is not None and found.kind == "column":
                # "the name of the makers": "makers" names the table here, not its column
                found.kind = "table"
                found.targets.insert(0, reading)
                return reading.table
        return None

    def _starts_with_table(self, mention: Mention) -> bool:
        table_words = name_words(mention.best.table)
        return bool(table_words) and lemma(table_words[0]) == self.tokens[mention.start].lem

    def _table_before_clause(self, position: int) -> str | None:
        clause = frozenset(
            {
                "is",
                "are",
                "was",
                "were",
                "that",
                "which",
                "who",
                "whose",
                "has",
                "have",
                "had",
                "with",
                "an",
                "a",
                "the",
                "its",
                "their",
            }
        )
        j = position - 1
        while j >= 0 and self.low[j] in clause:
            j -= 1
        if j == position - 1 or j < 0:
            return None
        found = self.mention_covering(j)
        if found is not None and found.kind in ("table", "value") and found.targets:
            return found.best.table
        return None

    def _text(self, mention: Mention) -> str:
        return " ".join(t.text for t in self.tokens[mention.start : mention.end])

    # -- ordering and grouping cues ------------------------------------------------------

    def _direction_words(self) -> str | None:
        for i, word in enumerate(self.low):
            if word in DESC_WORDS:
                self.consume(i, i + 1)
                return "desc"
            if word in ASC_WORDS:
                self.consume(i, i + 1)
                return "asc"
        for i in range(len(self.low) - 3):
            if self.low[i] == "from" and "to" in self.low[i + 1 : i + 5]:
                to = self.low.index("to", i + 1)
                first = self.low[self.skip_fillers(i + 1)]
                direction = _extreme_direction(first)
                if direction:
                    self.consume(i, self.skip_fillers(to + 1) + 1)
                    return direction
        return None

    def _cue_orders(self) -> None:
        direction = self._direction_words()
        for i in range(len(self.tokens)):
            for cue in ORDER_CUES:
                if not self.matches(i, cue):
                    continue
                self.consume(i, i + len(cue))
                after = self.skip_fillers(i + len(cue), DESC_WORDS | ASC_WORDS)
                target = self.mention_at(after)
                if target and target.kind == "column":
                    self._take(target, "order")
                    item = Item(col=_col(target.best))
                    if target.end - target.start == 1 and self.low[target.start] in GENERIC_NAMES:
                        # "ordered by id": the id shown, when one is
                        self._generic_order = self.tokens[target.start].lem
                    self.order.append((item, direction or "asc"))
                    self._order_by_words(i, target)
        self._imperative_order(direction)
        if direction and not self.order:
            self.order.append((Item(), direction))  # the first shown column, filled in later
        if "order" in self.low and not self.order:
            self.consume(self.low.index("order"), self.low.index("order") + 1)

    def _imperative_order(self, direction: str | None) -> None:
        """ "Sort the names by age", "order them by date": the verb and its "by" are apart."""
        verbs = [
            i
            for i, w in enumerate(self.low)
            if w in ("sort", "sorted", "order", "ordered", "rank", "ranked", "arrange")
            and not self._is_mention(i)  # "average order amount by user" names a table
        ]
        for i in verbs:
            if self.used[i]:
                continue
            for j in range(i + 1, min(len(self.low), i + 8)):
                if self.low[j] != "by" or self.used[j]:
                    continue
                target = self.mention_at(self.skip_fillers(j + 1, DESC_WORDS | ASC_WORDS))
                if target is not None and target.kind == "column":
                    self.consume(i, i + 1)
                    self.consume(j, target.start)
                    self._take(target, "order")
                    self.order.append((Item(col=_col(target.best)), direction or "asc"))
                    return

    def _order_by_words(self, cue: int, target: Mention) -> None:
        for i in (cue - 1, target.end):
            if 0 <= i < len(self.low) and self.low[i] in ("in", "order"):
                self.consume(i, i + 1)

    def _cue_groups(self) -> None:
        for i in range(len(self.tokens)):
            for cue in sorted(GROUP_CUES, key=len, reverse=True):
                if not self.matches(i, cue) or self._is_mention(i):
                    continue
                position = self.skip_fillers(i + len(cue), frozenset({"of", "listed", "number"}))
                target = self.mention_at(position)
                if target is None or self.role.get(target.start):
                    continue
                self.consume(i, i + len(cue))
                self.consume(i + len(cue), position)
                self._group_by(target)
                self._measure_cue = self._measure_cue or cue == ("per",)
                break
        self._group_by_word()

    def _group_by(self, target: Mention) -> None:
        self._take(target, "group")
        if target.kind == "column" and target.table_reading(0.05) is not None:
            target.kind = "table"
            target.targets.insert(0, target.table_reading(0.05))  # type: ignore[arg-type]
        if target.kind == "table":
            table = self.index.tables[target.best.table]
            key = primary_key(table)
            labels = [key] if key else label_columns(table)
            if not labels:
                raise NotUnderstood(f"how to tell apart each {target.best.table}")
            self.group.extend(Item(col=Col(table.name, k)) for k in labels)
        elif target.kind == "column":
            self.group.append(self._referenced(target) or Item(col=_col(target.best)))
        else:
            raise NotUnderstood(f"grouping by a value ({self._text(target)})")

    def _referenced(self, target: Mention) -> Item | None:
        """ "by billing region" names the key `billing_region_id`: group by the region it
        points at, joined through that key, when the question did not ask for the id."""
        if any(self.low[i] in GENERIC_NAMES for i in range(target.start, target.end)):
            return None
        column = target.best.column
        for edge in self.edges:
            if edge.table == target.best.table and edge.columns == (column,):
                ref = self.index.tables[edge.ref_table]
                if name_column(ref) is not None and edge.ref_columns == (primary_key(ref),):
                    return Item(col=Col(ref.name, edge.ref_columns[0]))
        return None

    def _group_by_word(self) -> None:
        # "by month", "by country": a group only when the question asks for a count or a total
        # and "by" is not part of a passive verb ("directed by").
        has_agg = any(w in AGGREGATE_WORDS or w in ("many", "number", "count") for w in self.low)
        for i, word in enumerate(self.low):
            if word != "by" or self.used[i] or i == 0:
                continue
            if not (has_agg or self._measure_before(i) or self._after_bucket(i)):
                continue
            before = self.low[i - 1]
            if before in LINK_VERBS or before.endswith(("ed", "en")):
                continue
            target = self.mention_at(self.skip_fillers(i + 1))
            if target and target.kind in ("column", "table") and not self.role.get(target.start):
                self.consume(i, i + 1)
                self._group_by(target)
                self._measure_cue = True

    def _after_bucket(self, position: int) -> bool:
        """ "orders per month by status": a second grouping after a period's."""
        before = self.low[position - 1]
        if before in BUCKET_WORDS:
            return True
        return position >= 2 and before in PERIOD_UNITS and self.low[position - 2] in BUCKET_CUES

    # -- counting ------------------------------------------------------------------------

    def _counts(self) -> None:
        for i in range(len(self.tokens)):
            if self.low[i] == "count" and not self.used[i] and self._count_after_noun(i):
                continue
            for phrase in COUNT_CUES:
                if self.matches(i, phrase) and not self.used[i] and not self._superlative_before(i):
                    self._count_at(i, len(phrase))
                    break

    def _superlative_before(self, position: int) -> bool:
        # "the most number of concerts" is a superlative over a count, not a count shown
        j = self.back_fillers(position - 1)
        if j >= 0 and AGGREGATE_WORDS.get(self.low[j]) == "avg":
            # "the average number of staff" averages the column the words name
            after = [self.mention_covering(k) for k in range(position, position + 4)]
            first = next((m for m in after if m is not None), None)
            return first is not None and first.kind == "column"
        return j >= 0 and self.low[j] in DIRECTION_WORDS

    def _count_at(self, position: int, size: int) -> None:
        after = self.skip_fillers(position + size, frozenset({"the", "all"}))
        distinct = after < len(self.low) and self.low[after] in DISTINCT_WORDS
        if distinct:
            after = self.skip_fillers(after + 1)
        target = self.mention_at(after)
        at_end = after >= len(self.low) or self.tokens[after].kind == "punct"
        if target is None and self.low[position] in ("count", "the") and not at_end:
            return
        self.consume(position, position + size)
        if distinct:
            self.consume(after - 1, after)
        if target is None:
            # "how many were made": the count is of the main table, found later.
            self.select.append((position, Item(agg="count")))
            return
        table = target.table_reading(0.3) if target.kind == "column" and not distinct else None
        if target.kind == "table" or table is not None:
            self._take(target, "count")
            self.count_table = (table or target.best).table
            if distinct:
                self._count_distinct_table(position, target.best.table)
            else:
                self.select.append((position, Item(agg="count")))
        elif target.kind == "column":
            self._take(target, "count")
            item = Item(agg="count", col=_col(target.best), distinct=distinct)
            self.select.append((position, item))
            self.count_table = target.best.table
            self._count_list(target, distinct)
        else:
            self.select.append((position, Item(agg="count")))

    def _count_list(self, first: Mention, distinct: bool) -> None:
        # "the number of different series names and contents": each column listed is counted
        j = first.end
        while j < len(self.low) and self.low[j] in (",", "and", "the"):
            j += 1
        following = self.mention_at(j)
        if j == first.end or following is None or following.kind != "column":
            return
        if self.role.get(following.start):
            return
        self._take(following, "count")
        self.consume(first.end, j)
        item = Item(agg="count", col=_col(following.best), distinct=distinct)
        self.select.append((following.start, item))
        self._count_list(following, distinct)

    def _count_distinct_table(self, position: int, table: str) -> None:
        """ "How many different T are used by U": the distinct keys of T found in U."""
        others = [t for t in self.explicit_tables() if t != table]
        for other in others:
            for edge in self.edges:
                if edge.table == other and edge.ref_table == table:
                    item = Item(agg="count", col=Col(other, edge.columns[0]), distinct=True)
                    self.select.append((position, item))
                    self.count_table = other
                    return
        self.select.append((position, Item(agg="count")))

    # -- negation: anti-joins ------------------------------------------------------------

    def _negations(self) -> None:
        for i, word in enumerate(self.low):
            if word not in NEGATIONS or self.used[i]:
                continue
            if self._negates_comparison(i):
                continue
            j = i + 1
            skip = STOPWORDS | LINK_VERBS | {"any", "single", "ever", "been", "yet"}
            while j < len(self.tokens) and self.low[j] in skip and not self._is_mention(j):
                j += 1
            target = self.mention_at(j)
            while target and target.kind == "table" and target.best.table in self._tables_before(i):
                # "stadiums except for stadiums having a concert": skip the subject again
                j = target.end
                while j < len(self.tokens) and self.low[j] in skip | {"having"}:
                    j += 1
                target = self.mention_at(j)
            if target and target.kind == "table":
                self.consume(i, j)
                self._take(target, "anti")
                self.anti.append((i, target.best.table))
            elif target and target.kind == "column" and self._starts_with_table(target):
                # "not playing any cartoon written by X": the cartoon's column starts here
                self.consume(i, j)
                self.anti.append((i, target.best.table))
            elif target is None and j < len(self.tokens) and self._verb_like(j):
                # "teachers who have not been arranged to teach courses"
                continue

    def _tables_before(self, position: int) -> set[str]:
        return {m.best.table for m in self.mentions if m.start < position and m.kind == "table"}

    def _negates_comparison(self, position: int) -> bool:
        nxt = self.low[position + 1 : position + 3]
        return bool(nxt) and nxt[0] in ("more", "less", "greater", "fewer", "equal")

    def _is_mention(self, position: int) -> bool:
        return self.mention_covering(position) is not None

    def _verb_like(self, position: int) -> bool:
        return self.low[position].endswith(("ed", "ing"))

    # -- numbers: comparisons, having, limits --------------------------------------------

    def _numbers(self) -> None:
        for i, token in enumerate(self.tokens):
            if token.kind != "number" or self.used[i] or self._is_mention(i):
                continue
            self._number_at(i, token)

    def _number_at(self, i: int, token: Token) -> None:
        value = _number(token)
        if self._between(i, value):
            return
        if self._top_n(i, value):
            return
        op, start = self._comparator_before(i)
        if op is None and i > 0 and self.low[i - 1] in ("was", "were", "is", "are", "="):
            op, start = "=", i - 1
        if op is None and self._split_comparison(i, value):
            return
        after = self.mention_at(self.skip_fillers(i + 1, frozenset({"or", "more"})))
        if self._years_old(i, value, op, start):
            return
        if after is not None and op is not None and self._as_table(after, 0.3):
            self._having(start, i, after, op, value)
            return
        if after is not None and after.kind == "column" and not self.role.get(after.start):
            if self._numeric(after.best) and self._plausible_after(i, after):
                self.consume(start, i + 1)
                self._take(after, "filter")
                self._add_filter(start, Cond(_col(after.best), op or "=", (value,)))
                return
        column = self._column_before(start if op else i)
        if column is not None:
            self.consume(start if op else i, i + 1)
            self._add_filter(start, Cond(_col(column.best), op or "=", (value,)))
            self._take(column, "filter")
            return
        if self._adjective_comparison(i, value):
            return
        if self._year_filter(i, value, op, start):
            return
        if op is not None and self._previous_comparison(start, i, op, value):
            return
        if op is not None:
            raise NotUnderstood(f"what the number {token.text} is compared with")

    def _previous_comparison(self, start: int, i: int, op: str, value: float) -> bool:
        # "weighing no less than 3000 and no more than 4000": the same column again
        if start < 2 or self.low[start - 1] not in ("and", "but", "or") or not self.filters:
            return False
        previous = self.filters[-1]
        if previous.position < start - 8 or previous.cond.op not in ("<", ">", "<=", ">="):
            return False
        self.consume(start, i + 1)
        self._add_filter(start, Cond(previous.cond.col, op, (value,)))
        return True

    def _average_comparisons(self) -> None:
        for i, word in enumerate(self.low):
            if word == "average" and not self.used[i]:
                self._average_comparison(i)

    def _average_comparison(self, i: int) -> None:
        """ "singers older than average", "a weight below the average weight": compare with
        the column's average over its table."""
        j = self.back_fillers(i - 1)
        if j < 0:
            return
        op, start, column = None, j, None
        if self.low[j] == "than" and j >= 1:
            start = j - 1
            word = self.low[start]
            op = COMPARATIVES.get(word)
            found = self._adjective_column(word, self._scope_tables())
            if found is not None and found[1] in ("<", ">"):
                column, op = found[0], found[1]
        else:
            op = dict(SINGLE_COMPARATORS).get(self.low[j])
        if op is None:
            return
        after = self.mention_at(i + 1)
        end = i + 1
        if after is not None and after.kind == "column":
            column, end = _col(after.best), after.end
            self._take(after, "filter")
        if column is None:
            before = self._column_before(start)
            if before is not None:
                column = _col(before.best)
                self._take(before, "filter")
        if column is None:
            return
        sub = Plan(select=[Item(agg="avg", col=column)], tables=[column.table])
        self.consume(start, end)
        self._add_filter(start, Cond(column, op, sub=sub))

    def _split_comparison(self, i: int, value: float) -> bool:
        """ "a greater weight than 10", "above age 20": the column sits inside the comparison."""
        if self.low[i - 1] == "than" and i >= 3:
            column = self.mention_covering(i - 2)
            k = self.back_fillers(column.start - 1) if column else -1
            op = COMPARATIVES.get(self.low[k]) if k >= 0 else None
        else:
            column = self.mention_covering(i - 1) if i else None
            k = self.back_fillers(column.start - 1) if column else -1
            op = dict(SINGLE_COMPARATORS).get(self.low[k]) if k >= 0 else None
        if column is None or op is None or column.kind != "column" or self.role.get(column.start):
            return False
        self.consume(k, i + 1)
        self._take(column, "filter")
        self._add_filter(k, Cond(_col(column.best), op, (value,)))
        return True

    def _as_table(self, mention: Mention, margin: float) -> bool:
        """Read `mention` as a table when that reading is close enough; say whether it is."""
        if mention.kind == "table":
            return True
        reading = mention.table_reading(margin) if mention.kind == "column" else None
        if reading is None:
            return False
        mention.kind = "table"
        mention.targets.insert(0, reading)
        return True

    def _plausible_after(self, i: int, after: Mention) -> bool:
        # "with 4 cylinders", "more than 4 cylinders": a count-like column right after.
        return after.start <= i + 3

    def _numeric(self, target: Target) -> bool:
        column = self.index.column(target.table, target.column or "")
        return column is not None and is_numeric(column)

    def _comparator_before(self, i: int) -> tuple[str | None, int]:
        for phrase, op in COMPARATORS:
            start = i - len(phrase)
            if phrase[0] != "or" and start >= 0 and tuple(self.low[start:i]) == phrase:
                return op, start
        for phrase, op in COMPARATORS:
            # "10 or more" puts the comparison after the number
            if phrase[0] == "or" and self.matches(i + 1, phrase):
                self.consume(i + 1, i + 1 + len(phrase))
                return op, i
        return None, i

    def _between(self, i: int, value: float) -> bool:
        before = self.low[i - 1] if i else ""
        if before not in ("between", "from") or i + 2 >= len(self.tokens):
            return False
        if self.low[i + 1] not in ("and", "to") or self.tokens[i + 2].kind != "number":
            return False
        high = _number(self.tokens[i + 2])
        after = self.mention_at(self.skip_fillers(i + 3))
        if after is not None and after.kind == "table":
            key = Item(agg="count")
            self._take(after, "having")
            self.having.append((key, ">=", value))
            self.having.append((key, "<=", high))
            self._having_group(after)
            self.consume(i - 1, i + 3)
            return True
        column = self._column_before(i - 1)
        if column is None:
            year = self._date_column()
            if year is None or before != "between":
                return False
            self._add_filter(i - 1, Cond(year, "between", (value, high)))
        else:
            self._take(column, "filter")
            self._add_filter(i - 1, Cond(_col(column.best), "between", (value, high)))
        self.consume(i - 1, i + 3)
        return True

    def _top_n(self, i: int, value: float) -> bool:
        before = self.low[i - 1] if i else ""
        after = self.low[i + 1] if i + 1 < len(self.low) else ""
        if before in ("top", "first") or (after in TOP_WORDS and before not in COMPARE_TAIL):
            self.limit = int(value)
            self.consume(i - 1 if before in ("top", "first") else i, i + 1)
            return True
        return False

    def _years_old(self, i: int, value: float, op: str | None, start: int) -> bool:
        if self.low[i + 1 : i + 3] != ["years", "old"] and self.low[i + 1 : i + 3] != [
            "year",
            "old",
        ]:
            return False
        near = self._table_before_clause(start)
        tables = ([near] if near else []) + self._scope_tables()
        column = self._adjective_column("older", tables)
        if column is None:
            return False
        self.consume(start, i + 3)
        self._add_filter(start, Cond(column[0], op or "=", (value,)))
        return True

    def _column_before(self, position: int) -> Mention | None:
        skip = frozenset(
            {
                "is",
                "are",
                "was",
                "were",
                "of",
                "a",
                "an",
                "the",
                "has",
                "have",
                "had",
                "with",
                "that",
                "whose",
                "in",
                "at",
                "to",
                "be",
                "been",
            }
        )
        j = position - 1
        while j >= 0 and self.low[j] in skip and not self._is_mention(j):
            j -= 1
        mention = self.mention_covering(j) if j >= 0 else None
        if mention is None or mention.kind != "column" or self.role.get(mention.start):
            return None
        if not self._numeric(mention.best) and not self._is_year_text(mention.best):
            return None
        return mention

    def _is_year_text(self, target: Target) -> bool:
        words = name_words(target.column or "")
        return "year" in words or "age" in words

    def _having(self, start: int, i: int, counted: Mention, op: str, value: float) -> None:
        self.consume(start, i + 1)
        self._take(counted, "having")
        self.having.append((Item(agg="count"), op, value))
        self._having_group(counted)

    def _having_group(self, counted: Mention) -> None:
        # The rows counted are those of `counted`; the group is the thing being described.
        self._related_tables.append(counted.best.table)

    def _adjective_comparison(self, i: int, value: float) -> bool:
        if i < 2 or self.low[i - 1] != "than":
            return False
        word = self.low[i - 2]
        found = self._adjective_column(word, self._scope_tables())
        if found is None:
            return False
        column, op = found
        self.consume(i - 2, i + 1)
        self._take_same_column(i - 2, column)
        self._add_filter(i - 2, Cond(column, op, (value,)))
        return True

    def _take_same_column(self, position: int, column: Col) -> None:
        # "pets whose age is older than 1": the word "age" is explained by "older"
        j = self.back_fillers(position - 1, frozenset({"whose", "with", "has", "have"}))
        found = self.mention_covering(j) if j >= 0 else None
        if found is not None and found.kind == "column" and not self.role.get(found.start):
            if any(_col(t) == column for t in found.targets if t.column):
                self._take(found, "filter")

    def _scope_tables(self) -> list[str]:
        return self.tables_in_question() or list(self.index.tables)

    def _add_filter(self, position: int, cond: Cond) -> None:
        self.filters.append(_Filter(position, cond))
        self._claim_column(position, cond.col)

    def _claim_following(self, cond: Cond, value_end: int) -> None:
        # "the English language", "'Brig' type ships": the column named right after a value
        found = self.mention_at(self.skip_fillers(value_end, frozenset({"in", "of"})))
        if found is not None and found.kind == "column" and not self.role.get(found.start):
            if any(t.column and _col(t) == cond.col for t in found.targets):
                self._take(found, "filter")

    def _claim_column(self, position: int, column: Col) -> None:
        """ "description with the letter w", "in the years of both 2014": the column word
        before a condition is explained by it, not shown."""
        skip = STOPWORDS | NEGATIONS | _LIKE_WORDS | NAMING_WORDS | {"both", "either"}
        j = position - 1
        while j >= 0 and j >= position - 6:
            found = self.mention_covering(j)
            if found is not None:
                if found.kind == "column" and not self.role.get(found.start):
                    if any(t.column and _col(t) == column for t in found.targets):
                        self._take(found, "filter")
                return
            if self.low[j] not in skip:
                return
            j -= 1

    # -- adjectives: oldest, youngest ----------------------------------------------------

    def _adjectives(self) -> None:
        for i, word in enumerate(self.low):
            if self.used[i] or word not in ADJECTIVES or self._is_mention(i):
                continue
            entries = ADJECTIVES[word]
            if entries[0][1] not in ("asc", "desc"):
                continue
            tables = self._adjective_tables(i)
            found = self._adjective_column(word, tables)
            if found is None:
                raise NotUnderstood(f"what '{word}' refers to")
            column, direction = found
            self.consume(i, i + 1)
            if i > 0 and self.low[i - 1] in ("most", "the"):
                self.consume(i - 1, i)
            self.order.append((Item(col=column), direction))
            self.limit = self.limit or 1

    def _adjective_tables(self, position: int) -> list[str]:
        after = self.mention_at(self.skip_fillers(position + 1))
        first = [after.best.table] if after and after.kind == "table" else []
        near = self._table_before_clause(position)
        return first + ([near] if near else []) + self._scope_tables()

    def _adjective_column(self, word: str, tables: list[str]) -> tuple[Col, str] | None:
        for column_word, direction in ADJECTIVES.get(word, ()):
            for name in tables:
                for column in self.index.tables[name].columns:
                    words = name_words(column.name)
                    sortable = is_numeric(column) or is_temporal(column) or "date" in words
                    if column_word in words and sortable:
                        return Col(name, column.name), direction
        return None

    # -- aggregates and superlatives -----------------------------------------------------

    def _aggregates(self) -> None:
        for i, word in enumerate(self.low):
            if self.used[i] or word not in AGGREGATE_WORDS or self._is_mention(i):
                continue
            self._aggregate_at(i, word)

    def _aggregate_at(self, i: int, word: str) -> None:
        if self.low[i + 1 : i + 2] and self.low[i + 1] in (
            "common",
            "commonly",
            "popular",
            "frequent",
            "frequently",
        ):
            self._most_common(i)
            return
        j = i + 1
        chain = [i]
        while j < len(self.low) and (
            self.low[j] in (",", "and", "the", "of")
            # "the total amount of sales", unless "amount" is a column itself
            or (self.low[j] in ("number", "amount") and not self._is_mention(j))
            or (self.low[j] in AGGREGATE_WORDS and not self._is_mention(j))
        ):
            if self.low[j] in AGGREGATE_WORDS:
                chain.append(j)
            j += 1
        target = self.mention_at(j)
        if (target is None or target.kind != "column") and self._aggregate_named(i, chain):
            return
        if target is None:
            if word in ("most", "least", "fewest") and j < len(self.low):
                raise NotUnderstood(f"the {word} what")
            return
        if target.kind == "table" or (self.low[j - 1] == "number" and target.kind == "table"):
            self._superlative_count(i, j, target)
            return
        if target.kind != "column" or self.role.get(target.start):
            return
        if self._wants_order(i, word):
            self.consume(i, j)
            self._take(target, "order")
            direction = "asc" if AGGREGATE_WORDS[word] == "min" else "desc"
            self.order.append((Item(col=_col(target.best)), direction))
            self.limit = self.limit or 1
            return
        self.consume(i, j)
        self._take(target, "agg")
        for k in chain:
            func = AGGREGATE_WORDS[self.low[k]]
            self.select.append((k, Item(agg=func, col=_col(target.best))))

    def _aggregate_named(self, i: int, chain: list[int]) -> bool:
        """ "the total of completed orders": no column follows, and a measure column is
        named like the word itself, so the word is that column, summed."""
        word = self.low[i]
        if len(chain) > 1 or AGGREGATE_WORDS[word] not in ("sum", "avg"):
            return False
        if not self.matches(i + 1, ("of",)):
            return False
        found = [
            Col(name, column.name)
            for name in self._scope_tables()
            for column in self.index.tables[name].columns
            if name_words(column.name) == (word,) and is_measure(self.index.tables[name], column)
        ]
        if len(found) != 1:
            return False
        self.consume(i, i + 2)
        self.select.append((i, Item(agg="sum", col=found[0])))
        return True

    def _wants_order(self, position: int, word: str) -> bool:
        """ "the stadium with the highest capacity" orders; "the highest capacity" aggregates."""
        if AGGREGATE_WORDS[word] in ("avg", "sum"):
            return False
        if self.limit is not None:
            return True  # "the top 3 highest rated"
        before = self.low[position - 1] if position else ""
        before2 = self.low[position - 2] if position > 1 else ""
        has_subject = any(
            m.start < position and m.kind in ("column", "table") and not self.role.get(m.start)
            for m in self.mentions
        ) or self.low[0] in ("which", "who")
        links = ("with", "has", "have", "had", "having", "of", "by", "for", "in", "that", "to")
        linking = before in links or (before == "the" and before2 in links)
        return has_subject and linking

    def _superlative_count(self, i: int, j: int, target: Mention) -> None:
        word = self.low[i]
        direction = "asc" if AGGREGATE_WORDS[word] == "min" else "desc"
        self.consume(i, j)
        self._take(target, "having")
        self.order.append((Item(agg="count"), direction))
        self.limit = self.limit or 1
        self._having_group(target)

    def _most_common(self, i: int) -> None:
        self.consume(i, i + 2)
        target = self.mention_at(self.skip_fillers(i + 2))
        if target is None or target.kind != "column":
            raise NotUnderstood("the most common what")
        self._take(target, "group")
        item = Item(col=_col(target.best))
        self.group.append(item)
        self.select.append((target.start, item))
        self.order.append((Item(agg="count"), "desc"))
        self.limit = 1

    def _top_words(self) -> None:
        for i, word in enumerate(self.low):
            if word in ORDINAL_SUPERLATIVE and not self.used[i] and not self._is_mention(i):
                target = self.mention_at(self.skip_fillers(i + 1))
                if target and target.kind == "table" and self.order:
                    self.consume(i, i + 1)

    # -- stored values -------------------------------------------------------------------

    def _values(self) -> None:
        for mention in self.mentions:
            if mention.kind != "value" or self.role.get(mention.start):
                continue
            cond = self._value_condition(mention)
            self._take(mention, "filter")
            if mention.start and self.low[mention.start - 1] in ("named", "called", "titled"):
                self.consume(mention.start - 1, mention.start)
            self._add_filter(mention.start, cond)
            self._claim_following(cond, mention.end)

    def _value_condition(self, mention: Mention) -> Cond:
        like = self._like_kind(mention.start)
        column = self._value_column(mention)
        value: object = mention.best.value if mention.targets else mention.literal
        if like == "contains" and mention.targets and mention.literal is not None:
            like = None  # the text typed is a whole stored value: "contains 'Brazil'"
        if like and mention.literal is not None:
            value = mention.literal
        if like == "contains":
            return Cond(column, "like", (f"%{value}%",))
        if like == "starts":
            return Cond(column, "like", (f"{value}%",))
        if like == "ends":
            return Cond(column, "like", (f"%{value}",))
        op = "!=" if self._negated(mention.start) else "="
        return Cond(column, op, (value,))

    def _like_kind(self, position: int) -> str | None:
        for size in (3, 2, 1):
            for start in range(max(0, position - 4), position):
                phrase = tuple(self.low[start : start + size])
                if phrase in LIKE_CUES and start + size <= position:
                    self.consume(start, start + size)
                    if position - start <= 5:
                        self.consume(start, position)
                    return LIKE_CUES[phrase]
        return None

    def _negated(self, position: int) -> bool:
        for j in range(max(0, position - 4), position):
            if self.low[j] in NEGATIONS or self.tokens[j].text in ("!=", "<>"):
                self.consume(j, j + 1)
                return True
        return False

    def _value_column(self, mention: Mention) -> Col:
        if mention.targets:
            return _col(self._pick_value_target(mention))
        column = self._column_for_literal(mention.start)
        if column is None:
            raise NotUnderstood(f"which column holds '{mention.literal}'")
        return column

    def _pick_value_target(self, mention: Mention) -> Target:
        before = self.mention_covering(
            self.back_fillers(
                mention.start - 1, frozenset({"named", "called", "titled", "with"}) | NEGATIONS
            )
        )
        if before is not None and before.kind == "column":
            for target in mention.targets:
                if (target.table, target.column) == (before.best.table, before.best.column):
                    self._take(before, "filter")
                    return target
        scope = self.explicit_tables()
        best = mention.targets[0]
        tied = [t for t in mention.targets if t.score >= best.score - 0.05]
        in_scope = [t for t in tied if t.table in scope]
        if in_scope:
            return in_scope[0]
        if len({(t.table, t.column) for t in tied}) > 1:
            shortest = self._closest(tied, scope)
            return shortest
        return best

    def _closest(self, targets: list[Target], scope: list[str]) -> Target:
        def cost(target: Target) -> int:
            found = join_count(scope + [target.table], self.edges) if scope else 0
            return 99 if found is None else found

        ranked = sorted(targets, key=cost)
        if len(ranked) > 1 and cost(ranked[0]) == cost(ranked[1]):
            self.penalties.append(("a value could sit in two columns", 0.85))
        return ranked[0]

    def _column_for_literal(self, position: int) -> Col | None:
        j = position - 1
        skip = STOPWORDS | NEGATIONS | _LIKE_WORDS
        while j >= 0 and self.low[j] in skip:
            if self._is_mention(j):
                break
            j -= 1
        mention = self.mention_covering(j) if j >= 0 else None
        if mention is not None and mention.kind == "column":
            self._take(mention, "filter")
            self.consume(mention.end, position)
            return _col(mention.best)
        after = self._column_after_literal(position)
        if after is not None:
            return after
        if j >= 0 and self.low[j] in NAMING_WORDS:
            self.consume(j, position)
            return self._name_column(self._literal_table(j))
        if mention is not None and mention.kind == "table":
            return self._name_column(mention.best.table)
        return None

    def _column_after_literal(self, position: int) -> Col | None:
        """ "a song with 'Hey' in its name": the column follows, and "its" is the song."""
        j = position + 1
        if j >= len(self.low) or self.low[j] != "in":
            return None
        k = self.skip_fillers(j + 1)
        found = self.mention_at(k)
        if found is None or found.kind != "column":
            return None
        owner = self._owner_word(position)
        if owner is not None:
            words = (owner,) + tuple(t.lem for t in self.tokens[found.start : found.end])
            for target in self.index.names.get(words, []):
                if target.column:
                    self.consume(j, found.end)
                    self._take(found, "filter")
                    return _col(target)
        self.consume(j, found.end)
        self._take(found, "filter")
        return _col(found.best)

    def _owner_word(self, position: int) -> str | None:
        for j in range(position - 1, max(-1, position - 5), -1):
            if self.tokens[j].kind == "word" and self.low[j] not in STOPWORDS | _LIKE_WORDS:
                if not self._is_mention(j):
                    return self.tokens[j].lem
        return None

    def _literal_table(self, position: int) -> str | None:
        for j in range(position - 1, -1, -1):
            mention = self.mention_covering(j)
            if mention is not None and mention.kind == "table":
                return mention.best.table
        tables = self.explicit_tables()
        return tables[0] if tables else None

    def _name_column(self, table: str | None) -> Col | None:
        if table is None:
            return None
        name = name_column(self.index.tables[table])
        return Col(table, name) if name else None

    # -- what to show --------------------------------------------------------------------

    def _selects(self) -> None:
        for mention in self.mentions:
            if self.role.get(mention.start):
                continue
            if mention.kind == "column" and self._names_entity(mention):
                self._as_table(mention, 0.3)
                self._take(mention, "entity")
            elif mention.kind == "column":
                self._take(mention, "select")
                self.select.append((mention.start, Item(col=_col(mention.best))))
            elif mention.kind == "table":
                self._take(mention, "entity")
                self._listed_table(mention)
        if any(self.low[i] in DISTINCT_WORDS and not self.used[i] for i in range(len(self.low))):
            for i, word in enumerate(self.low):
                if word in DISTINCT_WORDS and not self.used[i]:
                    self.consume(i, i + 1)
                    self.distinct = True

    def _names_entity(self, mention: Mention) -> bool:
        """ "the maker with full name X", "which makers designed ...": a word that can name a
        table, followed by what describes it, is that table, not a column to show."""
        if mention.table_reading(0.3) is None:
            return False
        after = self.low[mention.end] if mention.end < len(self.low) else ""
        if after in ("with", "whose", "that", "which", "who", "named", "called"):
            return True
        following = self.mention_at(mention.end)
        if following is not None and following.kind == "value" and following.targets:
            return following.best.table == mention.table_reading(0.3).table  # type: ignore[union-attr]
        return mention.start == 1 and self.low[0] in ("which", "what")

    def _listed_table(self, mention: Mention) -> None:
        """ "names of teachers and the courses they teach": a table listed beside shown
        columns is shown by its name column."""
        j = self.back_fillers(mention.start - 1)
        if j < 1 or self.low[j] not in ("and", ",", "what", "which"):
            return
        shown = [p for p, i in self.select if i.col and not i.agg and p < j]
        if not shown:
            return
        label = name_column(self.index.tables[mention.best.table])
        if label is not None:
            self.select.append((mention.start, Item(col=Col(mention.best.table, label))))

    def _take(self, mention: Mention, role: str) -> None:
        self.role[mention.start] = role
        self.consume(mention.start, mention.end)

    # -- assembling ----------------------------------------------------------------------

    def _build(self) -> Plan:
        plan = Plan()
        ordered = [item for _, item in sorted(self.select, key=lambda p: p[0])]
        plan.select = list(dict.fromkeys(ordered))
        self._split_negated_values(self._subject_table(plan))
        plan.tables = self._main_tables(plan)
        self._default_select(plan)
        self._fill_order(plan)
        plan.group_by = list(self.group)
        self._implicit_group(plan)
        self._chronological()
        self._measure_order(plan)
        plan.having = list(self.having)
        plan.order_by = list(self.order)
        plan.limit = self.limit
        plan.distinct = self.distinct
        self._where(plan)
        self._superlative_subquery(plan)
        self._set_operation(plan)
        self._implicit_distinct(plan)
        self._name_aggregates(plan)
        return plan

    def _measure_order(self, plan: Plan) -> None:
        """Groups the question does not order come largest first, by their measure."""
        if self.order or self.limit or self.setop_values or not plan.group_by:
            return
        measures = [i for i in plan.select if i.agg]
        if measures:
            self.order.append((measures[0], "desc"))

    def _name_aggregates(self, plan: Plan) -> None:
        """Result columns named for what they hold: "orders", "total_amount", "revenue"."""
        for k, item in enumerate(plan.select):
            if item.agg and item.label is None:
                plan.select[k] = dataclasses.replace(item, label=self._aggregate_name(item, plan))

    def _aggregate_name(self, item: Item, plan: Plan) -> str:
        if item.col is None:
            table = (self.count_table or plan.main).lower()
            return table if singular(table) != table else f"number_of_{table}"
        column = item.col.column
        if item.agg == "count":
            return f"{column}_count"
        term = self.index.column(item.col.table, column)
        if item.agg == "sum" and (
            (term is not None and is_business_term(term)) or name_words(column)[:1] == ("total",)
        ):
            return column
        prefix = {"sum": "total", "avg": "average"}.get(item.agg or "", item.agg)
        return f"{prefix}_{column}"

    def _superlative_subquery(self, plan: Plan) -> None:
        """ "concerts in the stadium with the highest capacity": the superlative picks one
        stadium; the count is over concerts, so it becomes a condition, not an ORDER BY."""
        if plan.limit != 1 or len(plan.order_by) != 1 or plan.group_by:
            return
        if not plan.select or not all(i.agg for i in plan.select):
            return
        item, direction = plan.order_by[0]
        counted = {i.col.table for i in plan.select if i.col} or {plan.main}
        if item.col is None or item.col.table in counted:
            return
        table = self.index.tables[item.col.table]
        key = primary_key(table)
        if key is None:
            raise NotUnderstood(f"which {table.name} is meant")
        sub = Plan(
            select=[Item(col=Col(table.name, key))],
            tables=[table.name],
            order_by=[(item, direction)],
            limit=1,
        )
        plan.where.append(Cond(Col(table.name, key), "=", sub=sub))
        plan.connectors.append("and")
        plan.order_by, plan.limit = [], None

    def _implicit_distinct(self, plan: Plan) -> None:
        """Rows of a table joined to many rows of another, only to filter, repeat; a
        question about "students who have a pet" means each student once."""
        if plan.distinct or plan.group_by or plan.limit or plan.setop:
            return
        if any(i.agg for i in plan.select):
            return
        shown = {i.col.table for i in plan.select if i.col}
        if len(shown) != 1:
            return
        table = next(iter(shown))
        used = plan.used_tables()
        try:
            others = [t for t, _ in join_tree(used, self.edges)] + used[1:]
        except NoJoinPath:
            return
        for edge in self.edges:
            if edge.ref_table == table and edge.table in others and edge.table != table:
                referencing = self.index.tables[edge.table]
                if tuple(edge.columns) != referencing.primary_key:  # not one-to-one
                    plan.distinct = True

    def _set_operation(self, plan: Plan) -> None:
        """ "both cats and dogs": two values of one column joined by "and" intersect."""
        if not self.setop_values:
            return
        if len(self.setop_values) > 1:
            raise NotUnderstood("more than two values required at once")
        first, second = self.setop_values[0]
        other = copy.deepcopy(plan)
        other.where = [second if c is first else c for c in plan.where]
        other.where = [
            c if c.col != first.col or c.values != first.values else second for c in other.where
        ]
        plan.setop = ("intersect", other)
        if plan.order_by or plan.limit:
            raise NotUnderstood("ordering the result of an intersection")

    def _subject_table(self, plan: Plan) -> str | None:
        shown = [i.col.table for i in plan.select if i.col and not i.agg]
        if shown:
            return shown[0]
        if self.count_table:
            return self.count_table
        tables = self.explicit_tables()
        return tables[0] if tables else None

    def _split_negated_values(self, subject: str | None) -> None:
        # "students who do not have a cat": a negated value of another table is an anti-join.
        for item in self.filters:
            cond = item.cond
            if cond.op == "!=" and subject is not None and cond.col.table != subject:
                cond.op = "="
                self.anti.append((item.position - 1, cond.col.table))
        self.anti.sort()

    def _main_tables(self, plan: Plan) -> list[str]:
        names = []
        if self.count_table:
            names.append(self.count_table)
        first_anti = min((p for p, _ in self.anti), default=len(self.tokens))
        related = set(self._related_tables)
        for mention in self.mentions:
            role = self.role.get(mention.start)
            if role == "entity" and mention.start > first_anti:
                continue  # "teachers not arranged to teach courses": courses are inside the NOT
            if role in ("entity", "count", "group", "having", "anti"):
                if mention.kind == "table":
                    names.append(mention.best.table)
        for item in plan.select:
            names.extend(item.tables)
        if not names:
            names = [c.cond.col.table for c in self.filters]
        if not names:
            raise NotUnderstood("which table the question is about")
        # the table shown is the main one; the others only join
        shown = [i.col.table for i in plan.select if i.col and not i.agg]
        subjects = [n for n in names if n not in related] or names
        main = shown[0] if shown else subjects[0]
        anti_tables = {t for _, t in self.anti}
        ordered = [main] + [n for n in names if n != main and n not in anti_tables]
        return list(dict.fromkeys(ordered))

    def _default_select(self, plan: Plan) -> None:
        if plan.select:
            return
        table = self.index.tables[plan.main]
        asked = _ASKED_KIND.get(self.low[0]) if self.low else None
        if asked is not None:
            column = _column_with_words(table, asked)
            if column is None:
                raise NotUnderstood(f"{self.low[0]}: {table.name} has no such column")
            plan.select = [Item(col=Col(table.name, column))]
            self.consume(0, 1)
            return
        name = name_column(table)
        if name is None:
            raise NotUnderstood(f"what to show about {table.name}")
        plan.select = [Item(col=Col(table.name, name))]
        self.penalties.append(("shows the name column by default", 0.9))

    def _fill_order(self, plan: Plan) -> None:
        if self._generic_order and self.order and self.order[0][0].col is not None:
            item, direction = self.order[0]
            for shown in plan.select:
                words = name_words(shown.col.column) if shown.col and not shown.agg else ()
                if words and lemma(words[-1]) == self._generic_order and shown != item:
                    self.order[0] = (shown, direction)
                    break
        for k, (item, direction) in enumerate(self.order):
            if item.col is None and item.agg is None:
                shown = [i for i in plan.select if i.col and not i.agg]
                if not shown:
                    raise NotUnderstood("what to order by")
                self.order[k] = (shown[0], direction)

    def _implicit_group(self, plan: Plan) -> None:
        counted_order = any(item.agg for item, _ in self.order)
        has_agg = any(i.agg for i in plan.select) or counted_order or bool(self.having)
        plain = [i for i in plan.select if not i.agg]
        if not has_agg:
            # "the name and date of each battle" lists rows; nothing to group
            plan.group_by = []
            return
        if self.group:
            self._show_group(plan)
            return
        if not plain and not (counted_order or self.having):
            return
        if self.having and any(w == "or" and not self.used[i] for i, w in enumerate(self.low)):
            raise NotUnderstood("a count condition joined by 'or' to another condition")
        if self.having and not plain and self._count_of_groups(plan):
            return
        if self.having or counted_order:
            plan.group_by = self._entity_key(plan, plain)
            if not plan.group_by:
                raise NotUnderstood("counting things that each have a number of others")
            return
        aggregates = [i for i in plan.select if i.agg]
        if len(aggregates) == 1 and aggregates[0].agg in ("min", "max") and aggregates[0].col:
            self._row_of_extreme(plan, aggregates[0])
            return
        if any(a.agg == "count" and a.col is None for a in aggregates):
            counted = self.count_table
            if counted is not None and all(i.col and i.col.table != counted for i in plain):
                # "names of teachers and the number of courses they teach": per teacher
                plan.group_by = self._entity_key(plan, plain)
                return
            if counted is not None and all(i.col and i.col.table == counted for i in plain):
                plan.group_by = list(plain)
                return
        self.penalties.append(("mixes totals and rows without 'each'", 0.6))
        plan.group_by = list(plain)

    def _count_of_groups(self, plan: Plan) -> bool:
        """ "How many countries have more than 2 makers": count the countries whose key is
        among those the related rows hold more than twice."""
        entity = self.count_table
        related = [t for t in dict.fromkeys(self._related_tables) if t != entity]
        if entity is None or len(related) != 1 or plan.select != [Item(agg="count")]:
            return False
        if any(f.cond.col.table != entity for f in self.filters) or self.anti:
            return False  # a condition on the counted rows would belong inside the subquery
        link = self._link_table(entity, related[0])
        if link is None:
            return False
        holder = Col(link.table, link.columns[0])
        sub = Plan(
            select=[Item(col=holder)],
            tables=[link.table],
            group_by=[Item(col=holder)],
            having=list(self.having),
        )
        self.having.clear()
        plan.tables = [t for t in plan.tables if t != related[0]] or [entity]
        self.filters.append(
            _Filter(len(self.tokens), Cond(Col(entity, link.ref_columns[0]), "in", sub=sub))
        )
        return True

    def _link_table(self, entity: str, related: str) -> Edge | None:
        """The single-column foreign key to `entity` from `related`, or from a table that
        joins the two (a junction table)."""
        direct = [e for e in self.edges if e.table == related and e.ref_table == entity]
        if len(direct) == 1 and len(direct[0].columns) == 1:
            return direct[0]
        if direct:
            return None
        junctions = [
            e
            for e in self.edges
            if e.ref_table == entity
            and len(e.columns) == 1
            and any(o.table == e.table and o.ref_table == related for o in self.edges)
        ]
        return junctions[0] if len(junctions) == 1 else None

    def _row_of_extreme(self, plan: Plan, aggregate: Item) -> None:
        """ "the maximum horsepower and the make": the row holding the maximum."""
        assert aggregate.col is not None
        plain = Item(col=aggregate.col)
        plan.select = [plain if i == aggregate else i for i in plan.select]
        self.order.append((plain, "desc" if aggregate.agg == "max" else "asc"))
        self.limit = 1

    def _show_group(self, plan: Plan) -> None:
        # "for each stadium, how many concerts": show the stadium's name beside the count.
        shown = {i.col for i in plan.select if i.col and not i.agg}
        for group in self.group:
            if group.col is None or group.col in shown:
                continue
            table = self.index.tables[group.col.table]
            if group.col.column != primary_key(table):
                plan.select.insert(0, Item(col=group.col, bucket=group.bucket, label=group.label))
                continue
            if any(c.table == table.name for c in shown):
                continue
            labels = [Col(table.name, n) for n in label_columns(table)] or [group.col]
            for column in reversed(labels):
                plan.select.insert(0, Item(col=column))
            # A key the catalog does not declare cannot stand for the label in GROUP BY.
            plan.group_by.extend(Item(col=c) for c in labels if c != group.col)

    def _entity_key(self, plan: Plan, plain: list[Item]) -> list[Item]:
        """What a count per thing groups by: the key of the table shown, or the column shown
        when it belongs to the counted table ("hometowns shared by two teachers")."""
        counted = set(self._related_tables)
        tables = [i.col.table for i in plain if i.col]
        if not tables:
            return []
        table = tables[0]
        key = primary_key(self.index.tables[table])
        if table in counted and any(i.col and i.col.column == key for i in plain):
            raise NotUnderstood(f"counting {table} per {table}")
        if table in counted or table == self.count_table and len(set(tables)) == 1:
            return [Item(col=i.col) for i in plain]
        key = primary_key(self.index.tables[table])
        if key is None:
            return [Item(col=i.col) for i in plain]
        if table in counted:
            raise NotUnderstood(f"counting {table} per {table}")
        if self.index.tables[table].primary_key:
            return [Item(col=Col(table, key))]
        # PostgreSQL takes the columns shown beside a key only when the key is declared
        shown = [Item(col=i.col) for i in plain if i.col and i.col.table == table]
        return list(dict.fromkeys([Item(col=Col(table, key))] + shown))

    def _where(self, plan: Plan) -> None:
        filters = sorted(self.filters, key=lambda f: f.position)
        anti_positions = sorted(self.anti)
        inside: dict[int, list[_Filter]] = {p: [] for p, _ in anti_positions}
        outside = []
        for item in filters:
            owner = self._anti_owner(item, anti_positions)
            if owner is None:
                outside.append(item)
            else:
                inside[owner].append(item)
        plan.where, plan.connectors = self._combine(plan, outside)
        for position, table in anti_positions:
            plan.where.append(self._anti_condition(plan, table, inside[position]))
            plan.connectors.append("and")

    def _anti_owner(self, item: _Filter, anti: list[tuple[int, str]]) -> int | None:
        owner = None
        for position, _ in anti:
            if item.position > position:
                owner = position
        return owner

    def _combine(self, plan: Plan, filters: list[_Filter]) -> tuple[list[Cond], list[str]]:
        conds: list[Cond] = []
        connectors: list[str] = []
        previous_end = 0
        for item in filters:
            connector = self._connector(previous_end, item.position)
            if conds and _same_column(conds[-1], item.cond) and _mergeable(conds[-1], item.cond):
                if connector == "or":
                    conds[-1] = _in_list(conds[-1], item.cond)
                    previous_end = item.position
                    continue
                if conds[-1].op == "=" and item.cond.op == "=":
                    self.setop_values.append((conds[-1], item.cond))
                    previous_end = item.position
                    continue
            if conds:
                connectors.append(connector)
            conds.append(item.cond)
            previous_end = item.position
        return conds, connectors

    def _connector(self, start: int, end: int) -> str:
        for j in range(start, end):
            if self.low[j] == "or":
                self.consume(j, j + 1)
                return "or"
        return "and"

    def _anti_condition(self, plan: Plan, table: str, conds: list[_Filter]) -> Cond:
        main = self.index.tables[plan.main]
        key = primary_key(main)
        inner = [c.cond for c in conds]
        for edge in self.edges:
            if edge.table == table and edge.ref_table == main.name and len(edge.columns) == 1:
                if all(c.col.table == table for c in inner):
                    sub = Plan(select=[Item(col=Col(table, edge.columns[0]))], tables=[table])
                    sub.where, sub.connectors = inner, ["and"] * max(0, len(inner) - 1)
                    return Cond(Col(main.name, edge.ref_columns[0]), "not in", sub=sub)
        if key is None:
            raise NotUnderstood(f"how to tell apart each {main.name}")
        sub = Plan(select=[Item(col=Col(main.name, key))], tables=[main.name, table])
        sub.where, sub.connectors = inner, ["and"] * max(0, len(inner) - 1)
        return Cond(Col(main.name, key), "not in", sub=sub)

    # -- what was not understood ---------------------------------------------------------

    def _unknown(self, plan: Plan) -> list[str]:
        joined = len(plan.used_tables()) > 1 or any(c.sub for c in plan.where)
        unknown = []
        for i, token in enumerate(self.tokens):
            if self.used[i] or token.kind == "punct" or token.low in STOPWORDS:
                continue
            if i == 0 and token.low in QUESTION_WORDS:
                continue
            if token.low in QUESTION_WORDS and token.low not in ("name", "count"):
                continue
            if token.low in LINK_VERBS or lemma(token.low) in LINK_VERBS:
                if not joined:
                    self.penalties.append((f"'{token.text}' is not checked", 0.9))
                continue
            if token.low in _SOFT_WORDS:
                continue
            unknown.append(token.text)
        return unknown


COUNT_CUES = (
    ("count", "the", "number", "of"),
    ("the", "number", "of"),
    ("how", "many"),
    ("number", "of"),
    ("count", "of"),
    ("count",),
    ("total", "number", "of"),
    ("the", "number"),
    ("the", "count"),
)
COMPARATIVES = {
    "greater": ">",
    "larger": ">",
    "higher": ">",
    "bigger": ">",
    "more": ">",
    "smaller": "<",
    "less": "<",
    "lower": "<",
    "fewer": "<",
}
SINGLE_COMPARATORS = (("above", ">"), ("over", ">"), ("below", "<"), ("under", "<"))
# Comparisons between two columns of a row, which the rules do not build.
UNSUPPORTED = (("different", "from"), ("same", "as"), ("other", "than", "the"))
# Words between "of" and the noun they modify: "the names of the 3 most expensive products".
_BEFORE_NOUN = (
    frozenset({"all", "each", "every", "any", "top", "first", "last"})
    | frozenset(DIRECTION_WORDS)
    | frozenset(ADJECTIVES)
    | frozenset({"different", "distinct", "unique"})
)
GENERIC_NAMES = frozenset({"id", "ids", "name", "names", "code", "codes", "date", "dates"})
COMPARE_TAIL = frozenset({"than", "least", "most", "over", "under", "above", "below"})
_LIKE_WORDS = frozenset(w for phrase in LIKE_CUES for w in phrase)
# Words that never change a query's meaning here (politeness, "in total", "do we have").
_SOFT_WORDS = frozenset(
    {
        "total",
        "altogether",
        "overall",
        "exactly",
        "there",
        "ones",
        "everything",
        "everyone",
        "anyone",
        "somebody",
        "someone",
        "people",
        "person",
        "all",
        "also",
        "whose",
        "respectively",
        "ever",
        "kind",
        "instance",
        "instances",
        "time",
        "times",
        "number",
        "many",
    }
)


# "When ..." asks for a date, "where ..." for a place, when no column is named.
_ASKED_KIND = {
    "when": ("date", "time", "year", "day"),
    "where": (
        "location",
        "city",
        "hometown",
        "country",
        "address",
        "place",
        "town",
        "venue",
        "state",
        "region",
    ),
}


def _column_with_words(table: Table, words: tuple[str, ...]) -> str | None:
    for word in words:
        for column in table.columns:
            if word in name_words(column.name):
                return column.name
    return None


def _edges(index: SchemaIndex) -> list[Edge]:
    from dana.nl2sql.render import fk_edges
    from dana.schema import Schema

    return fk_edges(Schema(tables=tuple(index.tables.values())))


def _col(target: Target) -> Col:
    assert target.column is not None
    return Col(target.table, target.column)


def _number(token: Token) -> float:
    assert token.number is not None
    return token.number


def _same_column(a: Cond, b: Cond) -> bool:
    return a.col == b.col and a.sub is None and b.sub is None


def _mergeable(a: Cond, b: Cond) -> bool:
    return a.op in ("=", "in") and b.op == "=" and a.bucket == b.bucket


def _in_list(a: Cond, b: Cond) -> Cond:
    return Cond(a.col, "in", a.values + b.values, bucket=a.bucket)


def _extreme_direction(word: str) -> str | None:
    found = AGGREGATE_WORDS.get(word)
    if found in ("max", "min"):
        return "desc" if found == "max" else "asc"
    entries = ADJECTIVES.get(word)
    if entries and entries[0][1] in ("asc", "desc"):
        return entries[0][1]
    return None
