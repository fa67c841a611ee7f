"""Follow-up questions: "and by region?", "what about 2024?", "top 10 instead".

A short question that continues the previous one is the previous question with one part
changed: its grouping, its period, its limit, its aggregate, or a value filter added. The
parts are found in the words of both questions, the previous question is rewritten with
the change, and the result is translated as a whole question. So a follow-up is answered
the way the full question, typed out, would be.

An answer to a question asked back ("Do you mean revenue by the customer's region or by
the store's region?" - "the store's region") names the way to join; its tables become
hints for the previous question.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dana.nl2sql.base import Translation, Turn
from dana.nl2sql.lexicon import AGGREGATE_WORDS, STOPWORDS
from dana.nl2sql.linking import (
    Mention,
    SchemaIndex,
    Token,
    is_business_term,
    is_measure,
    link,
    tokenize,
)
from dana.nl2sql.timeframes import BUCKET_WORDS, PERIOD_UNITS, RECENT_WORDS

CANNOT_MERGE = "I could not tell what to change in the previous question"
# Words that open a question continuing the previous one, or close it.
OPENERS = (("what", "about"), ("how", "about"), ("and",), ("now",), ("only",), ("just",),
           ("then",), ("but",), ("also",), ("same",), ("instead",), ("ok",), ("okay",))  # fmt: skip
CLOSERS = frozenset({"instead", "too", "only", "then", "rather"})
ADDING = frozenset({"also", "too", "well"})
REPLACING = frozenset({"now", "instead", "rather"})
# Fragments longer than this are read as new questions, unless they open with a cue.
SHORT = 5
FILLERS = STOPWORDS | frozenset(
    {"what", "about", "how", "now", "only", "just", "then", "instead", "also", "too", "same",
     "ok", "okay", "so", "again", "rather", "i", "mean", "one", "ones", "but", "way"}
)  # fmt: skip
GROUP_CUES = (("broken", "down", "by"), ("split", "by"), ("grouped", "by"), ("for", "each"),
              ("in", "each"), ("for", "every"), ("by",), ("per",))  # fmt: skip
PERIOD_OPENERS = frozenset({"in", "during", "for", "of", "from", "over"})
FUNCTIONS = {w: f for w, f in AGGREGATE_WORDS.items() if w in
             ("average", "mean", "avg", "total", "sum", "maximum", "max", "minimum", "min")}  # fmt: skip
LIMIT_WORDS = frozenset({"top", "first", "bottom"})


@dataclass(frozen=True)
class Reading:
    """What a turn of the conversation asks, in full words, with the tables it named to
    choose between two ways of joining."""

    question: str
    hints: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Part:
    """One part of a follow-up, as words to put into the previous question."""

    kind: str  # "group", "bucket", "period", "limit", "aggregate", "filter" or "dimension"
    words: tuple[str, ...]
    column: tuple[str, str | None] | None = None  # the column a filter's value sits in


@dataclass
class Span:
    """Where a part sits in the previous question: tokens `start` to `end`."""

    kind: str  # as in `Part`, plus "rank" (the thing ranked) and "measure"
    start: int
    end: int
    column: tuple[str, str | None] | None = None


@dataclass
class FollowUps:
    """Reads each turn of a conversation in full, using the turns before it."""

    index: SchemaIndex
    translate: Callable[[Reading], Translation]
    hints_of: Callable[[list[Mention]], set[str]]
    _cache: dict[Reading, Translation] = field(default_factory=dict)

    def read(self, history: tuple[Turn, ...], question: str) -> Reading | None:
        """The reading of `question` after `history`; None when it is a fragment that
        could not be merged into the previous question."""
        reading: Reading | None = None
        for turn in history:
            reading = self._next(reading, turn.question) or Reading(turn.question)
        return self._next(reading, question)

    def _next(self, previous: Reading | None, question: str) -> Reading | None:
        if previous is None:
            return Reading(question)
        tokens = tokenize(question)
        mentions = link(tokens, self.index)
        if self._asked_back(previous) and _names_a_choice(tokens, mentions):
            hinted = Reading(previous.question, previous.hints | self.hints_of(mentions))
            if self._translated(hinted).kind == "sql":
                return hinted
        cued = continues(tokens)
        if not cued:
            words = [t for t in tokens if t.kind != "punct"]
            alone = self._translated(Reading(question))
            if len(words) > SHORT or alone.kind in ("sql", "clarify"):
                return Reading(question)
        merged = rewrite(previous.question, tokens, mentions, self.index)
        if merged is None:
            return None if cued else Reading(question)
        return Reading(merged, previous.hints)

    def _asked_back(self, reading: Reading) -> bool:
        return self._translated(reading).kind == "clarify"

    def _translated(self, reading: Reading) -> Translation:
        if reading not in self._cache:
            self._cache[reading] = self.translate(reading)
        return self._cache[reading]


def continues(tokens: list[Token]) -> bool:
    """Whether the words open or close like a follow-up: "and ...", "... instead"."""
    low = [t.low for t in tokens if t.kind != "punct"]
    if not low:
        return False
    opens = any(tuple(low[: len(cue)]) == cue for cue in OPENERS)
    return opens or low[-1] in CLOSERS


def _names_a_choice(tokens: list[Token], mentions: list[Mention]) -> bool:
    """ "the store's region", "by store": a few words naming tables or columns only."""
    words = [t for t in tokens if t.kind != "punct"]
    if not mentions or len(words) > SHORT + 3 or any(t.kind == "number" for t in words):
        return False
    if any(m.kind == "value" for m in mentions):
        return False
    covered = {i for m in mentions for i in range(m.start, m.end)}
    return all(i in covered or t.low in FILLERS for i, t in enumerate(tokens) if t.kind != "punct")


# -- the parts of a fragment --------------------------------------------------------------


def fragment_parts(tokens: list[Token], mentions: list[Mention]) -> list[Part] | None:
    """The parts a follow-up changes, or None when a word fits no part."""
    starts = {m.start: m for m in mentions}
    parts: list[Part] = []
    i = 0
    while i < len(tokens):
        found = _part_at(tokens, starts, i)
        if found is not None:
            part, i = found
            parts.append(part)
        elif tokens[i].kind == "punct" or tokens[i].low in FILLERS:
            i += 1
        else:
            return None
    return parts or None


def _part_at(tokens: list[Token], starts: dict[int, Mention], i: int) -> tuple[Part, int] | None:
    low = [t.low for t in tokens]
    token = tokens[i]
    if token.low in LIMIT_WORDS and i + 1 < len(tokens) and tokens[i + 1].kind == "number":
        return Part("limit", (token.text, tokens[i + 1].text)), i + 2
    if _is_year(token):
        return Part("period", ("in", token.text)), i + 1
    period = _period_end(low, i)
    if period is not None and not _inside(starts, i):
        return Part("period", tuple(t.text for t in tokens[i:period])), period
    bucket = _bucket_end(low, i)
    if bucket is not None:
        unit = BUCKET_WORDS.get(low[i]) or PERIOD_UNITS[low[i + 1]]
        return Part("bucket", ("per", unit)), bucket
    for cue in GROUP_CUES:
        if tuple(low[i : i + len(cue)]) == cue:
            end = _chain_end(tokens, starts, i + len(cue))
            if end is not None:
                return Part("group", ("by",) + _texts(tokens, i + len(cue), end)), end
    if token.low in FUNCTIONS and i not in starts:
        return Part("aggregate", (token.text,)), i + 1
    mention = starts.get(i)
    if mention is not None and mention.kind == "value":
        column = (mention.best.table, mention.best.column) if mention.targets else None
        return Part("filter", ("for",) + _texts(tokens, i, mention.end), column), mention.end
    if mention is not None:
        end = _chain_end(tokens, starts, i)
        assert end is not None
        return Part("dimension", _texts(tokens, i, end)), end
    return None


def _is_year(token: Token) -> bool:
    number = token.number
    return token.kind == "number" and number is not None and 1900 <= number <= 2100


def _period_end(low: list[str], i: int) -> int | None:
    """ "last month", "the last 6 months", "this year": the end of a period at `i`."""
    if low[i] not in RECENT_WORDS:
        return None
    j = i + 1
    if j < len(low) and low[j].isdigit():
        j += 1
    return j + 1 if j < len(low) and low[j] in PERIOD_UNITS else None


def _bucket_end(low: list[str], i: int) -> int | None:
    if low[i] in BUCKET_WORDS:
        return i + 1
    following = low[i + 1] if i + 1 < len(low) else ""
    if low[i] in ("by", "per", "each", "every", "a") and following in PERIOD_UNITS:
        return i + 2
    return None


def _chain_end(tokens: list[Token], starts: dict[int, Mention], i: int) -> int | None:
    """The end of the names starting at `i` (after articles): "the store's region"."""
    while i < len(tokens) and tokens[i].low in ("the", "a", "an", "each", "every"):
        i += 1
    if i not in starts or starts[i].kind == "value":
        return None
    end = starts[i].end
    while end in starts and starts[end].kind != "value":
        end = starts[end].end
    return end


def _inside(starts: dict[int, Mention], i: int) -> bool:
    return any(m.start <= i < m.end for m in starts.values())


def _texts(tokens: list[Token], start: int, end: int) -> tuple[str, ...]:
    return tuple(_text(t) for t in tokens[start:end])


def _text(token: Token) -> str:
    return f"'{token.text}'" if token.kind == "quoted" else token.text


# -- the parts of the previous question ---------------------------------------------------


def previous_spans(tokens: list[Token], mentions: list[Mention], index: SchemaIndex) -> list[Span]:
    starts = {m.start: m for m in mentions}
    low = [t.low for t in tokens]
    spans: list[Span] = []
    i = 0
    while i < len(tokens):
        span = _span_at(tokens, low, starts, index, i)
        if span is None:
            i += 1
            continue
        spans.append(span)
        i = max(span.end, i + 1)
    return spans


def _span_at(
    tokens: list[Token], low: list[str], starts: dict[int, Mention], index: SchemaIndex, i: int
) -> Span | None:
    if low[i] in LIMIT_WORDS and not _inside(starts, i):
        if i + 1 < len(tokens) and tokens[i + 1].kind == "number":
            return Span("limit", i + 1, i + 2)
        if i + 1 in starts or i + 2 in starts:
            return Span("limit", i + 1, i + 1)
    if _is_year(tokens[i]):
        start = i - 1 if i and low[i - 1] in PERIOD_OPENERS else i
        if start > 0 and low[start - 1] == "year":
            start -= 1
        return Span("period", start, i + 1)
    period = _period_end(low, i)
    if period is not None and not _inside(starts, i):
        before = low[max(0, i - 2) : i]
        start = (
            i - 2 if len(before) == 2 and before[0] in PERIOD_OPENERS and before[1] == "the" else i
        )
        return Span("period", start, period)
    bucket = _bucket_end(low, i)
    if bucket is not None and not _inside(starts, i):
        return Span("bucket", i, bucket)
    for cue in GROUP_CUES:
        if tuple(low[i : i + len(cue)]) == cue:
            end = _chain_end(tokens, starts, i + len(cue))
            if end is None:
                continue
            if _measured(starts[end - 1] if end - 1 in starts else None, index):
                return Span("measure", end - starts[end - 1].end + starts[end - 1].start, end)
            return Span("group", i, end)
    if low[i] in FUNCTIONS and i not in starts:
        return Span("aggregate", i, i + 1)
    mention = starts.get(i)
    if mention is None:
        return None
    if mention.kind == "value" and mention.targets:
        return Span("filter", i, mention.end, (mention.best.table, mention.best.column))
    if i > 0 and (low[i - 1] in LIMIT_WORDS or tokens[i - 1].kind == "number"):
        end = _chain_end(tokens, starts, i)
        return Span("rank", i, end or mention.end)
    if _measured(mention, index):
        return Span("measure", i, mention.end)
    return None


def _measured(mention: Mention | None, index: SchemaIndex) -> bool:
    if mention is None or mention.kind != "column" or not mention.targets:
        return False
    table = index.tables[mention.best.table]
    column = table.column(mention.best.column or "")
    return column is not None and (is_measure(table, column) or is_business_term(column))


# -- merging ------------------------------------------------------------------------------


def rewrite(
    previous: str, tokens: list[Token], mentions: list[Mention], index: SchemaIndex
) -> str | None:
    """`previous` with the parts of the follow-up `tokens` put in, or None."""
    parts = fragment_parts(tokens, mentions)
    if parts is None:
        return None
    old = tokenize(previous)
    spans = previous_spans(old, link(old, index), index)
    cues = {t.low for t in tokens}
    end = len(old) - 1 if old and old[-1].kind == "punct" else len(old)
    edits: list[tuple[int, int, tuple[str, ...]]] = []  # replace tokens start:end by words
    for part in parts:
        found = _edits(part, spans, cues, end)
        if not found:
            return None
        edits.extend(found)
    return _apply(old, edits)


def _edits(
    part: Part, spans: list[Span], cues: set[str], end: int
) -> list[tuple[int, int, tuple[str, ...]]]:
    """How one part changes the previous question; [] when it cannot."""

    def of(*kinds: str) -> list[Span]:
        return [s for s in spans if s.kind in kinds]

    if part.kind == "limit":
        return [(s.start, s.end, part.words[1:]) for s in of("limit")]
    if part.kind == "period":
        return _replace(of("period"), part.words) or [(end, end, part.words)]
    if part.kind == "aggregate":
        measures = of("measure")
        if of("aggregate"):
            return _replace(of("aggregate"), part.words)
        return [(measures[0].start, measures[0].start, part.words)] if measures else []
    if part.kind == "filter":
        same = [s for s in of("filter") if s.column == part.column]
        return _replace(same, part.words) or [(end, end, part.words)]
    if part.kind in ("group", "bucket"):
        return _regroup(part, of("group"), of("bucket"), of("rank"), cues, end)
    groups = of("group") or of("rank")  # a dimension named alone: "for the store region"
    if not groups:
        return []
    keep = ("by",) if groups[0].kind == "group" else ()
    return [(groups[0].start, groups[0].end, keep + part.words)]


def _regroup(
    part: Part, groups: list[Span], buckets: list[Span], ranks: list[Span], cues: set[str],
    end: int,
) -> list[tuple[int, int, tuple[str, ...]]]:  # fmt: skip
    same, other = (groups, buckets) if part.kind == "group" else (buckets, groups)
    if part.kind == "group" and ranks and not groups:
        return [(ranks[0].start, ranks[0].end, part.words[1:])]
    if same and not cues & ADDING:
        return _replace(same, part.words)
    if other and cues & REPLACING:
        return _replace(other, part.words)
    # Added beside the groupings there are: "orders per month by region in 2024".
    after = max((s.end for s in groups + buckets), default=end)
    return [(after, after, part.words)]


def _replace(spans: list[Span], words: tuple[str, ...]) -> list[tuple[int, int, tuple[str, ...]]]:
    if not spans:
        return []
    first, *rest = spans
    return [(first.start, first.end, words)] + [(s.start, s.end, ()) for s in rest]


def _apply(tokens: list[Token], edits: list[tuple[int, int, tuple[str, ...]]]) -> str:
    words: list[str] = []
    ordered = sorted(edits, key=lambda e: (e[0], e[1]))
    i = 0
    for start, end, replacement in ordered:
        if start < i:
            continue  # two parts changing one place: the first wins
        words.extend(_text(t) for t in tokens[i:start])
        words.extend(replacement)
        i = end
    words.extend(_text(t) for t in tokens[i:])
    return _joined(words)


def _joined(words: list[str]) -> str:
    text = ""
    for word in words:
        attach = word in ("?", ".", ",", "!", ";", ":", "n't") or not text
        text += word if attach else " " + word
    return text
