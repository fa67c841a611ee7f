"""The functions a query may call: an allowlist, never a denylist.

sqlglot parses the functions it knows into typed nodes (`exp.Sum`, `exp.DateTrunc`) and
the rest into `exp.Anonymous`. Typed nodes are allowed by class; anonymous ones by their
name in the target dialect. Anything else (pg_sleep, pg_read_file, set_config, dblink,
lo_import, SLEEP, BENCHMARK, LOAD_FILE, load_extension, nextval, ...) is refused by name,
because a function can sleep, read files, change settings or write.
"""

from __future__ import annotations

import re

from sqlglot import exp

# Pure functions of their arguments: no files, no sessions, no sequences, no sleeping.
_SAFE_CLASS_NAMES = """
And Or Xor Case If Coalesce Nullif Greatest Least Nvl2 EqualNull Exists IsNan IsInf
Cast TryCast CastToStrType ConvertToCharset Collate JSONCast
Abs Acos Acosh Asin Asinh Atan Atan2 Atanh Cbrt Ceil Cos Cosh Cot Degrees Exp Floor Ln
Log Pi Pow Radians Rand Round Sign Sin Sinh Sqrt Tan Tanh Trunc WidthBucket SafeDivide
Ascii BitLength ByteLength Chr Concat ConcatWs Contains EndsWith StartsWith Format Hex
Unhex LowerHex Initcap Left Right Length Levenshtein Lower Upper Pad Repeat Replace
Reverse Space SplitPart Split StrPosition Stuff Substring SubstringIndex Translate Trim
Unicode Soundex RegexpExtract RegexpExtractAll RegexpILike RegexpLike RegexpReplace
RegexpSplit RegexpSubstr RegexpCount RegexpInstr Overlay MD5 MD5Digest SHA SHA2
SHA2Digest Encode Decode ToBase64 FromBase64 Elt NumberToStr ToChar ToNumber
StringToArray ArrayToString
CurrentDate CurrentDatetime CurrentTime CurrentTimestamp Localtime Localtimestamp UtcDate
UtcTime UtcTimestamp Date DateAdd DateSub DateDiff DateTrunc DateBin Datetime DatetimeAdd
DatetimeSub DatetimeDiff DatetimeTrunc DateFromParts DateStrToDate DateToDateStr Day
DayOfMonth DayOfWeek DayOfWeekIso DayOfYear Dayname Monthname Extract Hour Minute Second
Month Year Quarter Week WeekOfYear LastDay AddMonths MonthsBetween MakeInterval
JustifyDays JustifyHours JustifyInterval StrToDate StrToTime StrToUnix Time TimeAdd
TimeSub TimeDiff TimeTrunc TimeFromParts Timestamp TimestampAdd TimestampSub TimestampDiff
TimestampTrunc TimestampFromParts TimeStrToDate TimeStrToTime TimeStrToUnix TimeToStr
TimeToTimeStr TimeToUnix TsOrDsAdd TsOrDsDiff TsOrDsToDate TsOrDsToDateStr
TsOrDsToDatetime TsOrDsToTime TsOrDsToTimestamp UnixDate UnixToStr UnixToTime
UnixToTimeStr UnixSeconds ConvertTimezone ToDays
Count CountIf Sum Avg Min Max ArgMax ArgMin AnyValue ApproxDistinct ArrayAgg GroupConcat
Stddev StddevPop StddevSamp Variance VariancePop Corr CovarPop CovarSamp Median Mode
PercentileCont PercentileDisc Quantile ApproxQuantile LogicalAnd LogicalOr BitwiseAndAgg
BitwiseOrAgg BitwiseXorAgg JSONArrayAgg JSONObjectAgg JSONBObjectAgg RegrAvgx RegrAvgy
RegrCount RegrIntercept RegrR2 RegrSlope RegrSxx RegrSxy RegrSyy Skewness Kurtosis First
Last Grouping GroupingId
RowNumber Rank DenseRank PercentRank CumeDist Ntile Lag Lead FirstValue LastValue NthValue
JSONExtract JSONExtractScalar JSONExtractArray JSONBExtract JSONBExtractScalar
JSONBContains JSONBContainsAllTopKeys JSONBContainsAnyTopKeys JSONBContainsTopKey
JSONBExists JSONArrayContains JSONExists JSONKeys JSONType JSONFormat JSONObject
JSONArray ParseJSON JSONStripNulls
Array ArrayContains ArrayContainsAll ArrayContainedBy ArrayOverlaps ArrayPosition
ArraySize ArraySlice ArrayConcat ArrayAppend ArrayPrepend ArrayRemove ArrayDistinct
ArrayIntersect ArrayReverse ArraySort ArrayFirst ArrayLast ArrayMin ArrayMax ArraySum
Unnest Explode GenerateSeries ExplodingGenerateSeries GenerateDateArray Typeof
"""


