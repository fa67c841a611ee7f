"""English words the offline translator knows, and how it folds word forms together.

Everything here is about English and about how schemas are usually named, never about
one database: the translator must work on schemas it has never seen.
"""

from __future__ import annotations

import re

# Words that carry no meaning for the query. A question made only of these and of words
# linked to the schema is fully understood.
STOPWORDS = frozenset(
    """
    a an the of and or to in on at for from by with as is are was were be been being do does
    did done have has had having it its it's their there they them this that these those
    what which who whom whose when where how me my we our us you your i all any some each
    every also please can could would should will shall may might must there's here
    show list give find return tell display get provide describe know see want need
    along together corresponding respective respectively both either ones one's than
    whole entire overall currently current just only about into onto per via well
    listed recorded stored registered available present exist exists existing table
    record records entry entries information info details detail data value values
    his her hers him he she its it they them themselves itself but yet whether too
    """.split()
)

# Verbs that only link two things of the question ("singers who performed in a concert").
# They are explained by a join between the two things, so they do not count as unknown.
LINK_VERBS = frozenset(
    """
    belong belongs belonged belonging contain contains contained containing include
    includes included including involve involves involved make makes made making produce
    produces produced producing create creates created creating own owns owned owning
    play plays played playing perform performs performed performing take takes took taken
    taking teach teaches taught teaching use uses used using offer offers offered offering
    hold holds held holding host hosts hosted hosting occur occurs occurred happen happens
    happened appear appears appeared participate participates participated attend attends
    attended enrol enroll enrolled enrolls enrolling cause causes caused
    release released register registers registered print printed show shown showed air
    aired end ended lose loses lost win won offer study studies studied graduate graduated
    sing sings sang sung star starred start started join joined apply applied receive
    receives received give gives given award awarded sell sells sold hire hired employ
    employed open opens opened visit visited work works worked working live
    lives lived living visit visits visited go goes went build builds built built design
    designs designed run runs ran arrange arranged raise raised keep kept buy bought sell
    sold write writes written wrote direct directs directed serve serves served come comes
    came locate located publish published release released issue issued get got assign
    assigned place placed order ordered associated related linked correspond corresponds
    """.split()
)

NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20,
    "single": 1, "once": 1, "twice": 2,
}  # fmt: skip

# Phrases that ask for a count of rows.
COUNT_PHRASES = (
    ("how", "many"), ("number", "of"), ("count", "of"), ("count",), ("total", "number", "of"),
    ("amount", "of"), ("how", "much"),
)  # fmt: skip

# Aggregate words placed before a column ("the average age").
AGGREGATE_WORDS = {
    "average": "avg", "mean": "avg", "avg": "avg",
    "total": "sum", "sum": "sum", "combined": "sum",
    "maximum": "max", "max": "max", "highest": "max", "largest": "max", "biggest": "max",
    "greatest": "max", "most": "max", "top": "max", "latest": "max",
    "minimum": "min", "min": "min", "lowest": "min", "smallest": "min", "least": "min",
    "fewest": "min", "earliest": "min",
}  # fmt: skip

# Superlatives that imply a direction, to be used with a column named after them.
DIRECTION_WORDS = {
    "highest": "desc", "largest": "desc", "biggest": "desc", "greatest": "desc",
    "most": "desc", "maximum": "desc", "max": "desc", "top": "desc", "latest": "desc",
    "lowest": "asc", "smallest": "asc", "least": "asc", "fewest": "asc", "minimum": "asc",
    "min": "asc", "earliest": "asc",
}  # fmt: skip

# Adjectives that stand for a column and a direction: "the oldest singer" orders by age.
# Each entry lists (column words, direction) tried in turn against the schema.
ADJECTIVES: dict[str, tuple[tuple[str, str], ...]] = {
    "oldest": (("age", "desc"), ("birth", "asc"), ("born", "asc"), ("year", "asc")),
    "youngest": (("age", "asc"), ("birth", "desc"), ("born", "desc")),
    "older": (("age", ">"), ("birth", "<")),
    "younger": (("age", "<"), ("birth", ">")),
    "heaviest": (("weight", "desc"),),
    "lightest": (("weight", "asc"),),
    "heavier": (("weight", ">"),),
    "lighter": (("weight", "<"),),
    "tallest": (("height", "desc"),),
    "shortest": (("height", "asc"), ("length", "asc"), ("duration", "asc")),
    "taller": (("height", ">"),),
    "shorter": (("height", "<"),),
    "longest": (("length", "desc"), ("duration", "desc")),
    "longer": (("length", ">"), ("duration", ">")),
    "cheapest": (("price", "asc"), ("cost", "asc")),
    "cheaper": (("price", "<"), ("cost", "<")),
    "expensive": (("price", "desc"), ("cost", "desc")),
    "richest": (("money", "desc"), ("wealth", "desc"), ("worth", "desc")),
    "newest": (("date", "desc"), ("year", "desc")),
    "recent": (("date", "desc"), ("year", "desc")),
    "recently": (("date", "desc"), ("year", "desc")),
    "aged": (("age", "="),),
}

