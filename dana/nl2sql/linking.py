"""Schema linking: which words of a question name a table, a column or a stored value.

The question is cut into tokens; every span of up to six tokens is compared with the
names of tables and columns (split into words, singular, synonyms folded) and with the
sample values kept for low-cardinality text columns. Overlapping spans are resolved
longest first, so "release year" wins over "year".
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from dana.nl2sql.lexicon import (
    AGGREGATE_WORDS,
    ALIASES,
    DEMONYMS,
    LINK_VERBS,
    MONEY_COLUMN_WORDS,
    NEGATIONS,
    NUMBER_WORDS,
    STOPWORDS,
    lemma,
    name_words,
    stem,
)
from dana.schema import Column, Context, Table

MAX_SPAN = 6

# Words too generic to name a column alone: "name" could be any table's name.
GENERIC_WORDS = frozenset(
    {
        "id",
        "name",
        "code",
        "type",
        "date",
        "number",
        "description",
        "detail",
        "other",
        "text",
        "value",
        "year",
        "title",
    }
)

# Last words of column names that do not name the column alone ("cell_mobile_number").
WEAK_SUFFIXES = frozenset({"number", "to", "from", "by", "in", "of", "at", "on"}) | LINK_VERBS

# Words table names often carry that questions leave out ("cars_data" is about cars).
TABLE_FILLERS = frozenset(
    {
        "data",
        "list",
        "info",
        "information",
        "detail",
        "table",
        "ref",
        "record",
        "tbl",
        "master",
        "lookup",
        "in",
        "has",
        "of",
    }
)

_QUOTED = re.compile(
    r"(?:(?<=[\s(])|^)(?:``|''|[\"“‘'`])\s*(.+?)\s*(?:''|``|[\"”’'`])(?=[\s?.,;:!)]|$)"
)
_TOKEN = re.compile(r"\d+(?:\.\d+)?%?|[A-Za-z][A-Za-z0-9_]*(?:'[a-z]{1,2})?|[^\sA-Za-z0-9]")


@dataclass(frozen=True)
class Token:
    text: str  # as typed
    low: str
    lem: str
    kind: str  # "word", "number", "quoted" or "punct"
    number: float | None = None


@dataclass(frozen=True)
class Target:
    """One thing a span may mean: a table, a column, or a value of a column."""

    table: str
    column: str | None = None
    value: str | None = None
    score: float = 1.0


@dataclass
class Mention:
    start: int
    end: int  # exclusive
    kind: str  # "table", "column" or "value"
    targets: list[Target] = field(default_factory=list)
    literal: str | None = None  # a quoted string that matched no stored value

    @property
    def best(self) -> Target:
        return self.targets[0]

    def table_reading(self, margin: float = 0.1) -> Target | None:
        """The table this span may name, when that reading is nearly as good as the best."""
        for target in self.targets:
            if target.column is None and target.score >= self.targets[0].score - margin:
                return target
        return None


def tokenize(question: str) -> list[Token]:
    """Tokens of a question; a quoted string stays one token."""
    tokens: list[Token] = []
    position = 0
    for match in _QUOTED.finditer(question):
        tokens.extend(_plain_tokens(question[position : match.start()]))
        text = match.group(1).strip()
        tokens.append(Token(text, text.lower(), text.lower(), "quoted"))
        position = match.end()
    tokens.extend(_plain_tokens(question[position:]))
    return tokens


def _plain_tokens(text: str) -> list[Token]:
    tokens: list[Token] = []
    for raw in _TOKEN.findall(text):
        low = raw.lower()
        if low.endswith("n't"):
            tokens.append(Token(raw[:-3], low[:-3], low[:-3], "word"))
            tokens.append(Token("n't", "not", "not", "word"))
        elif raw[0].isdigit():
            tokens.append(Token(raw, low, low, "number", float(low.rstrip("%"))))
        elif raw[0].isalpha():
            tokens.append(_word(raw, low, tokens[-1].low if tokens else ""))
        else:
            tokens.append(Token(raw, low, low, "punct"))
    return tokens


_BEFORE_ONE = frozenset({"between", "than", "least", "most", "exactly", "and", "or", "to"})


def _word(raw: str, low: str, previous: str) -> Token:
    if low.endswith("'s"):
        low = low[:-2]
    counted = low not in ("one", "single", "once") or previous in _BEFORE_ONE
    if low in NUMBER_WORDS and counted:
        return Token(raw, low, low, "number", float(NUMBER_WORDS[low]))
    return Token(raw, low, lemma(low), "word")


@dataclass
class SchemaIndex:
    """Phrases (tuples of folded words) that name each table and column of a context."""

    tables: dict[str, Table]
    names: dict[tuple[str, ...], list[Target]]
    stems: dict[tuple[str, ...], list[Target]]
    values: dict[tuple[str, ...], list[Target]]

    def column(self, table: str, column: str) -> Column | None:
        return self.tables[table].column(column)


def build_index(context: Context) -> SchemaIndex:
    names: dict[tuple[str, ...], list[Target]] = defaultdict(list)
    values: dict[tuple[str, ...], list[Target]] = defaultdict(list)
    tables = {t.name: t for t in context.schema.tables}
    for table in context.schema.tables:
        for phrase, score in table_phrases(table.name):
            names[phrase].append(Target(table.name, score=score))
        for column in table.columns:
            for phrase, score in column_phrases(table.name, column.name):
                names[phrase].append(Target(table.name, column.name, score=score))
            for sample in column.samples:
                _add_value(values, table.name, column.name, sample)
        label = name_column(table)
        if label is not None:
            # "the continent name" is the column that names a continent, whatever it is called
            for phrase, _ in table_phrases(table.name):
                names[phrase + ("name",)].append(Target(table.name, label, score=0.9))
    for match in context.values:
        if match.table in tables:
            _add_value(values, match.table, match.column, match.value, match.score)
    stems: dict[tuple[str, ...], list[Target]] = defaultdict(list)
    for phrase, targets in names.items():
        stems[tuple(stem(w) for w in phrase)].extend(targets)
    return SchemaIndex(tables, _best_first(names), _best_first(stems), _best_first(values))


def _best_first(index: dict[tuple[str, ...], list[Target]]) -> dict[tuple[str, ...], list[Target]]:
    result = {}
    for phrase, targets in index.items():
        unique: dict[tuple[str, str | None, str | None], Target] = {}
        for target in sorted(targets, key=lambda t: -t.score):
            unique.setdefault((target.table, target.column, target.value), target)
        result[phrase] = list(unique.values())
    return result


def table_phrases(name: str) -> list[tuple[tuple[str, ...], float]]:
    words = tuple(lemma(w) for w in name_words(name))
    phrases = [(words, 1.0)]
    core = tuple(w for w in words if w not in TABLE_FILLERS)
    if core and core != words:
        phrases.append((core, 0.95))
    if len(core) > 1 and core[-1] not in GENERIC_WORDS:
        # "car_makers" is also "the makers"
        phrases.append((core[-1:], 0.75))
    return phrases


def column_phrases(table: str, column: str) -> list[tuple[tuple[str, ...], float]]:
    """Phrases for a column, with a score for how surely each one names it."""
    words = tuple(lemma(w) for w in name_words(column))
    table_words = tuple(lemma(w) for w in name_words(table) if lemma(w) not in TABLE_FILLERS)
    phrases: dict[tuple[str, ...], float] = {words: 1.0}
    if len(words) > 1 and words[0] == "other":
        # "other_details" is what a question calls "the details"
        words = words[1:]
        phrases[words] = 0.9
    stripped = _strip_prefix(words, table_words)
    if stripped:
        phrases.setdefault(stripped, 0.95)
    else:
        phrases.setdefault(table_words + words, 1.0)
        if table_words:
            phrases.setdefault(table_words[-1:] + words, 0.95)
    while len(words) > 1 and words[-1] in STOPWORDS:
        words = words[:-1]  # "directed_by" is "directed"
        phrases.setdefault(words, 0.9)
    if len(words) == 3:
        phrases.setdefault((words[0], words[2]), 0.75)  # "degree name" for degree_summary_name
    for size in range(len(words) - 1, 0, -1):
        suffix = words[-size:]
        if all(w in STOPWORDS or w in WEAK_SUFFIXES or len(w) <= 2 for w in suffix):
            continue  # "directed_by" is not what "by" means, nor "line_2" what "2" means
        generic = size == 1 and suffix[0] in GENERIC_WORDS
        phrases.setdefault(suffix, 0.5 if generic else 0.8)
    if words and words[-1] == "id" and len(words) > 1:
        # "the template" in "documents with the template ..." means its id when no table does.
        phrases.setdefault(words[:-1], 0.6)
    return list(phrases.items())


def _strip_prefix(words: tuple[str, ...], table_words: tuple[str, ...]) -> tuple[str, ...]:
    for size in range(len(table_words), 0, -1):
        prefix = table_words[-size:]
        if len(words) > size and words[:size] == prefix:
            return words[size:]
    return ()


def _add_value(
    values: dict[tuple[str, ...], list[Target]],
    table: str,
    column: str,
    value: str,
    score: float = 1.0,
) -> None:
    words = tuple(t.low for t in _plain_tokens(value) if t.kind != "punct")
    if not words:
        return
    target = Target(table, column, value, score)
    values[words].append(target)
    lemmas = tuple(lemma(w) for w in words)
    if lemmas != words:
        values[lemmas].append(Target(table, column, value, score * 0.9))
    joined = ("".join(words),)
    if len(words) > 1 and joined not in values:
        values[joined].append(Target(table, column, value, score * 0.8))
    for alias in ALIASES.get(" ".join(words), ()):
        values[tuple(alias.split())].append(Target(table, column, value, score * 0.9))


def link(tokens: list[Token], index: SchemaIndex) -> list[Mention]:
    """Mentions of tables, columns and values, not overlapping, in question order."""
    found = _value_mentions(tokens, index) + _name_mentions(tokens, index)
    found.sort(key=lambda m: (-(m.end - m.start), -_priority(m, tokens)))
    taken = [False] * len(tokens)
    chosen = []
    for mention in found:
        if any(taken[mention.start : mention.end]):
            continue
        for i in range(mention.start, mention.end):
            taken[i] = True
        chosen.append(mention)
    return sorted(chosen, key=lambda m: m.start)


def _priority(mention: Mention, tokens: list[Token]) -> float:
    score = mention.best.score if mention.targets else 0.5
    if mention.kind == "value":
        first = tokens[mention.start]
        # A value typed in quotes or capitalised inside the sentence is meant as a value.
        if first.kind == "quoted" or (mention.start > 0 and first.text[:1].isupper()):
            score += 0.5
        else:
            score -= 0.05
    return score


def _name_mentions(tokens: list[Token], index: SchemaIndex) -> list[Mention]:
    mentions = []
    for start in range(len(tokens)):
        for end in range(min(len(tokens), start + MAX_SPAN), start, -1):
            span = tokens[start:end]
            if any(t.kind in ("punct", "quoted") for t in span):
                continue
            phrase = tuple(t.lem for t in span)
            targets = index.names.get(phrase)
            if not targets and (span[0].low in STOPWORDS or span[-1].low in STOPWORDS):
                continue
            if not targets and all(_stemmable(t) for t in span):
                stemmed = index.stems.get(tuple(stem(t.low) for t in span))
                targets = [_scaled(t, 0.85) for t in stemmed] if stemmed else None
            if targets and not _is_cue_word(span, tokens[:start]):
                mentions.append(_mention(start, end, targets))
    return mentions


def _stemmable(token: Token) -> bool:
    return len(token.low) > 3 and token.low not in STOPWORDS and token.low not in NEGATIONS


def _is_cue_word(span: list[Token], before: list[Token]) -> bool:
    """A lone aggregate word ("average", "total") is an operation, not the column of that
    name, unless an aggregate already applies to it: "the sum of total"."""
    if len(span) != 1 or span[0].low not in AGGREGATE_WORDS:
        return False
    words = [t.low for t in before if t.low not in ("the", "a", "an")]
    return not (len(words) >= 2 and words[-1] == "of" and words[-2] in AGGREGATE_WORDS)


def _scaled(target: Target, factor: float) -> Target:
    return Target(target.table, target.column, target.value, target.score * factor)


def _mention(start: int, end: int, targets: list[Target]) -> Mention:
    kind = "table" if targets[0].column is None else "column"
    ordered = sorted(targets, key=lambda t: (-t.score, t.column is not None))
    return Mention(start, end, "table" if ordered[0].column is None else kind, ordered)


def _value_mentions(tokens: list[Token], index: SchemaIndex) -> list[Mention]:
    mentions = []
    for start, token in enumerate(tokens):
        if token.kind == "quoted":
            mentions.append(_quoted_mention(start, token, index))
            continue
        before = tokens[start - 1] if start else None
        for end in range(min(len(tokens), start + MAX_SPAN + 2), start, -1):
            span = tokens[start:end]
            if any(t.kind == "quoted" or t.text in _BREAKS for t in span):
                continue
            if not _worth_matching(span, before):
                continue
            targets = _value_targets([t for t in span if t.kind != "punct"], index)
            if targets:
                mentions.append(Mention(start, end, "value", targets))
                break
    return mentions


# Punctuation that ends a value; other marks ("amc hornet (sw)", "Ivan Asen-II") may sit inside.
_BREAKS = frozenset({",", "?", "!", ";", ":", '"'})


def _worth_matching(span: list[Token], before: Token | None) -> bool:
    words = [t for t in span if t.kind != "punct"]
    if not words or all(t.low in STOPWORDS for t in words):
        return False
    if span[0].kind == "punct" or span[-1].kind == "punct" and span[-1].text != ")":
        return False
    if len(span) == 1 and len(span[0].low) < 2:
        # a single letter is a value only when typed as one: "sex F", "the section named h"
        named = before is not None and before.low in ("named", "called", "code", "letter")
        return span[0].text.isupper() or named
    return not (span[0].low in STOPWORDS or span[-1].low in STOPWORDS)


def _value_targets(span: list[Token], index: SchemaIndex) -> list[Target]:
    words = tuple(t.low if t.kind != "number" else t.text for t in span)
    targets = list(index.values.get(words, ()))
    if not targets:
        targets = [_scaled(t, 0.9) for t in index.values.get(tuple(t.lem for t in span), ())]
    if not targets and len(span) == 1 and span[0].low in DEMONYMS:
        targets = [_scaled(t, 0.9) for t in index.values.get((DEMONYMS[span[0].low],), ())]
    if not targets and len(span) == 1:
        targets = _gender_targets(span[0].low, index)
    return sorted(targets, key=lambda t: -t.score)


_GENDER = {
    "female": "f",
    "females": "f",
    "women": "f",
    "woman": "f",
    "girls": "f",
    "male": "m",
    "males": "m",
    "men": "m",
    "man": "m",
    "boys": "m",
}


def _gender_targets(word: str, index: SchemaIndex) -> list[Target]:
    # A sex column stored as single letters: "female students" means sex = 'F'.
    letter = _GENDER.get(word)
    if letter is None:
        return []
    return [_scaled(t, 0.9) for t in index.values.get((letter,), ()) if _is_sex(t)]


def _is_sex(target: Target) -> bool:
    return bool(target.column) and lemma(target.column.lower()) in ("sex", "gender")


def _quoted_mention(position: int, token: Token, index: SchemaIndex) -> Mention:
    words = tuple(t.low for t in _plain_tokens(token.text) if t.kind != "punct")
    targets = list(index.values.get(words, ())) if words else []
    exact = [t for t in targets if t.value and t.value.strip().lower() == token.low]
    chosen = exact or targets
    return Mention(position, position + 1, "value", chosen, literal=token.text)


NUMERIC_TYPES = ("int", "real", "float", "double", "numeric", "decimal", "number", "bool")


def is_numeric(column: Column) -> bool:
    kind = column.type.lower()
    if any(k in kind for k in NUMERIC_TYPES):
        return True
    return bool(column.samples) and all(_looks_numeric(s) for s in column.samples)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# Last words of numeric columns that identify or date a row rather than measure it.
_NOT_MEASURES = frozenset({"id", "code", "year", "number", "zip", "postcode", "phone"})


def is_measure(table: Table, column: Column) -> bool:
    """Whether summing `column` over rows means something: a number that is no key."""
    if not is_numeric(column) or column.primary_key or is_temporal(column):
        return False
    if any(column.name in fk.columns for fk in table.foreign_keys):
        return False
    words = name_words(column.name)
    return bool(words) and words[-1] not in _NOT_MEASURES


def money_column(table: Table) -> str | None:
    """The one measure of `table` that holds money, by its name: total, amount, price..."""
    found = [
        c.name
        for c in table.columns
        if is_measure(table, c)
        and name_words(c.name)
        and lemma(name_words(c.name)[-1]) in MONEY_COLUMN_WORDS | {"sale"}
    ]
    return found[0] if len(found) == 1 else None


def is_business_term(column: Column) -> bool:
    # `dana.retrieval.glossary` adds each term as a virtual column with this comment.
    return (column.comment or "").startswith("business term:")


def is_temporal(column: Column) -> bool:
    kind = column.type.lower()
    return "date" in kind or "time" in kind


def date_column(table: Table) -> str | None:
    for column in table.columns:
        if is_temporal(column):
            return column.name
    for column in table.columns:
        if "date" in name_words(column.name):
            return column.name
    return None


def primary_key(table: Table) -> str | None:
    keys = table.primary_key
    if len(keys) == 1:
        return keys[0]
    for column in table.columns:
        if column.name.lower() in ("id", f"{table.name.lower()}_id"):
            return column.name
    return None


def label_columns(table: Table) -> list[str]:
    """The columns that tell a person which row this is: its name, its full name, or its
    first and last names; a job title or another text only when nothing names the row."""
    by_words = {tuple(lemma(w) for w in name_words(c.name)): c.name for c in table.columns}
    table_words = tuple(lemma(w) for w in name_words(table.name))
    for words in (("name",), ("full", "name"), table_words[-1:] + ("name",)):
        if words in by_words:
            return [by_words[words]]
    if ("first", "name") in by_words and ("last", "name") in by_words:
        return [by_words[("first", "name")], by_words[("last", "name")]]
    label = name_column(table)
    return [label] if label else []


def name_column(table: Table) -> str | None:
    """The column that names a row: "name", "<table>_name", "title", or the only text one."""
    table_words = tuple(lemma(w) for w in name_words(table.name))
    ranked = []
    for column in table.columns:
        words = tuple(lemma(w) for w in name_words(column.name))
        if words and words[-1] in ("name", "title") and words[0] not in ("middle", "last"):
            # a person's name before a job title: employees(first_name, title)
            titled = 2 if words[-1] == "title" else 0
            ranked.append((titled + (0 if len(words) == 1 else 1), column.name))
        elif words and words == table_words[-len(words) :] and not is_numeric(column):
            ranked.append((2, column.name))
    if ranked:
        return sorted(ranked)[0][1]
    texts = [c.name for c in table.columns if not is_numeric(c) and not c.primary_key]
    return texts[0] if len(texts) == 1 else None
