"""What a guard rule reports when it refuses part of a query."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One reason to refuse: `rule` names the check, `message` is fit for the user."""

    rule: str
    message: str
