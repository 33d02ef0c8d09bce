"""The safe subset of regular expressions a mapping's ``replace`` accepts.

Python's ``re`` backtracks and has no time limit, so a pattern like ``(a+)+b`` can run for
minutes on a short text. Rather than a timeout, only patterns whose worst case is small are
accepted, judged on ``re``'s own parse of the pattern (so escapes and classes are read as ``re``
reads them): at most :data:`MAX_PATTERN` characters, no back-references, no variable repetition
inside a repeated group (``(a+)+``, ``(a?)*``) and no alternation inside one (``(a|ab)*``; a
class of single characters is fine), and at most two open-ended repetitions (``*``, ``+``,
``{n,}``; three when the pattern is anchored at the start, where ``re`` tries one position). With
the text limited to 256 characters (:data:`users.mapping.MAX_REPLACE_INPUT`) the worst case
stays within milliseconds.
"""

from __future__ import annotations

import re
from re import _constants as sre
from re import _parser as sre_parse

MAX_PATTERN = 200


class UnsafePattern(ValueError):
    """A shape of pattern outside the safe subset."""


def pattern_problem(pattern: str) -> str | None:
    """What keeps ``pattern`` out of the safe subset (None: it is in)."""
    if not pattern:
        return "the pattern is empty"
    if len(pattern) > MAX_PATTERN:
        return f"the pattern is longer than {MAX_PATTERN} characters"
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as error:
        return f"not a regular expression: {error}"
    try:
        open_ended = _repetitions(list(parsed), inside=False)
    except UnsafePattern as error:
        return str(error)
    anchored = bool(parsed) and parsed[0][0] is sre.AT and parsed[0][1] in (
        sre.AT_BEGINNING, sre.AT_BEGINNING_STRING)
    allowed = 3 if anchored else 2
    if open_ended > allowed:
        return (f"{open_ended} open-ended repetitions (*, +, {{n,}}); at most {allowed}"
                + ("" if anchored else " (3 when the pattern starts with ^)"))
    return None


_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)


def _repetitions(items: list, inside: bool) -> int:
    """How many open-ended repetitions ``items`` holds; UnsafePattern for the unsafe shapes."""
    count = 0
    for op, argument in items:
        if op in _REPEATS:
            low, high, body = argument
            varies = low != high
            if inside and varies:
                raise UnsafePattern("a repetition inside a repeated group (like (a+)+) can take "
                                   "exponential time")
            if varies and (high is sre.MAXREPEAT or high - low > 10):
                count += 1
            count += _repetitions(list(body), inside or high > 1)
        elif op is sre.BRANCH:
            if inside:
                raise UnsafePattern("an alternation inside a repeated group (like (a|ab)*) can "
                                   "take exponential time; use a character class")
            count += sum(_repetitions(list(branch), inside) for branch in argument[1])
        elif op is sre.SUBPATTERN:
            count += _repetitions(list(argument[3]), inside)
        elif op is sre.ATOMIC_GROUP:
            count += _repetitions(list(argument), inside)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            count += _repetitions(list(argument[1]), inside)
        elif op in (sre.GROUPREF, sre.GROUPREF_EXISTS, sre.GROUPREF_IGNORE,
                    sre.GROUPREF_LOC_IGNORE, sre.GROUPREF_UNI_IGNORE):
            raise UnsafePattern("back-references are not allowed")
    return count
