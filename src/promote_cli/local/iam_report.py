"""The least-privilege report: permissions template.yaml grants that a recorded run never used.

Input: the record the local plane's IAM enforcement wrote (``PlaneOptions.iam_record``: one JSON line per
distinct principal, action and resource it allowed) and, beside it, the roles' policies (``.grants.json``).
Every Allow statement of a role is split into grants (one action pattern on one resource pattern); a grant
is used when an allowed request of that role matches both. The unused ones are listed with the reason they
are kept, from a reviewed file (``iam-kept-permissions.toml``); one with no reason fails the report.

    python -m promote_cli.local.iam_report RECORD.jsonl iam-kept-permissions.toml
"""

from __future__ import annotations

import fnmatch
import json
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promote_cli.local.iam_policy import as_list, matches, statements


@dataclass(frozen=True)
class Grant:
    role: str  # the role's logical id in the template
    policy: str
    action: str
    resource: str

    def describe(self) -> str:
        return f"{self.role}: {self.action} on {self.resource} ({self.policy})"


@dataclass(frozen=True)
class Kept:
    role: str  # fnmatch patterns over the grant's fields
    action: str
    resource: str
    why: str

    def covers(self, grant: Grant) -> bool:
        return (
            fnmatch.fnmatchcase(grant.role, self.role)
            and fnmatch.fnmatchcase(grant.action.lower(), self.action.lower())
            and fnmatch.fnmatchcase(grant.resource, self.resource)
        )


def grants_of(roles: dict[str, Any]) -> dict[str, list[Grant]]:
    """Per role ARN, its Allow statements split into (action pattern, resource pattern) grants."""
    found: dict[str, list[Grant]] = {}
    for arn, role in roles.items():
        for policy_name, document in role["policies"].items():
            for statement in statements(document):
                if statement.get("Effect") != "Allow" or "Action" not in statement:
                    continue
                for action in as_list(statement["Action"]):
                    for resource in as_list(statement.get("Resource", "*")):
                        found.setdefault(arn, []).append(
                            Grant(role["logical_id"], policy_name, action, resource)
                        )
    return found


def unused_grants(record: list[dict[str, str]], roles: dict[str, Any]) -> list[Grant]:
    unused = []
    for arn, grants in grants_of(roles).items():
        used = [entry for entry in record if entry["principal_arn"] == arn]
        for grant in grants:
            if not any(
                matches([grant.action], entry["action"], ignore_case=True)
                and matches([grant.resource], entry["resource"])
                for entry in used
            ):
                unused.append(grant)
    return unused


def load_kept(path: Path) -> list[Kept]:
    document = tomllib.loads(path.read_text())
    return [Kept(k["role"], k["action"], k.get("resource", "*"), k["why"]) for k in document.get("kept", [])]


def report(record_path: Path, kept_path: Path) -> tuple[list[tuple[Grant, str]], list[Grant]]:
    """(unused grants kept, with why; unused grants nobody gave a reason for)."""
    record = [json.loads(line) for line in record_path.read_text().splitlines() if line.strip()]
    roles = json.loads(record_path.with_suffix(".grants.json").read_text())
    kept = load_kept(kept_path)
    with_reason: list[tuple[Grant, str]] = []
    without: list[Grant] = []
    for grant in unused_grants(record, roles):
        reason = next((k.why for k in kept if k.covers(grant)), None)
        if reason is None:
            without.append(grant)
        else:
            with_reason.append((grant, reason))
    return with_reason, without


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m promote_cli.local.iam_report RECORD.jsonl KEPT.toml", file=sys.stderr)
        return 2
    record_path, kept_path = Path(argv[0]), Path(argv[1])
    for path in (record_path, record_path.with_suffix(".grants.json"), kept_path):
        if not path.is_file():
            print(f"iam-report: {path} does not exist", file=sys.stderr)
            return 2
    with_reason, without = report(record_path, kept_path)
    print(f"granted in template.yaml, never used by the recorded run: {len(with_reason) + len(without)}")
    for grant, why in with_reason:
        print(f"  kept   {grant.describe()}\n         why: {why}")
    for grant in without:
        print(f"  UNUSED {grant.describe()}\n         why: no reason in {kept_path}: remove it or say why")
    return 1 if without else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