# Comparison words before a number, longest first.
COMPARATORS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("no", "less", "than"), ">="), (("no", "more", "than"), "<="),
    (("not", "less", "than"), ">="), (("not", "more", "than"), "<="),
    (("greater", "than", "or", "equal", "to"), ">="), (("less", "than", "or", "equal", "to"), "<="),
    (("more", "than", "or", "equal", "to"), ">="),
    (("or", "more"), ">="), (("or", "greater"), ">="), (("or", "less"), "<="), (("or", "fewer"), "<="),
    (("or", "after"), ">="), (("or", "later"), ">="), (("or", "above"), ">="),
    (("or", "higher"), ">="), (("or", "before"), "<="), (("or", "earlier"), "<="),
    (("or", "below"), "<="), (("or", "lower"), "<="),
    (("at", "least"), ">="), (("at", "most"), "<="), (("a", "minimum", "of"), ">="),
    (("a", "maximum", "of"), "<="),
    (("more", "than"), ">"), (("greater", "than"), ">"), (("larger", "than"), ">"),
    (("higher", "than"), ">"), (("bigger", "than"), ">"), (("over",), ">"), (("above",), ">"),
    (("exceeding",), ">"), (("exceeds",), ">"), (("after",), ">"), (("later", "than"), ">"),
    (("since",), ">="),
    (("less", "than"), "<"), (("fewer", "than"), "<"), (("smaller", "than"), "<"),
    (("lower", "than"), "<"), (("under",), "<"), (("below",), "<"), (("before",), "<"),
    (("earlier", "than"), "<"),
    (("equal", "to"), "="), (("equals",), "="), (("exactly",), "="),
    (("other", "than"), "!="), (("not", "equal", "to"), "!="),
)  # fmt: skip

NEGATIONS = frozenset({"not", "no", "never", "without", "n't", "except", "none", "neither"})

# Words that ask for a picture of the result. DANA draws a chart from any result itself, so
# they say nothing about the query: "chart revenue by month", "orders per day as a table".
PRESENTATION_WORDS = frozenset(
    """
    chart charts plot plots plotted graph graphs graphed visualize visualise visualized
    visualised visualization visualisation visualizing visualising draw drawn diagram
    histogram
    """.split()
)
# Kinds of chart named before the word: "as a bar chart", "in a pie chart".
CHART_KINDS = frozenset({"bar", "line", "pie", "column", "area", "scatter", "stacked"})
# Phrases that ask for the result's layout: "as a table", "in a list".
LAYOUT_PHRASES = (("as", "a", "table"), ("in", "a", "table"), ("as", "a", "list"),
                  ("in", "a", "list"), ("in", "table", "form"), ("as", "text"))  # fmt: skip

# Money words: "spend", "order value", "amount spent" name the money column of a table.
MONEY_WORDS = frozenset(
    {"value", "amount", "spend", "spent", "spending", "spendings", "expenditure", "worth"}
)
# Last words of column names that hold money.
MONEY_COLUMN_WORDS = frozenset(
    {"total", "amount", "price", "value", "cost", "revenue", "sale", "sales", "spend",
     "paid", "payment", "subtotal", "charge", "fee"}
)  # fmt: skip

# Words that start a list of groups: "for each country", "per year", "by month".
GROUP_CUES = (
    ("for", "each"),
    ("for", "every"),
    ("in", "each"),
    ("of", "each"),
    ("each",),
    ("per",),
    ("for", "all", "the", "different"),
    ("for", "different"),
    ("for", "all", "different"),
    ("by", "each"),
    ("for", "each", "different"),
)

ORDER_CUES = (
    ("ordered", "by"),
    ("order", "by"),
    ("sorted", "by"),
    ("sort", "by"),
    ("ranked", "by"),
    ("sorted", "in", "order", "of"),
    ("in", "order", "of"),
    ("order", "of"),
    ("ranked", "by"),
    ("arranged", "by"),
)

# Abbreviations often found in column names, and the words they stand for.
ABBREVIATIONS = {
    "fname": ("first", "name"), "lname": ("last", "name"), "mname": ("middle", "name"),
    "num": ("number",), "no": ("number",), "nbr": ("number",), "qty": ("quantity",),
    "amt": ("amount",), "desc": ("description",), "descr": ("description",),
    "dept": ("department",), "addr": ("address",), "dob": ("date", "of", "birth"),
    "stu": ("student",), "emp": ("employee",), "cust": ("customer",), "prod": ("product",),
    "cont": ("continent",), "pct": ("percent",), "avg": ("average",), "yr": ("year",),
    "mpg": ("miles", "per", "gallon"), "hp": ("horsepower",),
    "dt": ("date",), "tel": ("telephone",), "cnt": ("count",), "ppv": ("pay", "per", "view"),
}  # fmt: skip