_CALL = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_$]*)\s*\(")


def _classes(names: str) -> frozenset[type[exp.Func]]:
    # A name this sqlglot lacks is skipped rather than fatal, so an upgrade narrows the
    # allowlist instead of breaking the guard; tests check that every name resolves.
    found = (getattr(exp, name, None) for name in names.split())
    return frozenset(cls for cls in found if isinstance(cls, type) and issubclass(cls, exp.Func))


SAFE_FUNCTION_CLASSES: frozenset[type[exp.Func]] = _classes(_SAFE_CLASS_NAMES)
SAFE_CLASS_NAMES: tuple[str, ...] = tuple(_SAFE_CLASS_NAMES.split())

# Built-in functions of each database that read nothing but their arguments. They allow
# `exp.Anonymous` calls by name, and they are the names a converted query may call.
_COMMON_NAMES = """
exists abs ceil ceiling floor round sqrt exp ln log log10 mod sign pi degrees radians sin cos tan
asin acos atan atan2 cot power pow greatest least coalesce nullif lower upper length
char_length character_length octet_length bit_length substr substring trim ltrim rtrim
replace concat concat_ws left right lpad rpad repeat reverse md5 ascii cast convert
count sum avg min max stddev stddev_pop stddev_samp variance var_pop var_samp
row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
nth_value current_date current_time current_timestamp localtime localtimestamp extract
"""

_POSTGRES_NAMES = """
trunc cbrt random gcd lcm div scale trim_scale width_bucket position strpos btrim initcap
split_part translate format to_hex encode decode sha224 sha256 sha384 sha512 chr
starts_with regexp_replace regexp_match regexp_matches regexp_split_to_array
regexp_split_to_table regexp_like regexp_count regexp_instr regexp_substr quote_ident
quote_literal quote_nullable string_to_array string_to_table array_to_string unaccent
similarity levenshtein soundex difference to_tsvector to_tsquery plainto_tsquery
phraseto_tsquery websearch_to_tsquery ts_rank ts_rank_cd ts_headline
now clock_timestamp statement_timestamp transaction_timestamp timeofday date_trunc
date_part date_bin age make_date make_time make_timestamp make_timestamptz make_interval
justify_days justify_hours justify_interval isfinite timezone to_char to_date
to_timestamp to_number date
string_agg array_agg bool_and bool_or every bit_and bit_or bit_xor corr covar_pop
covar_samp regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx
regr_sxy regr_syy percentile_cont percentile_disc mode json_agg jsonb_agg
json_object_agg jsonb_object_agg count_if
json_extract_path json_extract_path_text jsonb_extract_path jsonb_extract_path_text
json_array_length jsonb_array_length json_typeof jsonb_typeof to_json to_jsonb
json_build_object jsonb_build_object json_build_array jsonb_build_array json_object
json_array_elements jsonb_array_elements json_array_elements_text
jsonb_array_elements_text json_each jsonb_each json_each_text jsonb_each_text
json_object_keys jsonb_object_keys jsonb_path_query jsonb_path_query_array
jsonb_path_query_first jsonb_path_exists jsonb_path_match json_strip_nulls
jsonb_strip_nulls jsonb_pretty row_to_json array_to_json
array_length array_lower array_upper array_ndims array_dims cardinality unnest
array_position array_positions array_remove array_replace array_append array_prepend
array_cat generate_series generate_subscripts num_nonnulls num_nulls overlay grouping
"""

_MYSQL_NAMES = """
truncate rand conv crc32 log2 lcase ucase mid substring_index locate instr position
find_in_set field elt strcmp quote bin oct hex unhex sha sha1 sha2 char ord space format
regexp_replace regexp_substr regexp_like regexp_instr soundex insert
now sysdate curdate curtime utc_date utc_time utc_timestamp date time year month day
dayofmonth dayofweek dayofyear weekday week weekofyear yearweek quarter hour minute
second microsecond dayname monthname last_day date_format time_format str_to_date
datediff timestampdiff timestampadd date_add date_sub adddate subdate addtime subtime
unix_timestamp from_unixtime convert_tz makedate maketime period_diff period_add to_days
from_days timediff sec_to_time time_to_sec
ifnull if isnull binary group_concat std bit_and bit_or bit_xor any_value
json_extract json_unquote json_value json_contains json_contains_path json_keys
json_length json_type json_object json_array json_valid json_search json_depth
json_quote json_overlaps json_pretty json_arrayagg json_objectagg grouping
"""

_SQLITE_NAMES = """
trunc random log2 instr printf format hex unhex quote char unicode soundex glob like
date time datetime julianday unixepoch strftime timediff total group_concat string_agg
ifnull iif if typeof likelihood likely unlikely json json_extract json_array_length
json_type json_valid json_object json_array json_quote json_each json_tree
json_group_array json_group_object
"""

FUNCTION_NAMES: dict[str, frozenset[str]] = {
    "postgres": frozenset((_COMMON_NAMES + _POSTGRES_NAMES).split()),
    "mysql": frozenset((_COMMON_NAMES + _MYSQL_NAMES).split()),
    "sqlite": frozenset((_COMMON_NAMES + _SQLITE_NAMES).split()),
}

# Schemas whose functions are the built-ins themselves, so `pg_catalog.lower(x)` is fine
# while `myschema.lower(x)` may be anything.
BUILTIN_SCHEMAS: dict[str, frozenset[str]] = {
    "postgres": frozenset({"pg_catalog"}),
    "mysql": frozenset(),
    "sqlite": frozenset(),
}


def is_safe_function(node: exp.Func, dialect: str) -> bool:
    """Whether the call is on the allowlist and exists, as sqlglot writes it, in `dialect`."""
    if isinstance(node, (exp.Anonymous, exp.AnonymousAggFunc)):
        return node.name.lower() in FUNCTION_NAMES[dialect]
    return type(node) in SAFE_FUNCTION_CLASSES and renders_in(node, dialect)


def is_foreign_function(node: exp.Func, dialect: str) -> bool:
    """Whether the call is a safe built-in of another dialect that `dialect` lacks."""
    if isinstance(node, (exp.Anonymous, exp.AnonymousAggFunc)):
        name = node.name.lower()
        return any(name in names for other, names in FUNCTION_NAMES.items() if other != dialect)
    return type(node) in SAFE_FUNCTION_CLASSES and not renders_in(node, dialect)


_renders: dict[tuple[type[exp.Func], str, tuple[str, ...]], bool] = {}


def renders_in(node: exp.Func, dialect: str) -> bool:
    """Whether sqlglot writes this typed call as a function `dialect` has.

    A permissive parser reads `status ~* 'x'` on MySQL as a regexp call that MySQL has
    no name for; such calls are caught here instead of failing on the database. The
    answer is cached by class and argument names, so each shape is rendered once.
    """
    present = tuple(key for key, value in node.args.items() if value is not None and value != [])
    key = (type(node), dialect, present)
    known = _renders.get(key)
    if known is None:
        call = _CALL.match(node.sql(dialect=dialect, comments=False))
        known = call is None or call.group(1).lower() in FUNCTION_NAMES[dialect]
        _renders[key] = known
    return known


def function_name(node: exp.Func, dialect: str) -> str:
    """The name a user would recognise: as written for anonymous calls, else as rendered."""
    if isinstance(node, (exp.Anonymous, exp.AnonymousAggFunc)):
        return node.name
    # `version()` is exp.CurrentVersion; the user wrote, and should read, "version".
    rendered = _CALL.match(node.sql(dialect=dialect, comments=False))
    return rendered.group(1).lower() if rendered else node.sql_name().lower()
