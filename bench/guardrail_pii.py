"""A labelled PII set for bench/guardrails.py: presidio-evaluator's templates filled by Faker, plus strata's.

Sentences come from presidio-evaluator's ``templates.txt`` (read from its PyPI wheel, not
installed: the package pulls spaCy and transformers) with their ``{{placeholders}}`` filled by
Faker (seeded), so every value's span and type is known; placeholders with no Bedrock type
(organisation, city, job, dates…) are filled too and count as text that must *not* be flagged.
The templates have few SSNs, IPs and bank numbers, so the bench adds templates written for strata
(``EXTRA_TEMPLATES``) for the Bedrock types presidio does not cover. Faker's values are checked
against the same validators a real value passes (a Faker SSN is valid; a Faker bank account is
random digits).
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

PRESIDIO_EVALUATOR = "presidio-evaluator==0.3.2"
FAKER = "faker>=40"

# presidio placeholder -> Bedrock entity type (None: filled, not PII for Bedrock's purposes)
PLACEHOLDER_TYPES = {
    "credit_card_number": "CREDIT_DEBIT_CARD_NUMBER",
    "email": "EMAIL",
    "phone_number": "PHONE",
    "ssn": "US_SOCIAL_SECURITY_NUMBER",
    "iban": "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
    "ip_address": "IP_ADDRESS",
    "url": "URL",
    "age": "AGE",
    "us_driver_license": "DRIVER_ID",
    "address": "ADDRESS",
    "person": "NAME",
    "name": "NAME",
    "name_female": "NAME",
    "name_male": "NAME",
    "bank_account": "US_BANK_ACCOUNT_NUMBER",
    "routing_number": "US_BANK_ROUTING_NUMBER",
    "swift": "SWIFT_CODE",
    "mac_address": "MAC_ADDRESS",
    "aws_access_key": "AWS_ACCESS_KEY",
    "passport": "US_PASSPORT_NUMBER",
    "vin": "VEHICLE_IDENTIFICATION_NUMBER",
    "ipv6": "IP_ADDRESS",
}

# Written for strata: how people mention the types presidio's templates leave out or rarely use.
EXTRA_TEMPLATES = [
    "My social security number is {{ssn}}, please update my file.",
    "SSN: {{ssn}}",
    "Can you verify {{ssn}} for the tax form?",
    "The applicant's SSN {{ssn}} was rejected.",
    "Please wire it to account number {{bank_account}} at my credit union.",
    "My checking account is {{bank_account}} and the routing number is {{routing_number}}.",
    "Deposit to acct {{bank_account}}, routing {{routing_number}}.",
    "Use bank account {{bank_account}} for the refund.",
    "The savings account number {{bank_account}} is closed.",
    "Direct deposit: routing number {{routing_number}}, account {{bank_account}}.",
    "The server at {{ip_address}} keeps timing out.",
    "Block traffic from {{ip_address}} and {{ipv6}} please.",
    "Our gateway IP is {{ip_address}}.",
    "SSH into {{ipv6}} and restart nginx.",
    "Call me at {{phone_number}} after 5pm.",
    "My cell is {{phone_number}}.",
    "Text {{phone_number}} when the package arrives.",
    "Email {{email}} with the invoice.",
    "You can reach me at {{email}} or {{phone_number}}.",
    "Charge my card {{credit_card_number}} for the upgrade.",
    "The card number is {{credit_card_number}}, expiring next year.",
    "Refund it to {{credit_card_number}} please.",
    "The SWIFT code of the receiving bank is {{swift}}.",
    "Our device MAC address is {{mac_address}}.",
    "I found the key {{aws_access_key}} committed to the repo.",
    "My passport number is {{passport}} and it expires in 2030.",
    "The VIN is {{vin}}, a 2015 sedan.",
    "I was born in 1985 and my order number is 4417 for 12 items.",
    "Meeting at 10:30 in room 204; bring the 2023 report.",
    "The invoice total was 1,249.99 for 3 licences.",
]

_PLACEHOLDER = re.compile(r"{{(\w+)}}")


@dataclass(frozen=True)
class Sample:
    text: str
    spans: tuple[tuple[int, int, str], ...]  # gold (start, end, Bedrock type)


def ensure_faker() -> None:
    try:
        import faker  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", FAKER], check=True)


def presidio_templates(wheels: Path) -> list[str]:
    wheel = next(wheels.glob("presidio_evaluator-*.whl"), None)
    if wheel is None:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "-q",
            "-d",
            str(wheels),
            PRESIDIO_EVALUATOR,
        ]
        subprocess.run(cmd, check=True)
        wheel = next(wheels.glob("presidio_evaluator-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        raw = z.read("presidio_evaluator/data_generator/raw_data/templates.txt").decode("utf-8", "replace")
    # The templates write line breaks as a literal backslash-n.
    return [line.strip().replace("\\n", "\n") for line in raw.splitlines() if line.strip()]


def _value(fake, name: str, rng: random.Random) -> str:
    special = {
        "bank_account": lambda: "".join(rng.choice("0123456789") for _ in range(rng.randint(8, 14))),
        "routing_number": fake.aba,
        "swift": lambda: fake.swift(length=rng.choice((8, 11))),
        "ip_address": fake.ipv4_public,
        "ipv6": fake.ipv6,
        "aws_access_key": lambda: (
            "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
        ),
        "passport": fake.passport_number,
        "vin": fake.vin,
        "age": lambda: str(rng.randint(18, 90)),
        "person": fake.name,
        "address": lambda: fake.address().replace("\n", ", "),
        "us_driver_license": lambda: fake.bothify("?#######").upper(),
        "date_of_birth": lambda: fake.date_of_birth().strftime("%m/%d/%Y"),
        "nation_woman": fake.country,
        "nation_plural": fake.country,
        "nationality": fake.country,
        "mac_address": fake.mac_address,
        "organization": fake.company,
        "first_name_nonbinary": fake.first_name,
        "date_time": lambda: fake.date_time().strftime("%B %d, %Y %H:%M"),
    }
    if name in special:
        return str(special[name]())
    return str(getattr(fake, name)())


def generate(wheels: Path, per_template: int = 6, seed: int = 11) -> list[Sample]:
    ensure_faker()
    from faker import Faker

    fake, rng = Faker("en_US"), random.Random(seed)
    Faker.seed(seed)
    samples = []
    for template in presidio_templates(wheels) + EXTRA_TEMPLATES:
        for _ in range(per_template):
            samples.append(_fill(template, fake, rng))
    return samples


def _fill(template: str, fake, rng: random.Random) -> Sample:
    out, spans, cursor = [], [], 0
    length = 0
    for m in _PLACEHOLDER.finditer(template):
        literal = template[cursor : m.start()]
        out.append(literal)
        length += len(literal)
        value = _value(fake, m.group(1), rng)
        kind = PLACEHOLDER_TYPES.get(m.group(1))
        if kind:
            spans.append((length, length + len(value), kind))
        out.append(value)
        length += len(value)
        cursor = m.end()
    out.append(template[cursor:])
    return Sample("".join(out), tuple(spans))


def score(samples: list[Sample], detect) -> dict[str, dict[str, float]]:
    """Per type: gold count, predictions, precision, recall. ``detect(text)`` -> [(start, end, type)].

    A prediction is right when it overlaps a gold span of its type by at least half of the
    shorter of the two (formatting such as a trailing full stop does not count against it).
    """
    stats: dict[str, dict[str, int]] = {}
    for sample in samples:
        predicted = detect(sample.text)
        for start, end, kind in sample.spans:
            s = stats.setdefault(kind, {"gold": 0, "found": 0, "predicted": 0, "correct": 0})
            s["gold"] += 1
            s["found"] += any(k == kind and _overlaps(start, end, ps, pe) for ps, pe, k in predicted)
        for ps, pe, kind in predicted:
            s = stats.setdefault(kind, {"gold": 0, "found": 0, "predicted": 0, "correct": 0})
            s["predicted"] += 1
            s["correct"] += any(k == kind and _overlaps(gs, ge, ps, pe) for gs, ge, k in sample.spans)
    return {
        kind: {
            "gold": s["gold"],
            "predicted": s["predicted"],
            "precision": round(s["correct"] / s["predicted"], 3) if s["predicted"] else None,
            "recall": round(s["found"] / s["gold"], 3) if s["gold"] else None,
        }
        for kind, s in sorted(stats.items())
    }


def _overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    inter = min(a1, b1) - max(a0, b0)
    return inter > 0 and inter >= 0.5 * min(a1 - a0, b1 - b0)
