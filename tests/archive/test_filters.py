"""The filter-bar language, as NORA's reference describes it."""

import pytest

from nora_lab.archive.filters import Term, parse
from nora_lab.archive.patterns import FilePattern, like_pattern
from nora_lab.errors import FilterSyntaxError, UnsafePathError


class TestParse:
    def test_space_is_or_and_ampersand_is_and(self):
        assert parse("A B & C") == [[Term("pattern", "A"), Term("pattern", "B")],
                                    [Term("pattern", "C")]]

    def test_ampersand_needs_no_spaces(self):
        assert parse("a&STAG:x") == [[Term("pattern", "a")], [Term("STAG", "x")]]

    def test_special_attributes(self):
        got = parse("STAG:control PTAG:p FTAG:f JOB:e SDESC:head")
        assert [t.kind for t in got[0]] == ["STAG", "PTAG", "FTAG", "JOB", "SDESC"]

    def test_quotes_keep_spaces(self):
        assert parse('SDESC:"MR Head"') == [[Term("SDESC", "MR Head")]]

    def test_blank_is_no_condition(self):
        assert parse("") == [] and parse("   ") == [] and parse(None) == []

    @pytest.mark.parametrize(("bad", "problem"), [
        ("a &", "nothing after an '&'"),
        ("& a", "nothing before the first '&'"),
        ("a && b", "nothing after an '&'"),
        ('"open', "unterminated double quote"),
        ("FOO:bar", "unknown attribute 'FOO:' (expected one of STAG:, PTAG:, FTAG:, JOB:, SDESC:)"),
        ("JOB:x", "unknown state(s) 'x'"),
        ("STAG:", "STAG: needs a value"),
    ])
    def test_malformed_strings_say_what_is_wrong(self, bad, problem):
        """The message quotes the whole string, then says what is wrong with which part."""
        with pytest.raises(FilterSyntaxError) as err:
            parse(bad)
        message = str(err.value)
        assert message.startswith(f"filter {bad!r}: ") and problem in message


class TestPatterns:
    def test_star_and_underscore_and_implicit_trailing_wildcard(self):
        assert like_pattern("t1*/S0__.nii") == "t1%/s0__.nii%"

    def test_percent_and_backslash_are_literal(self):
        assert like_pattern("100%") == "100\\%%"

    def test_file_pattern_matches_in_python(self):
        p = FilePattern("t1*/s0__.nii")
        assert p.matches("t1_trio/s001.nii.gz")
        assert not p.matches("t2/s001.nii")
        assert FilePattern("*.json").matches("3_t1/x.json")
        assert FilePattern("s0*").matches("any/s01.nii")

    @pytest.mark.parametrize("bad", ["../x", "a/../../b", "/etc/passwd", "a\\b", ""])
    def test_patterns_cannot_leave_the_project(self, bad):
        with pytest.raises((UnsafePathError, FilterSyntaxError)):
            FilePattern(bad)