# Words that mean the same for matching names (each folded to the first form).
SYNONYMS = {
    "gender": "sex", "nation": "country", "nationality": "country", "town": "city",
    "surname": "last", "forename": "first", "wage": "salary", "kind": "type",
    "category": "type", "identifier": "id", "mobile": "cell", "telephone": "phone",
    "birthday": "birth", "born": "birth", "automobile": "car", "manufacturer": "maker",
    "producer": "maker", "store": "shop", "weigh": "weight", "weighs": "weight", "weighing": "weight",
      "weighed": "weight", "aged": "age", "described": "description", "describe": "description",
}  # fmt: skip

# Country names and their adjectives, for questions like "French singers".
DEMONYMS = {
    "french": "france", "german": "germany", "italian": "italy", "spanish": "spain",
    "american": "usa", "british": "uk", "english": "england", "japanese": "japan",
    "chinese": "china", "korean": "korea", "indian": "india", "russian": "russia",
    "canadian": "canada", "mexican": "mexico", "brazilian": "brazil", "dutch": "netherlands",
    "swedish": "sweden", "norwegian": "norway", "danish": "denmark", "finnish": "finland",
    "polish": "poland", "greek": "greece", "turkish": "turkey", "irish": "ireland",
    "scottish": "scotland", "australian": "australia", "argentinian": "argentina",
    "portuguese": "portugal", "belgian": "belgium", "swiss": "switzerland",
    "austrian": "austria", "egyptian": "egypt", "european": "europe", "asian": "asia",
    "african": "africa",
}  # fmt: skip

# Other names a country or region often goes by in stored values.
ALIASES = {
    "united states": ("usa", "us", "united states of america", "america"),
    "usa": ("united states", "us", "united states of america", "america"),
    "uk": ("united kingdom", "great britain", "britain"),
    "united kingdom": ("uk", "great britain", "britain"),
}

IRREGULAR_PLURALS = {
    "people": "person", "children": "child", "men": "man", "women": "woman", "feet": "foot",
    "teeth": "tooth", "mice": "mouse", "geese": "goose", "data": "data", "series": "series",
    "species": "species", "criteria": "criterion", "media": "media", "indices": "index",
    "analyses": "analysis", "statuses": "status", "buses": "bus", "aircraft": "aircraft",
    "staff": "staff", "news": "news", "matrices": "matrix", "wives": "wife", "lives": "life",
    "leaves": "leaf", "shelves": "shelf", "knives": "knife", "ids": "id",
}  # fmt: skip

_NO_S_STRIP = ("ss", "us", "is", "ous", "ics", "as")


def singular(word: str) -> str:
    """The singular of an English noun, by the usual rules.

    >>> [singular(w) for w in ("countries", "addresses", "courses", "boxes", "status")]
    ['country', 'address', 'course', 'box', 'status']
    """
    if word in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[word]
    if len(word) <= 3 or not word.endswith("s") or word.endswith(_NO_S_STRIP):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return word[:-2]
    return word[:-1]


def lemma(word: str) -> str:
    """A word folded for name matching: lowercase, singular, common synonyms merged."""
    word = word.lower().strip("'")
    if word.endswith("'s"):
        word = word[:-2]
    word = singular(word)
    return SYNONYMS.get(word, word)


_STEM_SUFFIXES = (
    "ational",
    "ation",
    "ition",
    "ings",
    "ing",
    "ers",
    "ors",
    "ies",
    "ied",
    "ship",
    "ion",
    "ment",
    "ed",
    "er",
    "or",
    "es",
    "ly",
    "e",
    "s",
    "y",
)


def stem(word: str) -> str:
    """A crude stem, to match word families ("directed" and "director").

    >>> stem("directed") == stem("director")
    True
    """
    word = lemma(word)
    for suffix in _STEM_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]
    return word


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def name_words(name: str) -> tuple[str, ...]:
    """The words of an identifier: snake_case, camelCase and abbreviations expanded.

    >>> name_words("FullName"), name_words("Template_Type_Code"), name_words("Fname")
    (('full', 'name'), ('template', 'type', 'code'), ('first', 'name'))
    """
    words: list[str] = []
    for part in re.split(r"[^A-Za-z0-9]+", name):
        for piece in _CAMEL.split(part):
            low = piece.lower()
            if not low:
                continue
            if low in ABBREVIATIONS:
                words.extend(ABBREVIATIONS[low])
            else:
                words.append(low)
    return _expand_initials(tuple(words))


_INITIALS = {"f": "first", "l": "last", "m": "middle"}


def _expand_initials(words: tuple[str, ...]) -> tuple[str, ...]:
    # "LName" splits into ("l", "name"): a lone initial before "name" is first/last/middle.
    if len(words) == 2 and words[1] == "name" and words[0] in _INITIALS:
        return (_INITIALS[words[0]], "name")
    return words
