"""Regression sample: shared Spider questions, one handful per construct, by execution.

Each case names a database and a question of the shared Spider sample; the gold SQL is read
from the sample at test time. Only questions the offline translator answers correctly are
listed: a failure here is a regression.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from dana.integrations.sqlite_schema import introspect_sqlite
from dana.nl2sql.base import Request
from dana.nl2sql.offline import OfflineTranslator
from dana.nl2sql.spider import execution_match, is_ordered, run_sqlite
from dana.schema import Context, Schema

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "spider_dev10"

# (construct, db_id, question)
CASES = [
    ("count", "concert_singer", "How many singers do we have?"),
    ("count", "concert_singer", "What is the total number of singers?"),
    (
        "order",
        "concert_singer",
        "Show name, country, age for all singers ordered by age from the oldest to the youngest.",
    ),
    (
        "order",
        "concert_singer",
        "What are the names, countries, and ages for every singer in descending order of age?",
    ),
    (
        "aggregate",
        "concert_singer",
        "What is the average, minimum, and maximum age of all singers from France?",
    ),
    (
        "aggregate",
        "concert_singer",
        "What is the average, minimum, and maximum age for all French singers?",
    ),
    (
        "filter",
        "concert_singer",
        "What are all distinct countries where singers above age 20 are from?",
    ),
    ("filter", "concert_singer", "What are  the different countries with singers above age 20?"),
    ("group", "concert_singer", "Show all countries and the number of singers in each country."),
    ("group", "concert_singer", "How many singers are from each country?"),
    ("subquery", "concert_singer", "List all song names by singers above the average age."),
    (
        "subquery",
        "concert_singer",
        "What are all the song names by singers who are older than average?",
    ),
    (
        "filter",
        "concert_singer",
        "Show location and name for all stadiums with a capacity between 5000 and 10000.",
    ),
    (
        "aggregate",
        "concert_singer",
        "What is the average and maximum capacities for all stadiums ?",
    ),
    ("count", "concert_singer", "How many concerts are there in year 2014 or 2015?"),
    (
        "group",
        "concert_singer",
        "Show the stadium name and the number of concerts in each stadium.",
    ),
    ("group superlative", "concert_singer", "Which year has most number of concerts?"),
    ("group superlative", "concert_singer", "What is the year that had the most concerts?"),
    ("anti-join", "concert_singer", "Show the stadium names without any concert."),
    ("anti-join", "concert_singer", "What are the names of the stadiums without any concerts?"),
    (
        "anti-join",
        "concert_singer",
        "Show names for all stadiums except for stadiums having a concert in year 2014.",
    ),
    (
        "intersect",
        "concert_singer",
        "Find the name and location of the stadiums which some concerts happened in the years of both 2014 and 2015.",
    ),
    (
        "intersect",
        "concert_singer",
        "What are the names and locations of the stadiums that had concerts that occurred in both 2014 and 2015?",
    ),
    (
        "superlative",
        "concert_singer",
        "Find the number of concerts happened in the stadium with the highest capacity .",
    ),
    (
        "superlative",
        "concert_singer",
        "What are the number of concerts that occurred in the stadium with the largest capacity ?",
    ),
    ("superlative", "pets_1", "Find the weight of the youngest dog."),
    ("join", "pets_1", "Find number of pets owned by students who are older than 20."),
    ("join", "pets_1", "How many pets are owned by students that have an age greater than 20?"),
    (
        "join",
        "pets_1",
        "Find the number of dog pets that are raised by female students (with sex F).",
    ),
    ("intersect", "pets_1", "Find the first name of students who have both cat and dog pets ."),
    ("having", "pets_1", "Find the first name and gender of student who have more than one pet."),
    (
        "having",
        "pets_1",
        "What is the first name and gender of the all the students who have more than one pet?",
    ),
    ("subquery", "car_1", "Find the model of the car whose weight is below the average weight."),
    (
        "group superlative",
        "car_1",
        "Which of the countries has the most car makers? List the country name.",
    ),
    ("having", "car_1", "What are the names and ids of all countries with at least one car maker?"),
    (
        "columns",
        "cre_Doc_Template_Mgt",
        "List document IDs, document names, and document descriptions for all documents.",
    ),
    (
        "columns",
        "cre_Doc_Template_Mgt",
        "What are the ids, names, and descriptions for all documents?",
    ),
    (
        "like",
        "cre_Doc_Template_Mgt",
        "What is the document name and template id for document with description with the letter 'w' in it?",
    ),
    (
        "columns",
        "cre_Doc_Template_Mgt",
        "Show template ids, version numbers, and template type codes for all templates.",
    ),
    ("like", "cre_Doc_Template_Mgt", "Show paragraph details for paragraph with text 'Korea ' ."),
    (
        "like",
        "cre_Doc_Template_Mgt",
        "What are the details for the paragraph that includes the text 'Korea ' ?",
    ),
    ("order", "course_teach", "List the names of teachers in ascending order of age."),
]


@cache
def gold_queries() -> dict[tuple[str, str], str]:
    items = json.loads((SAMPLE / "dev_subset.json").read_text())
    return {(item["db_id"], item["question"]): item["query"] for item in items}


@cache
def schema_of(db_id: str) -> Schema:
    return introspect_sqlite(database(db_id))


def database(db_id: str) -> str:
    return str(SAMPLE / "database" / db_id / f"{db_id}.sqlite")


@pytest.mark.parametrize(
    ("construct", "db_id", "question"), CASES, ids=[f"{c[0]}: {c[2][:50]}" for c in CASES]
)
def test_matches_gold_by_execution(construct: str, db_id: str, question: str) -> None:
    gold = gold_queries()[(db_id, question)]
    request = Request(question, Context(schema=schema_of(db_id)), "sqlite")

    translation = OfflineTranslator().translate_now(request)

    assert translation.kind == "sql", translation.explanation
    predicted = run_sqlite(database(db_id), translation.sql)
    assert execution_match(run_sqlite(database(db_id), gold), predicted, is_ordered(gold)), (
        construct
    )
