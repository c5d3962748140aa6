# ruff: noqa: E501 -- each recogniser's pattern stays on one line, readable as the regex it is
"""Recognisers for Bedrock's PII entity types that work offline: patterns, validators, context words.

Each entity type has a pattern and, where the digits carry one, a checksum or structural rule
(Luhn for cards and Canadian SINs, SSN area/group/serial rules, IBAN mod-97, the ABA routing
checksum, NHS mod-11, the VIN check digit). Types whose shape alone is ambiguous (a 9-digit bank
account, a PIN, a CVV, a passport or driver's licence number, a password) need a context word
("account", "PIN", "passport", …) shortly before the value, as a person reading would.
NAME and ADDRESS are found by their written cues (titles, "my name is", a street number and
street suffix), not by a statistical NER model: precision over recall (bench/results/guardrails.md
has the measured figures per type).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

import regex

CONTEXT_WINDOW = 48  # characters before a value where its context word must appear


@dataclass(frozen=True)
class Recognizer:
    entity: str
    pattern: regex.Pattern[str]
    validate: Callable[[str], bool] | None = None
    context: regex.Pattern[str] | None = None  # must appear in the window before the match
    group: int | str = 0  # the capture group holding the value


@dataclass(frozen=True)
class PiiMatch:
    entity: str
    start: int
    end: int
    text: str


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def luhn(value: str) -> bool:
    digits = [int(c) for c in _digits(value)][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return bool(digits) and total % 10 == 0


# Issuer prefixes (IIN ranges) of the card networks: Visa, Mastercard, Amex, Discover, Diners,
# JCB (incl. the old 1800/2131 ranges) and Maestro (12-19 digits).
_CARD_PREFIXES = ("4", "5", "6", "34", "37", "30", "36", "38", "39", "35", "1800", "2131", "0604")


def _card(value: str) -> bool:
    d = _digits(value)
    if not 12 <= len(d) <= 19 or not luhn(d) or len(set(d)) == 1:
        return False
    if d[:2] in {"22", "23", "24", "25", "26", "27"}:  # Mastercard's 2-series
        return len(d) == 16
    if len(d) == 12:  # only Maestro issues 12-digit cards
        return d.startswith(("50", "56", "57", "58", "6", "0604"))
    return d.startswith(_CARD_PREFIXES)


def ssn(value: str) -> bool:
    d = _digits(value)
    if len(d) != 9 or len(set(d)) == 1:
        return False
    area, group, serial = d[:3], d[3:5], d[5:]
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


def _itin(value: str) -> bool:
    d = _digits(value)
    return len(d) == 9 and d[0] == "9" and 50 <= int(d[3:5]) <= 99 and d[3:5] not in {"89", "93"}


def iban(value: str) -> bool:
    s = value.replace(" ", "").upper()
    if not 15 <= len(s) <= 34 or not s[:2].isalpha() or not s[2:4].isdigit():
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def aba(value: str) -> bool:
    d = [int(c) for c in _digits(value)]
    if len(d) != 9 or (d[0] > 3 and d[0] not in (6, 7, 8)) or sum(d) == 0:
        return False
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


def _sin(value: str) -> bool:
    d = _digits(value)
    return len(d) == 9 and d[0] not in "08" and luhn(d)


def _nhs(value: str) -> bool:
    d = [int(c) for c in _digits(value)]
    if len(d) != 10:
        return False
    check = 11 - sum(v * (10 - i) for i, v in enumerate(d[:9])) % 11
    check = 0 if check == 11 else check
    return check != 10 and check == d[9]


def _ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


_VIN_VALUES = {**{str(i): i for i in range(10)}, **dict(zip("ABCDEFGH", range(1, 9), strict=True))}
_VIN_VALUES |= dict(zip("JKLMN", range(1, 6), strict=True)) | {"P": 7, "R": 9}
_VIN_VALUES |= dict(zip("STUVWXYZ", range(2, 10), strict=True))
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin(value: str) -> bool:
    v = value.upper()
    if len(v) != 17 or not any(c.isalpha() for c in v) or not any(c.isdigit() for c in v):
        return False
    total = sum(_VIN_VALUES[c] * w for c, w in zip(v, _VIN_WEIGHTS, strict=True))
    check = "X" if total % 11 == 10 else str(total % 11)
    return v[8] == check


_EXTENSION = regex.compile(r"(?i)\s?(?:x|ext\.?)\s?\d{1,5}$")


def _phone(value: str) -> bool:
    value = _EXTENSION.sub("", value.strip())
    d = _digits(value)
    if value.startswith(("+1", "001")):  # NANP written internationally
        d = d if value.startswith("+") else d[2:]
        return len(d) == 11 and d[0] == "1" and d[1] not in "01" and d[4] not in "01"
    if value.startswith(("+", "00")):
        return 8 <= len(d) <= 15
    if len(d) == 11 and d[0] == "1":
        d = d[1:]
    # NANP: area code and exchange do not start with 0 or 1
    return len(d) == 10 and d[0] not in "01" and d[3] not in "01"


def _c(words: str) -> regex.Pattern[str]:
    return regex.compile(rf"(?i)\b(?:{words})\b")


def _p(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern, regex.VERSION1)


_B = r"(?<![\w@./-])"  # a value starts at a token boundary
_E = r"(?![\w@/-]|\.\w)"  # and ends at one (a full stop may follow)

# USPS street suffixes (Publication 28, appendix C1), full and abbreviated, for street addresses.
_STREET_SUFFIXES = (
    "Alley|Annex|Arcade|Avenue|Ave|Bayou|Beach|Bend|Bluffs?|Bottom|Boulevard|Blvd|Branch|Bridge|Brooks?|"
    "Burgs?|Bypass|Camp|Canyon|Cape|Causeway|Centers?|Circles?|Cir|Cliffs?|Club|Commons?|Corners?|Course|"
    "Courts?|Ct|Coves?|Creek|Crescent|Crest|Crossing|Crossroads?|Curve|Dale|Dam|Divide|Drives?|Dr|Estates?|"
    "Expressway|Extensions?|Falls?|Ferry|Fields?|Flats?|Fords?|Forest|Forges?|Forks?|Fort|Freeway|Gardens?|"
    "Gateway|Glens?|Greens?|Groves?|Harbors?|Haven|Heights|Highway|Hwy|Hills?|Hollow|Inlet|Islands?|Isle|"
    "Junctions?|Keys?|Knolls?|Lakes?|Land|Landing|Lane|Ln|Lights?|Loaf|Locks?|Lodge|Loop|Mall|Manors?|"
    "Meadows?|Mews|Mills?|Mission|Motorway|Mount|Mountains?|Neck|Orchard|Oval|Overpass|Parks?|Parkways?|"
    "Pkwy|Pass|Passage|Path|Pike|Pines?|Place|Pl|Plains?|Plaza|Points?|Ports?|Prairie|Radial|Ramp|Ranch|"
    "Rapids?|Rest|Ridges?|River|Roads?|Rd|Route|Row|Rue|Run|Shoals?|Shores?|Skyway|Springs?|Spurs?|"
    "Squares?|Sq|Station|Stravenue|Stream|Streets?|St|Summit|Terrace|Ter|Throughway|Trace|Track|"
    "Trafficway|Trail|Trl|Trailer|Tunnel|Turnpike|Underpass|Unions?|Valleys?|Via|Viaduct|Views?|"
    "Villages?|Ville|Vista|Walks?|Wall|Ways?|Wells?"
)
_ADDRESS = (
    r"\b\d{1,6}(?:\s?[A-Z])?\s+(?:[NSEW]\.?\s+)?(?:\p{Lu}[\p{L}'.-]*\s+){1,4}"
    rf"(?:{_STREET_SUFFIXES})\b\.?"
    r"(?:,?\s+(?:Apt\.?|Suite|Unit|#)\s*\w+)?"
    r"(?:(?:,|\n)\s*(?:\p{Lu}[\p{L}'.-]*\s?){1,3})?(?:,?\s*[A-Z]{2})?(?:\s+\d{5}(?:-\d{4})?)?"
)

RECOGNIZERS: tuple[Recognizer, ...] = (
    Recognizer("EMAIL", _p(r"(?i)(?<![\w.+-])[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}\b")),
    Recognizer("URL", _p(r"(?i)\b(?:https?://|www\.)[^\s<>\"'()]+[^\s<>\"'().,;:!?]")),
    Recognizer("AWS_ACCESS_KEY", _p(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z2-7]{16}\b")),
    Recognizer(
        "AWS_SECRET_KEY",
        _p(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),
        lambda v: any(c.isdigit() for c in v) and any(c.islower() for c in v) and any(c.isupper() for c in v),
        _c(r"secret|aws_secret_access_key|secret[_ ]access[_ ]key|credentials?"),
    ),
    Recognizer("CREDIT_DEBIT_CARD_NUMBER", _p(_B + r"(?:\d[ -]?){11,18}\d" + _E), _card),
    Recognizer("US_SOCIAL_SECURITY_NUMBER", _p(_B + r"\d{3}-\d{2}-\d{4}" + _E), ssn),
    Recognizer(
        "US_SOCIAL_SECURITY_NUMBER",
        _p(_B + r"\d{3} ?\d{2} ?\d{4}" + _E),
        ssn,
        _c(r"ssn|social security(?: number| no\.?| #)?|social"),
    ),
    Recognizer(
        "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER",
        _p(_B + r"9\d{2}[- ]?\d{2}[- ]?\d{4}" + _E),
        _itin,
        _c(r"itin|taxpayer|tax id(?:entification)?(?: number)?|tin"),
    ),
    Recognizer("IP_ADDRESS", _p(_B + r"(?:\d{1,3}\.){3}\d{1,3}" + _E), _ip),
    Recognizer("IP_ADDRESS", _p(r"(?i)(?<![\w:])(?=[0-9a-f:]*:[0-9a-f]*:)[0-9a-f:]{2,39}(?![\w:])"), _ip),
    Recognizer("MAC_ADDRESS", _p(r"(?i)\b[0-9a-f]{2}(?:([:-])[0-9a-f]{2})(?:\1[0-9a-f]{2}){4}\b")),
    Recognizer(
        "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
        _p(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
        iban,
    ),
    Recognizer(
        "US_BANK_ROUTING_NUMBER",
        _p(_B + r"\d{9}" + _E),
        aba,
        _c(r"routing|aba|rtn|transit|routing number|routing no\.?"),
    ),
    Recognizer(
        "US_BANK_ACCOUNT_NUMBER",
        _p(_B + r"\d{8,17}" + _E),
        None,
        _c(r"(?:bank |checking |savings |deposit )?(?:account|acct)(?: number| no\.?| #|#)?|a/c"),
    ),
    Recognizer(
        "SWIFT_CODE",
        _p(
            r"\b[A-Z]{4}(?:AD|AE|AR|AT|AU|BE|BR|CA|CH|CN|DE|DK|ES|FI|FR|GB|HK|IE|IL|IN|IT|JP|KR|LU|MX|NL|NO|NZ|PL|PT|SA|SE|SG|TR|US|ZA)[A-Z0-9]{2}(?:[A-Z0-9]{3})?\b"
        ),
        None,
        _c(r"swift|bic|swift code|bank identifier"),
    ),
    Recognizer(
        "PHONE",
        _p(
            r"(?<![\w+])(?:(?:\+|00)\d{1,3}[ .-]?)?(?:\(\d{2,4}\)|\d{2,4})[ .-]?\d{3,4}[ .-]?\d{3,4}(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?!\w)"
        ),
        _phone,
    ),
    Recognizer(
        "CREDIT_DEBIT_CARD_CVV",
        _p(_B + r"\d{3,4}" + _E),
        None,
        _c(r"cvv2?|cvc2?|cid|security code|card verification(?: value| code)?"),
    ),
    Recognizer(
        "CREDIT_DEBIT_CARD_EXPIRY",
        _p(_B + r"(?:0[1-9]|1[0-2])\s?[/-]\s?(?:\d{2}|20\d{2})" + _E),
        None,
        _c(r"exp(?:iry|iration|ires|\.)?(?: date)?|valid (?:thru|through|until)|good thru|mm/yy"),
    ),
    Recognizer("PIN", _p(_B + r"\d{4,6}" + _E), None, _c(r"pin(?: code| number)?")),
    Recognizer(
        "US_PASSPORT_NUMBER",
        _p(r"\b(?:[A-Z]\d{8}|\d{9})\b"),
        None,
        _c(r"passport(?: number| no\.?| #)?"),
    ),
    Recognizer(
        "DRIVER_ID",
        _p(r"\b(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{4,16}[A-Z0-9]\b"),
        None,
        _c(
            r"driver'?s? licen[cs]e(?: number| no\.?| #| id)?|driving licen[cs]e|dl(?: number| #)?|license number"
        ),
    ),
    Recognizer(
        "LICENSE_PLATE",
        _p(r"\b(?=[A-Z0-9 -]*\d)(?=[A-Z0-9 -]*[A-Z])[A-Z0-9]{1,4}[ -]?[A-Z0-9]{2,5}\b"),
        None,
        _c(r"licen[cs]e plate(?: number)?|plate(?: number| no\.?)?|registration(?: number)?|tag number"),
    ),
    Recognizer("VEHICLE_IDENTIFICATION_NUMBER", _p(r"\b[A-HJ-NPR-Z0-9]{17}\b"), vin),
    Recognizer(
        "CA_SOCIAL_INSURANCE_NUMBER",
        _p(_B + r"\d{3}[ -]?\d{3}[ -]?\d{3}" + _E),
        _sin,
        _c(r"sin|social insurance(?: number)?|nas"),
    ),
    Recognizer(
        "CA_HEALTH_NUMBER",
        _p(_B + r"\d{4}[ -]?\d{3}[ -]?\d{3}(?:[ -]?[A-Z]{2})?" + _E),
        None,
        _c(r"health (?:card|number|insurance)(?: number)?|ohip|health card number|phn"),
    ),
    Recognizer(
        "UK_NATIONAL_HEALTH_SERVICE_NUMBER",
        _p(_B + r"\d{3}[ -]?\d{3}[ -]?\d{4}" + _E),
        _nhs,
        _c(r"nhs(?: number| no\.?)?|national health service"),
    ),
    Recognizer(
        "UK_NATIONAL_INSURANCE_NUMBER",
        _p(
            r"(?i)\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
        ),
    ),
    Recognizer(
        "UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER",
        _p(_B + r"\d{5} ?\d{5}" + _E),
        None,
        _c(r"utr|unique taxpayer reference|taxpayer reference"),
    ),
    Recognizer(
        "PASSWORD",
        _p(
            r"(?i)\b(?:password|passwd|pwd|passcode|pass phrase|passphrase)\b(?:\s+(?:is|was|=|:)|\s*[:=])\s*[\"']?(?P<v>[^\s\"']{4,64})"
        ),
        group="v",
    ),
    Recognizer(
        "USERNAME",
        _p(
            r"(?i)\b(?:user ?name|user id|login(?: name)?|handle)\b(?:\s+(?:is|was|=|:)|\s*[:=])\s*[\"']?(?P<v>@?[A-Za-z0-9._-]{3,32})"
        ),
        group="v",
    ),
    Recognizer(
        "AGE",
        _p(
            r"(?i)(?P<v>\b\d{1,3})(?=[ -]years?[ -]old\b|[ -]year[ -]old\b|[ -]yo\b)|\b(?:age|aged)(?:\s+(?:is|of)|\s*[:=])?\s+(?P<v>\d{1,3})\b"
        ),
        lambda v: 0 < int(_digits(v) or 0) < 130,
        group="v",
    ),
    Recognizer(
        "NAME",
        _p(
            r"(?:\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Madam)\.?\s+|(?i:\bmy name is|\bi am|\bi'm|\bname:|\bcontact|\bsigned|\bregards,|\bthanks,|\bsincerely,|\bdear)\s+)"
            r"(?P<v>\p{Lu}\p{Ll}+(?:[ -](?:\p{Lu}\.|\p{Lu}\p{Ll}+|(?:van|de|der|von|da|di|le)\s\p{Lu}\p{Ll}+)){0,3})"
        ),
        group="v",
    ),
    Recognizer("ADDRESS", _p(_ADDRESS)),
)


@functools.cache
def recognizers_for(entities: frozenset[str]) -> tuple[Recognizer, ...]:
    return tuple(r for r in RECOGNIZERS if r.entity in entities)


def find_pii(text: str, entities: frozenset[str]) -> list[PiiMatch]:
    """Every recognised entity of the given types, overlaps resolved (earliest, then longest)."""
    found: list[PiiMatch] = []
    for recognizer in recognizers_for(entities):
        for m in recognizer.pattern.finditer(text, timeout=0.5):
            value = m.group(recognizer.group)
            if value is None:
                continue
            start, end = m.span(recognizer.group)
            if recognizer.validate is not None and not recognizer.validate(value):
                continue
            if recognizer.context is not None and not recognizer.context.search(
                text, max(0, start - CONTEXT_WINDOW), start
            ):
                continue
            found.append(PiiMatch(recognizer.entity, start, end, value))
    return _resolve(found)


# Where two recognisers claim one value, the more specific (validated) type wins.
_PRIORITY = {
    "CREDIT_DEBIT_CARD_NUMBER": 0,
    "INTERNATIONAL_BANK_ACCOUNT_NUMBER": 0,
    "EMAIL": 0,
    "URL": 1,
    "US_SOCIAL_SECURITY_NUMBER": 1,
    "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER": 1,
    "UK_NATIONAL_HEALTH_SERVICE_NUMBER": 1,
    "CA_SOCIAL_INSURANCE_NUMBER": 1,
    "US_BANK_ROUTING_NUMBER": 1,
    "VEHICLE_IDENTIFICATION_NUMBER": 1,
    "PHONE": 3,
    "US_BANK_ACCOUNT_NUMBER": 2.5,  # its context word ("account") outranks a bare number's shape
}


def _resolve(found: list[PiiMatch]) -> list[PiiMatch]:
    ranked = sorted(found, key=lambda m: (_PRIORITY.get(m.entity, 2), -(m.end - m.start), m.start))
    kept: list[PiiMatch] = []
    for m in ranked:
        if all(m.end <= k.start or m.start >= k.end for k in kept):
            kept.append(m)
    return sorted(kept, key=lambda m: m.start)
