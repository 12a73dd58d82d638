"""IAM policy evaluation for the local plane, as AWS evaluates within one account.

One evaluator serves every check the plane makes: API Gateway's AWS_IAM authorizer (``iam_auth``), the
enforcement of the template's roles on every AWS request (``iam_enforcement``), KMS key policies and role
trust policies. The rules (AWS's "policy evaluation logic" for a single account):

- an explicit ``Deny`` in any applicable policy wins;
- else an ``Allow`` in an identity-based policy, or in a resource-based policy that names the principal,
  allows; except where the resource policy only delegates to the account (KMS key policies: the account
  root), which then needs the identity policy too;
- else the request is implicitly denied.

Statements: ``Action``/``NotAction``, ``Resource``/``NotResource`` (``*`` and ``?`` wildcards; actions case
insensitive), ``Principal``/``NotPrincipal`` (resource and trust policies), and ``Condition`` with the
operators below, ``...IfExists`` and ``ForAnyValue:``/``ForAllValues:``. A condition that cannot be
evaluated here (an operator not implemented, or a key the request context does not know how to supply)
fails closed: such an Allow never allows, such a Deny always denies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any
from urllib.parse import unquote


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class Principal:
    """Who is asking: an IAM ARN (a user, a role, or a role's session) or an AWS service."""

    arn: str = ""  # arn:aws:iam::ACCOUNT:user/x, arn:aws:sts::ACCOUNT:assumed-role/Role/session
    service: str = ""  # lambda.amazonaws.com, states.amazonaws.com

    @property
    def account(self) -> str:
        return self.arn.split(":")[4] if self.arn.count(":") >= 5 else ""

    @property
    def principal_arn(self) -> str:
        """``aws:PrincipalArn``: a role's session is its role."""
        parts = self.arn.split(":", 5)
        if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
            role = parts[5].split("/")[1]
            return f"arn:{parts[1]}:iam::{parts[4]}:role/{role}"
        return self.arn


@dataclass(frozen=True)
class RequestContext:
    """One request as IAM sees it: the principal, the action, one resource, and the condition keys."""

    principal: Principal
    action: str
    resource: str
    # Condition keys this request supplies (lower-case names); values are lists (multivalued keys).
    keys: Mapping[str, list[str]] = field(default_factory=dict)

    def key(self, name: str) -> list[str] | None:
        lowered = name.lower()
        if lowered == "aws:principalarn" and self.principal.arn:
            return [self.principal.principal_arn]
        if lowered == "aws:principalaccount" and self.principal.arn:
            return [self.principal.account]
        if lowered == "aws:principalservicename" and self.principal.service:
            return [self.principal.service]
        return self.keys.get(lowered)


class Unevaluable(Exception):
    """A condition this evaluator cannot decide (it fails closed)."""


# Keys the evaluator can know for any request; others must be in ``RequestContext.keys``. A key that is
# neither is not "absent": it is unknown, and the statement fails closed.
ALWAYS_KNOWN_KEYS = frozenset(
    {"aws:principalarn", "aws:principalaccount", "aws:principalservicename", "aws:securetransport"}
)


def _wildcard(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    return _compiled(pattern, ignore_case)


@lru_cache(maxsize=4096)
def _compiled(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL)


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(item) for item in (value if isinstance(value, list) else [value])]


def matches(patterns: Iterable[str], value: str, *, ignore_case: bool = False) -> bool:
    return any(_wildcard(pattern, ignore_case=ignore_case).match(value) for pattern in patterns)


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own (a ``*`` never crosses a colon
    into the next part, except in the last, the resource)."""
    pattern_parts = pattern.split(":", 5)
    value_parts = value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(
        _wildcard(p, ignore_case=False).match(v) for p, v in zip(pattern_parts, value_parts, strict=True)
    )


def _bool(pattern: str, value: str) -> bool:
    return pattern.lower() == value.lower()


_STRING_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    # name: (does one value match one pattern, negated)
    "StringEquals": (lambda p, v: p == v, False),
    "StringNotEquals": (lambda p, v: p == v, True),
    "StringEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), True),
    "StringLike": (lambda p, v: bool(_wildcard(p, ignore_case=False).match(v)), False),
    "StringNotLike": (lambda p, v: bool(_wildcard(p, ignore_case=False).match(v)), True),
    "ArnEquals": (lambda p, v: p == v, False),
    "ArnNotEquals": (lambda p, v: p == v, True),
    "ArnLike": (_arn_like, False),
    "ArnNotLike": (_arn_like, True),
    "Bool": (_bool, False),
}


def _condition_holds(operator: str, key: str, patterns: list[str], context: RequestContext) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise Unevaluable(f"condition operator {operator}")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if key.lower() not in ALWAYS_KNOWN_KEYS and key.lower() not in context.keys:
        raise Unevaluable(f"condition key {key}")
    values = context.key(key) or None  # a known key with no value is absent
    if base == "Null":
        wanted_absent = [p.lower() == "true" for p in patterns]
        return (values is None or values == []) in wanted_absent
    if base not in _STRING_OPERATORS:
        raise Unevaluable(f"condition operator {operator}")
    match, negated = _STRING_OPERATORS[base]
    if values is None:
        # A missing key: ...IfExists holds; a negated operator holds (nothing equals); others do not.
        return if_exists or negated or qualifier == "ForAllValues"
    if qualifier == "ForAllValues":
        return all(any(match(p, v) for p in patterns) != negated for v in values)
    hit = any(match(p, v) for p in patterns for v in values)
    return not hit if negated else hit


def conditions_hold(condition: Mapping[str, Any] | None, context: RequestContext) -> bool:
    """Every operator and every key of a Condition block holds (raises ``Unevaluable``)."""
    for operator, entries in (condition or {}).items():
        if not isinstance(entries, dict):
            raise Unevaluable(f"condition {operator} is not a map of keys")
        for key, patterns in entries.items():
            if not _condition_holds(operator, key, as_list(patterns), context):
                return False
    return True


def _principal_matches(spec: Any, principal: Principal, *, account_as_any: bool) -> bool:
    """Does a ``Principal`` element name this principal? ``account_as_any``: a trust or key policy naming
    the account (``arn:aws:iam::ACCOUNT:root`` or the bare id) covers every principal of the account, as it
    delegates to their identity policies (``delegates`` tells the caller so)."""
    if spec == "*":
        return True
    if not isinstance(spec, dict):
        return False
    if principal.service and principal.service in as_list(spec.get("Service")):
        return True
    for entry in as_list(spec.get("AWS")):
        if entry == "*" and principal.arn:
            return True
        if principal.arn and entry in (principal.arn, principal.principal_arn):
            return True
        if (
            account_as_any
            and principal.account
            and entry
            in (
                principal.account,
                f"arn:aws:iam::{principal.account}:root",
            )
        ):
            return True
    return False


def delegates_to_account(spec: Any, principal: Principal) -> bool:
    """A Principal element that names the principal only through its account."""
    if not isinstance(spec, dict) or not principal.account:
        return False
    named = as_list(spec.get("AWS"))
    return any(e in (principal.account, f"arn:aws:iam::{principal.account}:root") for e in named) and not any(
        e in (principal.arn, principal.principal_arn, "*") for e in named
    )


def statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = document.get("Statement", [])
    return [s for s in (found if isinstance(found, list) else [found]) if isinstance(s, dict)]


def _applies(statement: Mapping[str, Any], context: RequestContext, *, trust: bool) -> bool:
    if "Action" in statement:
        action_ok = matches(as_list(statement["Action"]), context.action, ignore_case=True)
    elif "NotAction" in statement:
        action_ok = not matches(as_list(statement["NotAction"]), context.action, ignore_case=True)
    else:
        return False
    if not action_ok:
        return False
    if "Resource" in statement:
        return matches(as_list(statement["Resource"]), context.resource)
    if "NotResource" in statement:
        return not matches(as_list(statement["NotResource"]), context.resource)
    return trust  # trust policies have no Resource (the role is it); any other statement needs one


@dataclass(frozen=True)
class Evaluation:
    decision: Decision
    # What decided it: "identity", "resource", "trust" with the statement's Sid or position.
    reason: str = ""
    statement: Mapping[str, Any] | None = None

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


@dataclass(frozen=True)
class _Match:
    kind: str  # "deny" | "allow" | "none"
    statement: Mapping[str, Any] | None = None


def _scan(
    documents: Iterable[Mapping[str, Any]],
    context: RequestContext,
    *,
    principal_element: bool,
    account_as_any: bool = False,
    trust: bool = False,
) -> tuple[_Match, list[Mapping[str, Any]]]:
    """(explicit deny or none, the Allow statements that apply)."""
    allows: list[Mapping[str, Any]] = []
    for document in documents:
        for statement in statements(document):
            if principal_element:
                if "Principal" in statement:
                    named = _principal_matches(
                        statement["Principal"], context.principal, account_as_any=account_as_any
                    )
                elif "NotPrincipal" in statement:
                    named = not _principal_matches(
                        statement["NotPrincipal"], context.principal, account_as_any=False
                    )
                else:
                    named = False
                if not named:
                    continue
            if not _applies(statement, context, trust=trust):
                continue
            effect = statement.get("Effect")
            try:
                holds = conditions_hold(statement.get("Condition"), context)
            except Unevaluable:
                holds = effect == "Deny"  # fail closed both ways
            if not holds:
                continue
            if effect == "Deny":
                return _Match("deny", statement), allows
            if effect == "Allow":
                allows.append(statement)
    return _Match("none"), allows


def evaluate(
    context: RequestContext,
    identity_policies: Iterable[Mapping[str, Any]],
    resource_policy: Mapping[str, Any] | None = None,
    *,
    resource_policy_required: bool = False,
) -> Evaluation:
    """IAM's decision for one request in one account.

    ``resource_policy_required``: the resource's own policy must grant access, directly or by delegating
    to the account (KMS keys: a key policy that does not name the account makes IAM policies useless).
    """
    identity = list(identity_policies)
    denied, identity_allows = _scan(identity, context, principal_element=False)
    if denied.kind == "deny":
        return Evaluation(Decision.EXPLICIT_DENY, "identity-based policy", denied.statement)
    resource_allows: list[Mapping[str, Any]] = []
    if resource_policy is not None:
        denied, resource_allows = _scan(
            [resource_policy], context, principal_element=True, account_as_any=True
        )
        if denied.kind == "deny":
            return Evaluation(Decision.EXPLICIT_DENY, "resource-based policy", denied.statement)
    direct = [s for s in resource_allows if not delegates_to_account(s.get("Principal"), context.principal)]
    delegated = [s for s in resource_allows if delegates_to_account(s.get("Principal"), context.principal)]
    if direct:
        return Evaluation(Decision.ALLOW, "resource-based policy", direct[0])
    if identity_allows and (not resource_policy_required or delegated):
        return Evaluation(Decision.ALLOW, "identity-based policy", identity_allows[0])
    if resource_policy_required and not delegated:
        return Evaluation(Decision.IMPLICIT_DENY, "resource-based policy")
    return Evaluation(Decision.IMPLICIT_DENY, "identity-based policy")


def trust_allows(trust_policy: Mapping[str, Any], context: RequestContext) -> Evaluation:
    """A role's trust policy for ``sts:AssumeRole`` (or ``sts:TagSession``) by ``context.principal``.

    A statement naming the principal itself allows on its own; one naming only its account delegates to
    the principal's identity policies, which the caller evaluates too.
    """
    denied, allows = _scan([trust_policy], context, principal_element=True, account_as_any=True, trust=True)
    if denied.kind == "deny":
        return Evaluation(Decision.EXPLICIT_DENY, "trust policy", denied.statement)
    if allows:
        return Evaluation(Decision.ALLOW, "trust policy", allows[0])
    return Evaluation(Decision.IMPLICIT_DENY, "trust policy")


def is_allowed(documents: Iterable[Mapping[str, Any]], action: str, resource: str) -> bool:
    """Identity-based policies alone, with no condition keys known (conditions fail closed)."""
    context = RequestContext(principal=Principal(), action=action, resource=resource)
    return evaluate(context, documents).allowed


@lru_cache(maxsize=1024)
def _parsed(text: str) -> dict[str, Any]:
    return dict(json.loads(unquote(text) if text.startswith("%7B") else text))


def policy_document(value: Any) -> dict[str, Any]:
    """A policy document as IAM's API or moto's backend holds it: a dict, JSON text or URL-encoded JSON."""
    if isinstance(value, dict):
        return value
    return dict(_parsed(str(value)))
