"""The offline translator: English questions to SQL by rules, with no model and no network.

It links the words of the question to the schema (`linking`), gives each linked word a
role (`parser`), and renders the resulting plan for the dialect (`render`). It prefers
to say it does not understand over guessing: any content word no rule explains, or a
construct it does not know, makes it answer "unanswerable" and name what it missed.

>>> import asyncio
>>> from dana.schema import Column, Context, Schema, Table
>>> singer = Table("singer", (Column("name", "text"), Column("age", "int")))
>>> request = Request("How many singers are older than 30?", Context(Schema((singer,))), "sqlite")
>>> asyncio.run(OfflineTranslator().translate(request)).sql
'SELECT COUNT(*) FROM singer WHERE age > 30'
"""

from __future__ import annotations

import dataclasses
import logging

from dana.nl2sql.base import Request, Translation
from dana.nl2sql.clarify import dimension_question
from dana.nl2sql.followups import CANNOT_MERGE, FollowUps, Reading
from dana.nl2sql.lexicon import AGGREGATE_WORDS, LINK_VERBS, PRESENTATION_WORDS, STOPWORDS
from dana.nl2sql.linking import Mention, SchemaIndex, Token, build_index, link, tokenize
from dana.nl2sql.parser import QUESTION_WORDS, NotUnderstood, Parse, Parser
from dana.nl2sql.render import NoJoinPath, Renderer
from dana.nl2sql.timeframes import TIME_WORDS

logger = logging.getLogger(__name__)

# Below this confidence the translator declines: a wrong answer costs more than none.
DEFAULT_THRESHOLD = 0.7
NOT_UNDERSTOOD = "I can't answer that from this data: "


class OfflineTranslator:
    name = "offline"

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold

    async def translate(self, request: Request) -> Translation:
        return self.translate_now(request)

    def translate_now(self, request: Request) -> Translation:
        """The same as `translate`, for callers without an event loop."""
        if not request.context.schema.tables:
            return self._decline("no tables were found for this question")
        index = build_index(request.context)
        if not request.history:
            return self._translate(Reading(request.question), request, index)
        followups = FollowUps(index, lambda r: self._translate(r, request, index), hints)
        reading = followups.read(request.history, request.question)
        if reading is None:
            return Translation(
                kind="unanswerable", explanation=CANNOT_MERGE + ".", translator=self.name
            )
        translation = self._translate(reading, request, index)
        if reading.question == request.question or translation.kind != "sql":
            return translation
        explanation = f'Read as "{reading.question}". {translation.explanation}'
        return dataclasses.replace(translation, explanation=explanation)

    def _translate(self, reading: Reading, request: Request, index: SchemaIndex) -> Translation:
        tokens = tokenize(reading.question)
        mentions = link(tokens, index)
        try:
            parse = Parser(tokens, mentions, index).parse()
        except NotUnderstood as problem:
            return self._decline(_missing(tokens, mentions) or f"I don't understand {problem}")
        if parse.unknown:
            return self._decline(_no_data(parse.unknown))
        named = hints(mentions) | reading.hints
        renderer = Renderer(request.context.schema, request.dialect, named)
        try:
            question = dimension_question(parse.plan, renderer.edges, renderer.hints)
            if question is not None:
                return self._clarify(question)
            expression = renderer.render(parse.plan)
        except NoJoinPath as problem:
            return self._decline(f"nothing in the data connects {problem}")
        return self._answer(expression.sql(dialect=request.dialect), parse)

    def _answer(self, sql: str, parse: Parse) -> Translation:
        confidence = 0.95
        for _reason, factor in parse.penalties:
            confidence *= factor
        notes = tuple(reason for reason, _ in parse.penalties)
        if confidence < self.threshold:
            explanation = "I am not sure I understood: " + "; ".join(notes)
            return Translation(
                kind="unanswerable",
                explanation=NOT_UNDERSTOOD + explanation,
                confidence=confidence,
                translator=self.name,
                notes=notes,
            )
        logger.debug("offline translation: %s", sql)
        return Translation(
            kind="sql",
            sql=sql,
            explanation=_explain(parse),
            confidence=confidence,
            translator=self.name,
            notes=notes,
        )

    def _clarify(self, question: str) -> Translation:
        logger.debug("offline translator asks back: %s", question)
        return Translation(kind="clarify", explanation=question, translator=self.name)

    def _decline(self, reason: str) -> Translation:
        return Translation(
            kind="unanswerable", explanation=NOT_UNDERSTOOD + reason, translator=self.name
        )


def hints(mentions: list[Mention]) -> set[str]:
    """The tables and columns ("table.column") a question names, which choose between two
    equally short ways to join."""
    named = set()
    for mention in mentions:
        for target in mention.targets[:1]:
            named.add(target.table)
            if target.column:
                named.add(f"{target.table}.{target.column}")
    return named


def _missing(tokens: list[Token], mentions: list[Mention]) -> str:
    """The content words no table or column matched, said as missing data."""
    covered = {i for m in mentions for i in range(m.start, m.end)}
    known = STOPWORDS | LINK_VERBS | QUESTION_WORDS | set(AGGREGATE_WORDS) | TIME_WORDS
    known |= PRESENTATION_WORDS
    words = [
        t.text
        for i, t in enumerate(tokens)
        if i not in covered and t.kind == "word" and t.low not in known
    ]
    if not words or len(words) < len(tokens) // 3 and mentions:
        return ""
    return _no_data(words)


def _no_data(words: list[str]) -> str:
    shown = list(dict.fromkeys(w.lower() for w in words))[:4]
    if len(shown) == 1:
        return f"there is no {shown[0]} data"
    return f"there is no {', '.join(shown[:-1])} or {shown[-1]} data"


def _explain(parse: Parse) -> str:
    plan = parse.plan
    parts = [f"from {', '.join(plan.used_tables())}"]
    if plan.where:
        parts.append(f"{len(plan.where)} filter(s)")
    if plan.group_by:
        parts.append("grouped")
    if plan.order_by:
        parts.append("ordered")
    if plan.limit:
        parts.append(f"first {plan.limit}")
    return "Rule-based reading: " + ", ".join(parts) + "."
