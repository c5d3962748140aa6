"""PII recognisers and word matching, table-driven: validators, context words, masks, plurals, phrases."""

from __future__ import annotations

import pytest

from model_layer.guardrails.pii import RECOGNIZERS, aba, find_pii, iban, luhn, ssn, vin
from model_layer.guardrails.policies.base import TextBlock
from model_layer.guardrails.policies.sensitive import SensitiveChecker
from model_layer.guardrails.policies.words import WordChecker

ALL = frozenset(r.entity for r in RECOGNIZERS)


@pytest.mark.parametrize(
    ("check", "value", "valid"),
    [
        (luhn, "4111 1111 1111 1111", True),
        (luhn, "4111 1111 1111 1112", False),
        (ssn, "123-45-6789", True),
        (ssn, "000-45-6789", False),  # area 000
        (ssn, "666-45-6789", False),  # area 666
        (ssn, "912-45-6789", False),  # area 9xx (ITINs)
        (ssn, "123-00-6789", False),  # group 00
        (ssn, "123-45-0000", False),  # serial 0000
        (iban, "GB82 WEST 1234 5698 7654 32", True),
        (iban, "GB82 WEST 1234 5698 7654 33", False),
        (aba, "021000021", True),
        (aba, "021000022", False),
        (vin, "1HGCM82633A004352", True),
        (vin, "1HGCM82643A004352", False),
    ],
)
def test_validators(check, value, valid):
    assert check(value) is valid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jane.doe+x@example.co.uk today", [("EMAIL", "jane.doe+x@example.co.uk")]),
        (
            "call (415) 555-0132 or +44 20 7946 0958",
            [("PHONE", "(415) 555-0132"), ("PHONE", "+44 20 7946 0958")],
        ),
        ("ssn 123-45-6789, not 000-12-3456", [("US_SOCIAL_SECURITY_NUMBER", "123-45-6789")]),
        (
            "card 4111-1111-1111-1111 and 1234 5678 9012 3456",
            [("CREDIT_DEBIT_CARD_NUMBER", "4111-1111-1111-1111")],
        ),
        (
            "hosts 10.0.0.1, 999.1.1.1 and 2001:db8::1",
            [("IP_ADDRESS", "10.0.0.1"), ("IP_ADDRESS", "2001:db8::1")],
        ),
        ("my checking account number is 0012345678", [("US_BANK_ACCOUNT_NUMBER", "0012345678")]),
        ("order 0012345678 shipped", []),  # no context word: not an account
        ("routing number 021000021", [("US_BANK_ROUTING_NUMBER", "021000021")]),
        ("key AKIAIOSFODNN7EXAMPLE", [("AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE")]),
        ("the meeting is at 10:30 in room 204 in 2024", []),
        ("my password is hunter2!", [("PASSWORD", "hunter2!")]),
        ("My name is Maria Lopez and I'm 34 years old", [("NAME", "Maria Lopez"), ("AGE", "34")]),
    ],
)
def test_find_pii(text, expected):
    assert [(m.entity, m.text) for m in find_pii(text, ALL)] == expected


def test_anonymize_masks_with_the_type_and_regex_name():
    checker = SensitiveChecker(
        {
            "piiEntitiesConfig": [
                {"type": "EMAIL", "action": "ANONYMIZE"},
                {"type": "PHONE", "action": "ANONYMIZE"},
            ],
            "regexesConfig": [{"name": "ticket", "pattern": r"TCK-\d+", "action": "ANONYMIZE"}],
        }
    )
    result = checker.check("OUTPUT", [TextBlock("a@b.io, 415-555-0132, TCK-77")])
    spans = sorted((s.start, s.end, s.replacement) for f in result.findings for s in f.spans)
    assert [r for _, _, r in spans] == ["{EMAIL}", "{PHONE}", "{ticket}"]


@pytest.mark.parametrize(
    ("words", "text", "matches"),
    [
        (["refund"], "REFUNDS are slow; refundable is not a refund", ["REFUNDS", "refund"]),
        (["credit card"], "two credit cards and a credit", ["credit cards"]),
        (["party"], "after-parties and a third-party", ["parties", "party"]),
        (["class"], "classes and classic", ["classes"]),
    ],
)
def test_word_boundaries_case_and_plurals(words, text, matches):
    checker = WordChecker({"wordsConfig": [{"text": w} for w in words]})
    found = [f.entry["match"] for f in checker.check("INPUT", [TextBlock(text)]).findings]
    assert found == matches


def test_ten_thousand_words_and_phrases():
    words = [{"text": f"term{i}"} for i in range(10_000)] + [{"text": "late fee"}]
    checker = WordChecker({"wordsConfig": words})
    text = "lorem ipsum " * 500 + "term9999 and two late fees"
    findings = checker.check("INPUT", [TextBlock(text)]).findings
    assert [f.entry["match"] for f in findings] == ["term9999", "late fees"]
