"""cdk-nag (3.x) AwsSolutions checks on synth, and the one way this app acknowledges a finding.

Every acknowledgement goes through :func:`acknowledge`, which refuses an empty or vague reason, so
each suppression in the templates carries a concrete one (the tests list them all).
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

MIN_REASON = 40  # characters: long enough to say what and why


def add_checks(app: cdk.App) -> None:
    """Run AwsSolutions on synth; an unacknowledged finding fails synth."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    if len(reason.strip()) < MIN_REASON:
        raise ValueError(f"acknowledging {rule} needs a concrete reason, got {reason!r}")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))
