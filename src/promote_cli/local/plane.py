"""The local control plane: template.yaml and the promotion ASL, unchanged, on moto in this process.

Start order: moto's server (Step Functions execution on) -> the invoke hook -> every resource template.yaml
declares (after the SAM transform) -> pipeline configs into Parameter Store -> the sample service's two
environments from its own template -> the HTTP front door. Then one JSON ready line.
"""

from __future__ import annotations

import functools
import io
import json
import os
import secrets
import socket
import string
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import requests

from promote_cli.local import accounts, moto_patches, sample
from promote_cli.local.events import EventRule, ExecutionStatusWatcher
from promote_cli.local.github_stub import GitHubStub
from promote_cli.local.http_server import LocalHttpServer, Route
from promote_cli.local.iam_auth import IamAuthorizer
from promote_cli.local.iam_plane import IamEnforcement, apply_role_policies
from promote_cli.local.moto_iam import MotoIam
from promote_cli.local.outbox import SesOutbox, SlackOutbox
from promote_cli.local.runtime import ControlFunction, LocalLambdaRuntime
from promote_cli.local.template import (
    Resolver,
    TemplateError,
    TranslatedTemplate,
    list_parameters,
    parameter_defaults,
    translate,
)

if TYPE_CHECKING:
    from promote_cli.local.console.web import ConsoleRoutes

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
ACCOUNT = accounts.CONTROL_PLANE_ACCOUNT
OPERATOR_POLICY_OUTPUT = "OperatorApprovalPolicyArn"
LOCAL_ENV_DEFAULTS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    # Tracing needs an X-Ray daemon; metrics would print EMF documents nobody collects here.
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def naming_order(resources: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """A template's resources in the order their physical names can be resolved: log groups are named
    after the resources they log for (``/aws/lambda/${Function}``), so they come last."""
    return sorted(resources.items(), key=lambda item: item[1]["Type"] == "AWS::Logs::LogGroup")


@dataclass
class PlaneOptions:
    host: str = "127.0.0.1"
    api_port: int = 0
    aws_port: int = 0
    region: str = "us-east-1"
    stack_name: str = "release-promotion"
    template: Path = DEFAULT_TEMPLATE
    pipeline_files: list[Path] = field(default_factory=lambda: [sample.SAMPLE_DIR / "pipeline.local.json"])
    with_sample_service: bool = True
    # More copies of the sample service, each with its own pipeline ("<name>-service") and environments.
    sample_copies: list[str] = field(default_factory=list)
    workdir: Path | None = None
    # <1 shrinks the interpreter's Waits, Retry intervals and timeouts (see moto_patches.apply_time_scale).
    time_scale: float = 1.0
    # The template's IAM on every AWS request its roles sign (local/iam_enforcement.py); off: moto's, none.
    iam_enforcement: bool = True
    # Append each (role, action, resource) the enforcement allowed to this file (the least-privilege report).
    iam_record: Path | None = None


@dataclass
class StackResources:
    """Physical names of what the control-plane template created."""

    refs: dict[str, str]
    attributes: dict[tuple[str, str], str]
    state_machine_arn: str
    artifact_bucket: str
    pipeline_config_prefix: str
    environment: dict[str, str]
    event_rules: list[EventRule]


class LocalControlPlane:
    def __init__(self, options: PlaneOptions | None = None) -> None:
        self.options = options or PlaneOptions()
        self._environment_before: dict[str, str | None] = {}
        # Build manifests read by ``_published_commits``, by (key, ETag): an object's bytes never change
        # under one ETag, and the GitHub stand-in asks for the history at every compare.
        self._manifests: dict[tuple[str, str], tuple[str, str, str]] = {}
        self._workdir = self.options.workdir or Path(tempfile.mkdtemp(prefix="promote-local-"))
        self.runtime = LocalLambdaRuntime(account=ACCOUNT, region=self.options.region, workdir=self._workdir)
        self.outbox = SesOutbox(ACCOUNT, self.options.region)
        # Slack's Web API and response_urls point at the local HTTP server, which records them here.
        self.slack_outbox = SlackOutbox()
        # Stands in for GitHub's REST API; tests set its fixture data (pull requests, comparisons).
        self.github = GitHubStub(host=self.options.host)
        self.github.set_history_source(self._published_commits)
        self._moto: Any = None
        self._http: LocalHttpServer | None = None
        self._events: ExecutionStatusWatcher | None = None
        self._unsubscribe_events: Callable[[], None] = lambda: None
        self.stack: StackResources | None = None
        self.aws_endpoint_url = ""
        self.api_url = ""
        self.pipelines: dict[str, dict[str, Any]] = {}
        # The local operator: an IAM user with the template's operator policy, for `promote --local approve`.
        self.operator: dict[str, str] = {}
        self.iam: IamEnforcement | None = None
        self._clients: dict[tuple[int, str, str, str], Any] = {}
        self._clients_lock = threading.Lock()
        # A service function's role ARN -> the environment its code calls AWS with (its role's credentials).
        self._service_roles: dict[str, dict[str, str]] = {}
        # Environment -> the deployer role in that environment's account.
        self.deployer_roles: dict[str, str] = {}
        for account in accounts.ENVIRONMENT_ACCOUNTS.values():
            self.runtime.add_target_account(account)

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call is noise here

        options = self.options
        aws_port = options.aws_port or free_port(options.host)
        self.aws_endpoint_url = f"http://{options.host}:{aws_port}"
        api_port = options.api_port or free_port(options.host)
        self.api_url = f"http://{options.host}:{api_port}"
        # The in-process handlers read these; stop() puts back what was there, so nothing in the same
        # process (a test session, an embedding tool) keeps talking to an endpoint that is gone.
        changed = {key: value for key, value in LOCAL_ENV_DEFAULTS.items() if key not in os.environ}
        changed |= {
            "AWS_DEFAULT_REGION": options.region,
            "AWS_REGION": options.region,
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
        }
        self._environment_before = {key: os.environ.get(key) for key in changed}
        os.environ.update(changed)

        moto_patches.apply()
        if options.time_scale != 1.0:
            moto_patches.apply_time_scale(options.time_scale)
        if options.iam_enforcement:
            self.iam = IamEnforcement(region=options.region, record_to=options.iam_record)
            self._moto = self.iam.server(ip_address=options.host, port=aws_port)
        else:
            self._moto = ThreadedMotoServer(ip_address=options.host, port=aws_port, verbose=False)
        self._moto.start()
        requests.post(
            f"{self.aws_endpoint_url}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=10,
        ).raise_for_status()
        self.runtime.install_hook()
        self.runtime.give_service_functions(self._service_function_environment)

        template = translate(options.template, region=options.region)
        self.github.start()
        self.stack = self._create_stack(template)
        if self.iam is not None:
            self.iam.enforce(self, template)
            # Clients made before enforcement sign with fixed credentials; from here on every client must
            # sign as whichever role is acting (the handler's, or the administrator's outside handlers).
            with self._clients_lock:
                self._clients.clear()
        self.operator = self._create_local_operator(template)
        # Preprod and prod are accounts of their own, each with its deployer role (roles/deployer.yaml).
        self.deployer_roles = self._create_deployer_roles(template)
        for path in options.pipeline_files:
            self._load_pipeline(path)
        if options.with_sample_service:
            for stage in ("preprod", "prod"):
                self._bootstrap_service(sample.SAMPLE_DIR / "template.yaml", stage)
        for name in options.sample_copies:
            self.put_pipeline(sample.copy_pipeline_document(name), source=f"copy {name} of the sample")
            for stage in ("preprod", "prod"):
                self._bootstrap_service(sample.SAMPLE_DIR / "template.yaml", stage, service_name=name)

        routes = self._routes(template)
        self._http = LocalHttpServer(
            host=options.host,
            port=api_port,
            runtime=self.runtime,
            routes=routes,
            outbox=lambda: [
                message.to_json() for message in [*self.outbox.messages(), *self.slack_outbox.messages()]
            ],
            info=self.ready_info,
            slack=self.slack_outbox.handle,
            iam_authorizer=self.iam_authorizer(),
            console=self._console_routes().handle,
        )
        self._http.start()
        self._events = ExecutionStatusWatcher(
            sfn=self.client("stepfunctions"),
            state_machine_arns=[self.stack.state_machine_arn],
            rules=self.stack.event_rules,
            invoke=lambda function, payload: self.runtime.invoke(function, payload),
            account=ACCOUNT,
            region=options.region,
        )
        self._events.start()
        self._unsubscribe_events = moto_patches.on_execution_status_change(self._events.wake)
        return self.ready_info()

    def stop(self) -> None:
        self._unsubscribe_events()
        if self._events is not None:
            self._events.stop()
        if self._http is not None:
            self._http.stop()
        if self._moto is not None:
            self._moto.stop()
        self.github.stop()
        self.runtime.close()
        for key, value in self._environment_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._environment_before = {}

    def ready_info(self) -> dict[str, Any]:
        assert self.stack is not None
        sample_pipeline = next(iter(self.pipelines.values()), None)
        return {
            "ready": True,
            "api_url": self.api_url,
            "aws_endpoint_url": self.aws_endpoint_url,
            "region": self.options.region,
            "stack_name": self.options.stack_name,
            "state_machine_arn": self.stack.state_machine_arn,
            "artifact_bucket": self.stack.artifact_bucket,
            "pipeline": sample_pipeline["name"] if sample_pipeline else None,
            "repo": sample_pipeline["repo"] if sample_pipeline else None,
            "pipelines": sorted(self.pipelines),
            "outbox_url": f"{self.api_url}/_local/outbox",
            # Every execution's page (approval emails, Slack, GitHub statuses and the CLI link there).
            "console_url": self.console_url,
            # Sign Slack interaction posts to {api_url}/slack/interactions with this, as Slack would.
            "slack_signing_secret": self.slack_signing_secret(),
            "time_scale": self.options.time_scale,
            # Sign payloads with webhook_secret (X-Hub-Signature-256) and POST them here, as GitHub would.
            "webhook_url": self.webhook_url(sample_pipeline["name"]) if sample_pipeline else None,
            "webhook_secret": self.webhook_secret(sample_pipeline["name"]) if sample_pipeline else None,
            "github_api_url": self.github.url,
            # Sign calls to the operator routes with these (SigV4, service execute-api, this region), as
            # `promote --local approvals list|approve|reject` does; its ARN is an operator of the sample.
            "operator": dict(self.operator),
            # Preprod and prod live in accounts of their own; the control plane acts there only as these.
            "accounts": {"control_plane": ACCOUNT, **accounts.ENVIRONMENT_ACCOUNTS},
            "deployer_roles": dict(self.deployer_roles),
        }

    @property
    def console_url(self) -> str:
        """The local console: where this plane's links to an execution lead (promotion.console)."""
        from promote_cli.local.console.web import base_url

        return base_url(self.api_url)

    def _console_routes(self) -> ConsoleRoutes:
        from promote_cli.local.console.service import ExecutionConsole
        from promote_cli.local.console.web import ConsoleRoutes
        from promotion.dal.approvals import DynamoApprovalStore

        assert self.stack is not None
        dynamodb = boto3.resource(
            "dynamodb", region_name=self.options.region, endpoint_url=self.aws_endpoint_url
        )
        console = ExecutionConsole(
            sfn=self.client("stepfunctions"),
            state_machine_arn=self.stack.state_machine_arn,
            approvals=DynamoApprovalStore(dynamodb.Table(self.stack.environment["APPROVALS_TABLE"])),
            console_base=self.console_url,
        )
        return ConsoleRoutes(console)

    def iam_authorizer(self) -> IamAuthorizer:
        """What stands in for API Gateway's AWS_IAM authorizer: this plane's IAM users, roles and policies."""
        iam = MotoIam(self.client("iam"), account=ACCOUNT)
        return IamAuthorizer(
            lookup=iam.key, policies=iam.policies, region=self.options.region, account=ACCOUNT
        )

    def _create_local_operator(self, template: TranslatedTemplate) -> dict[str, str]:
        """An IAM user holding only the template's operator policy, with an access key."""
        assert self.stack is not None
        output = template.outputs.get(OPERATOR_POLICY_OUTPUT)
        if output is None:
            raise TemplateError(f"the template has no {OPERATOR_POLICY_OUTPUT} output")
        resolver = Resolver(
            pseudo=self._pseudo(), parameters={}, refs=self.stack.refs, attributes=self.stack.attributes
        )
        policy_arn = str(resolver.resolve(output["Value"]))
        iam = self.client("iam")
        user = iam.create_user(UserName=sample.LOCAL_OPERATOR_USER)["User"]
        iam.attach_user_policy(UserName=sample.LOCAL_OPERATOR_USER, PolicyArn=policy_arn)
        key = iam.create_access_key(UserName=sample.LOCAL_OPERATOR_USER)["AccessKey"]
        return {
            "arn": str(user["Arn"]),
            "access_key_id": str(key["AccessKeyId"]),
            "secret_access_key": str(key["SecretAccessKey"]),
            "policy_arn": policy_arn,
        }

    def webhook_url(self, pipeline: str) -> str:
        return f"{self.api_url}/webhooks/github/{pipeline}"

    def webhook_secret(self, pipeline: str) -> str:
        """The current secret the pipeline's webhook deliveries are signed with."""
        secret_id = self._github_secret_ids(pipeline)[0]
        value = str(self.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])
        try:
            document = json.loads(value)
        except ValueError:
            return value
        return str(document["current"]) if isinstance(document, dict) else value

    def _github_secret_ids(self, pipeline: str) -> tuple[str, str | None]:
        """(webhook secret, API token secret) of a loaded pipeline."""
        from promotion.models.config import (
            api_token_prefix,
            parse_pipeline_config,
            secret_name,
            webhook_secret_prefix,
        )

        assert self.stack is not None
        parameter = f"{self.stack.pipeline_config_prefix}{pipeline}"
        text = self.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]
        github = parse_pipeline_config(text, source=parameter).github
        webhook = github.webhook_secret_id or self.stack.environment["GITHUB_WEBHOOK_SECRET_ID"]
        # The same naming rule the deployed functions enforce (their IAM reads nothing else).
        stack = self.options.stack_name
        for secret_id, prefix in (
            (webhook, webhook_secret_prefix(stack)),
            (github.token_secret_id, api_token_prefix(stack)),
        ):
            if secret_id is not None and not secret_name(secret_id).startswith(prefix):
                raise TemplateError(f"pipeline {pipeline}: secret {secret_id!r} is not under {prefix}")
        return webhook, github.token_secret_id

    def _ensure_github_secrets(self, pipeline: str) -> None:
        """Create the pipeline's GitHub secrets that do not exist yet; the GitHub stand-in takes its token."""
        webhook_id, token_id = self._github_secret_ids(pipeline)
        sm = self.client("secretsmanager")
        wanted = [(webhook_id, json.dumps({"current": secrets.token_urlsafe(32), "previous": ""}))]
        if token_id:
            wanted.append((token_id, "ghp_local_" + secrets.token_urlsafe(24)))
        for secret_id, fresh in wanted:
            try:
                sm.describe_secret(SecretId=secret_id)
            except sm.exceptions.ResourceNotFoundException:
                sm.create_secret(Name=secret_id, SecretString=fresh)
        if token_id:
            self.github.accept_token(str(sm.get_secret_value(SecretId=token_id)["SecretString"]).strip())

    def slack_signing_secret(self) -> str:
        assert self.stack is not None
        secret_id = self.stack.environment["SLACK_SIGNING_SECRET_ID"]
        return str(self.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])

    def client(self, service: str, account: str = ACCOUNT) -> Any:
        """A client of this plane's AWS endpoint in the control plane's account, or as the administrator
        of another ``account``; one per service and account: creating a boto3 client costs more than most
        calls made with it, and clients are safe to share between threads."""
        with self._clients_lock:
            key = (id(boto3.DEFAULT_SESSION), service, self.aws_endpoint_url, account)
            if key not in self._clients:
                self._clients[key] = (
                    boto3.client(service, region_name=self.options.region, endpoint_url=self.aws_endpoint_url)
                    if account == ACCOUNT
                    else accounts.account_client(
                        service, account, region=self.options.region, endpoint_url=self.aws_endpoint_url
                    )
                )
            return self._clients[key]

    def _service_function_environment(self, role_arn: str) -> dict[str, str]:
        """What Lambda gives a service function to call AWS with: its execution role's credentials (here
        also the plane's endpoint). Assumed once per role by the administrator, whoever is acting."""
        with self._clients_lock:
            if role_arn not in self._service_roles:
                sts = boto3.client(
                    "sts",
                    region_name=self.options.region,
                    endpoint_url=self.aws_endpoint_url,
                    aws_access_key_id=LOCAL_ENV_DEFAULTS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=LOCAL_ENV_DEFAULTS["AWS_SECRET_ACCESS_KEY"],
                )
                issued = sts.assume_role(
                    RoleArn=role_arn, RoleSessionName=role_arn.rsplit("/", 1)[-1][:64], DurationSeconds=43200
                )["Credentials"]
                self._service_roles[role_arn] = {
                    "AWS_ACCESS_KEY_ID": str(issued["AccessKeyId"]),
                    "AWS_SECRET_ACCESS_KEY": str(issued["SecretAccessKey"]),
                    "AWS_SESSION_TOKEN": str(issued["SessionToken"]),
                    "AWS_ENDPOINT_URL": self.aws_endpoint_url,
                }
            return dict(self._service_roles[role_arn])

    def _client_in(self, account: str, service: str) -> Any:
        return self.client(service, account)

    def environment_client(self, environment: str, service: str) -> Any:
        """A client in the account where ``environment`` of the sample service lives."""
        return self.client(service, accounts.ENVIRONMENT_ACCOUNTS[environment])

    def environment_clients(self, service: str) -> dict[str, Any]:
        return {
            environment: self.environment_client(environment, service) for environment in ("preprod", "prod")
        }

    def _create_deployer_roles(self, template: TranslatedTemplate) -> dict[str, str]:
        assert self.stack is not None
        output = template.outputs.get(accounts.ACCESS_OUTPUT)
        if output is None:
            raise TemplateError(f"the template has no {accounts.ACCESS_OUTPUT} output")
        resolver = Resolver(
            pseudo=self._pseudo(), parameters={}, refs=self.stack.refs, attributes=self.stack.attributes
        )
        trusted = str(resolver.resolve(output["Value"])).split(",")
        return {
            environment: accounts.create_deployer_role(
                environment,
                stack_name=self.options.stack_name,
                control_plane_role_arns=trusted,
                scopes=(
                    accounts.SAMPLE_COPIES_SCOPES if self.options.sample_copies else accounts.SAMPLE_SCOPES
                ),
                artifact_bucket=self.stack.artifact_bucket,
                artifact_prefix="builds/",
                region=self.options.region,
                client_for=functools.partial(self._client_in, account),
                # The stack's own roles/deployer.yaml, beside its template (the repository's by default).
                template=self.options.template.parent / "roles" / "deployer.yaml",
            )
            for environment, account in accounts.ENVIRONMENT_ACCOUNTS.items()
        }

    def delivered_statuses(self, execution_arn: str) -> list[str]:
        """The status changes of an execution that the local EventBridge has delivered (targets done)."""
        if self._events is None:
            return []
        return [
            str(item["event"]["detail"]["status"])
            for item in list(self._events.delivered)
            if item["event"]["detail"]["executionArn"] == execution_arn
        ]

    # ---- the control-plane stack --------------------------------------------------------------
    def _pseudo(self, stack_name: str | None = None, account: str = ACCOUNT) -> dict[str, str]:
        stack = stack_name or self.options.stack_name
        return {
            "AWS::Region": self.options.region,
            "AWS::AccountId": account,
            "AWS::StackName": stack,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.options.region}:{account}:stack/{stack}/local",
        }

    def _create_stack(self, template: TranslatedTemplate) -> StackResources:
        stack = self.options.stack_name
        # The deployer roles are in the environments' accounts: the control plane names them exactly.
        deployers = ",".join(accounts.deployer_role_arns(stack).values())
        resolver = Resolver(
            pseudo=self._pseudo(),
            parameters=parameter_defaults(template, {"DeployerRoleArns": deployers}),
            conditions=template.conditions,
            list_parameters=list_parameters(template),
        )
        # As CloudFormation does: a resource whose Condition is false is not created.
        resources = {
            logical_id: resource
            for logical_id, resource in template.resources.items()
            if "Condition" not in resource or resolver.condition(resource["Condition"])
        }
        # Physical ids are deterministic, so every Ref and GetAtt resolves before anything is created,
        # except secrets, whose ARN moto makes up: those are created first.
        for logical_id, resource in naming_order(resources):
            self._name_resource(resolver, logical_id, resource, stack)
        sm = self.client("secretsmanager")
        for logical_id, resource in resources.items():
            if resource["Type"] == "AWS::SecretsManager::Secret":
                properties = resolver.resolve(resource.get("Properties", {}))
                generate = properties.get("GenerateSecretString", {})
                alphabet = string.ascii_letters + string.digits
                value = "".join(
                    secrets.choice(alphabet) for _ in range(int(generate.get("PasswordLength", 64)))
                )
                if "GenerateStringKey" in generate:
                    # As Secrets Manager does: the generated value goes into the template JSON, at the key.
                    document = json.loads(generate.get("SecretStringTemplate") or "{}")
                    value = json.dumps({**document, generate["GenerateStringKey"]: value})
                arn = sm.create_secret(Name=properties["Name"], SecretString=value)["ARN"]
                resolver.refs[logical_id] = arn
                resolver.attributes[(logical_id, "Id")] = arn
        # KMS makes up key ids too: keys next, then their aliases (which name them).
        kms = self.client("kms")
        for kind in ("AWS::KMS::Key", "AWS::KMS::Alias"):
            for logical_id, resource in resources.items():
                if resource["Type"] != kind:
                    continue
                properties = resolver.resolve(resource.get("Properties", {}))
                if kind == "AWS::KMS::Key":
                    metadata = kms.create_key(
                        Description=str(properties.get("Description", "")),
                        KeySpec=properties.get("KeySpec", "SYMMETRIC_DEFAULT"),
                        KeyUsage=properties.get("KeyUsage", "ENCRYPT_DECRYPT"),
                        Policy=json.dumps(properties["KeyPolicy"]),
                    )["KeyMetadata"]
                    resolver.refs[logical_id] = metadata["KeyId"]
                    resolver.attributes[(logical_id, "Arn")] = metadata["Arn"]
                    resolver.attributes[(logical_id, "KeyId")] = metadata["KeyId"]
                else:
                    kms.create_alias(AliasName=properties["AliasName"], TargetKeyId=properties["TargetKeyId"])
                    resolver.refs[logical_id] = properties["AliasName"]

        order = [
            "AWS::IAM::ManagedPolicy",  # before the roles that attach them
            "AWS::IAM::Role",
            "AWS::S3::Bucket",
            "AWS::S3::BucketPolicy",
            "AWS::DynamoDB::Table",
            "AWS::SQS::Queue",
            "AWS::SNS::Topic",
            "AWS::SNS::Subscription",
            "AWS::Lambda::Function",
            "AWS::StepFunctions::StateMachine",
            "AWS::Logs::LogGroup",  # named after the functions
            "AWS::CloudWatch::Alarm",
            "AWS::CloudWatch::Dashboard",
            "AWS::Events::Rule",
        ]
        handled = {*order, "AWS::SecretsManager::Secret", "AWS::KMS::Key", "AWS::KMS::Alias"}
        # Created nowhere locally, with the reason: the layer is this installed package; permissions,
        # stages and the API object itself are the local HTTP server's routing.
        not_needed = {
            "AWS::Lambda::LayerVersion",
            "AWS::Lambda::Permission",
            "AWS::ApiGatewayV2::Api",
            "AWS::ApiGatewayV2::Stage",
            # The local EventBridge invokes the cleanup synchronously and moto's SNS does not deliver email:
            # nothing locally retries asynchronously or dead-letters, so the queue's policy and the
            # function's on-failure destination have nothing to act on.
            "AWS::SQS::QueuePolicy",
            "AWS::Lambda::EventInvokeConfig",
        }
        unknown = {r["Type"] for r in resources.values()} - handled - not_needed
        if unknown:
            raise TemplateError(f"the local plane cannot create {sorted(unknown)} yet")

        environment: dict[str, str] = {}
        state_machine_arn = ""
        event_rules: list[EventRule] = []
        for kind in order:
            for logical_id, resource in resources.items():
                if resource["Type"] != kind:
                    continue
                properties = resolver.resolve(resource.get("Properties", {}))
                if kind == "AWS::Lambda::Function":
                    env = self._create_control_function(template, resolver, logical_id, properties)
                    for key, value in env.items():
                        if environment.get(key, value) != value:
                            raise TemplateError(
                                f"{logical_id}: environment variable {key} differs between functions; "
                                "the local plane runs handlers in one process and needs one value"
                            )
                        environment[key] = value
                elif kind == "AWS::StepFunctions::StateMachine":
                    state_machine_arn = self._create_state_machine(properties)
                elif kind == "AWS::Events::Rule":
                    event_rules.append(self._create_event_rule(resolver.refs[logical_id], properties))
                else:
                    self._create_simple(kind, resolver.refs[logical_id], properties)

        environment["PUBLIC_API_URL"] = self.api_url  # the local HTTP server stands in for API Gateway
        # Links to an execution lead to the local console (there is no AWS console page for it).
        environment["EXECUTION_CONSOLE_URL"] = self.console_url
        # ... and for Slack: its Web API and the response_urls of interactions posted to the local plane.
        environment["SLACK_API_URL"] = f"{self.api_url}/_local/slack/api/"
        environment["SLACK_RESPONSE_URL_PREFIX"] = f"{self.api_url}/_local/slack/response/"
        for key in environment:  # stop() puts these back too
            self._environment_before.setdefault(key, os.environ.get(key))
        os.environ.update(environment)
        self.client("ses").verify_email_identity(EmailAddress=environment["EMAIL_SENDER"])
        bucket = next(resolver.refs[lid] for lid, r in resources.items() if r["Type"] == "AWS::S3::Bucket")
        return StackResources(
            refs=resolver.refs,
            attributes=resolver.attributes,
            state_machine_arn=state_machine_arn,
            artifact_bucket=bucket,
            pipeline_config_prefix=environment["PIPELINE_CONFIG_PREFIX"],
            environment=environment,
            event_rules=event_rules,
        )

    def _name_resource(
        self, resolver: Resolver, logical_id: str, resource: dict[str, Any], stack: str
    ) -> None:
        region = self.options.region
        account = resolver.pseudo["AWS::AccountId"]
        kind = resource["Type"]
        properties = resource.get("Properties", {})

        def explicit(key: str) -> str:
            value = properties.get(key)
            return str(resolver.resolve(value)) if value is not None else f"{stack}-{logical_id}"

        refs, attrs = resolver.refs, resolver.attributes
        if kind == "AWS::Lambda::Function":
            name = explicit("FunctionName")
            refs[logical_id] = name
            attrs[(logical_id, "Arn")] = f"arn:aws:lambda:{region}:{account}:function:{name}"
        elif kind == "AWS::IAM::Role":
            name = explicit("RoleName")[:64]
            refs[logical_id] = name
            attrs[(logical_id, "Arn")] = f"arn:aws:iam::{account}:role/{name}"
        elif kind == "AWS::IAM::ManagedPolicy":
            name = explicit("ManagedPolicyName")
            refs[logical_id] = f"arn:aws:iam::{account}:policy/{name}"
        elif kind == "AWS::DynamoDB::Table":
            name = explicit("TableName")
            refs[logical_id] = name
            attrs[(logical_id, "Arn")] = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        elif kind == "AWS::S3::Bucket":
            name = explicit("BucketName").lower()
            refs[logical_id] = name
            attrs[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
        elif kind == "AWS::SNS::Topic":
            name = explicit("TopicName")
            refs[logical_id] = f"arn:aws:sns:{region}:{account}:{name}"
            attrs[(logical_id, "TopicName")] = name
            attrs[(logical_id, "TopicArn")] = refs[logical_id]
        elif kind == "AWS::StepFunctions::StateMachine":
            name = explicit("StateMachineName")
            refs[logical_id] = f"arn:aws:states:{region}:{account}:stateMachine:{name}"
            attrs[(logical_id, "Name")] = name
            attrs[(logical_id, "Arn")] = refs[logical_id]
        elif kind == "AWS::CloudWatch::Alarm":
            refs[logical_id] = explicit("AlarmName")
        elif kind == "AWS::CloudWatch::Dashboard":
            refs[logical_id] = explicit("DashboardName")
        elif kind == "AWS::Logs::LogGroup":
            name = explicit("LogGroupName")
            refs[logical_id] = name
            attrs[(logical_id, "Arn")] = f"arn:aws:logs:{region}:{account}:log-group:{name}:*"
        elif kind == "AWS::SQS::Queue":
            name = explicit("QueueName")
            refs[logical_id] = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
            attrs[(logical_id, "QueueName")] = name
            attrs[(logical_id, "Arn")] = f"arn:aws:sqs:{region}:{account}:{name}"
        elif kind == "AWS::SNS::Subscription":
            refs[logical_id] = f"arn:aws:sns:{region}:{account}:{stack}-{logical_id}"
        elif kind == "AWS::Events::Rule":
            name = explicit("Name")[:64]
            refs[logical_id] = name
            attrs[(logical_id, "Arn")] = f"arn:aws:events:{region}:{account}:rule/{name}"
        elif kind == "AWS::ApiGatewayV2::Api":
            refs[logical_id] = "local"
        elif kind == "AWS::S3::BucketPolicy":
            refs[logical_id] = f"{stack}-{logical_id}"
        elif kind == "AWS::Lambda::LayerVersion":
            refs[logical_id] = f"arn:aws:lambda:{region}:{account}:layer:{stack}-{logical_id}:1"

    def _create_simple(
        self, kind: str, physical: str, properties: dict[str, Any], account: str = ACCOUNT
    ) -> None:
        if kind == "AWS::IAM::Role":
            self.client("iam", account).create_role(
                RoleName=physical, AssumeRolePolicyDocument=json.dumps(properties["AssumeRolePolicyDocument"])
            )
            apply_role_policies(self.client("iam", account), physical, properties)
        elif kind == "AWS::IAM::ManagedPolicy":
            self.client("iam").create_policy(
                PolicyName=physical.rsplit("/", 1)[1],
                PolicyDocument=json.dumps(properties["PolicyDocument"]),
                Description=str(properties.get("Description", "")),
            )
        elif kind == "AWS::S3::Bucket":
            s3 = self.client("s3")
            s3.create_bucket(Bucket=physical)
            if properties.get("VersioningConfiguration", {}).get("Status") == "Enabled":
                s3.put_bucket_versioning(Bucket=physical, VersioningConfiguration={"Status": "Enabled"})
        elif kind == "AWS::S3::BucketPolicy":
            self.client("s3").put_bucket_policy(
                Bucket=properties["Bucket"], Policy=json.dumps(properties["PolicyDocument"])
            )
        elif kind == "AWS::DynamoDB::Table":
            indexes = {"GlobalSecondaryIndexes": properties.get("GlobalSecondaryIndexes")}
            self.client("dynamodb").create_table(
                TableName=physical,
                AttributeDefinitions=properties["AttributeDefinitions"],
                KeySchema=properties["KeySchema"],
                BillingMode=properties.get("BillingMode", "PAY_PER_REQUEST"),
                **(indexes if properties.get("GlobalSecondaryIndexes") else {}),
            )
        elif kind == "AWS::SNS::Topic":
            self.client("sns").create_topic(Name=physical.rsplit(":", 1)[1])
        elif kind == "AWS::Logs::LogGroup":
            logs = self.client("logs")
            logs.create_log_group(logGroupName=physical)
            logs.put_retention_policy(
                logGroupName=physical, retentionInDays=int(properties["RetentionInDays"])
            )
        elif kind == "AWS::SQS::Queue":
            self.client("sqs").create_queue(QueueName=physical.rsplit("/", 1)[1])
        elif kind == "AWS::SNS::Subscription":
            self.client("sns").subscribe(
                TopicArn=properties["TopicArn"],
                Protocol=properties["Protocol"],
                Endpoint=properties["Endpoint"],
            )
        elif kind == "AWS::CloudWatch::Alarm":
            self._put_alarm(properties)
        elif kind == "AWS::CloudWatch::Dashboard":
            # Kept so the template's dashboard body is checked as CloudWatch would (valid JSON, its size).
            self.client("cloudwatch").put_dashboard(
                DashboardName=properties["DashboardName"], DashboardBody=properties["DashboardBody"]
            )

    def _put_alarm(self, properties: dict[str, Any], account: str = ACCOUNT) -> None:
        allowed = {
            "AlarmName",
            "AlarmDescription",
            "Namespace",
            "MetricName",
            "Metrics",
            "Dimensions",
            "Statistic",
            "ExtendedStatistic",
            "Period",
            "EvaluationPeriods",
            "DatapointsToAlarm",
            "Threshold",
            "ComparisonOperator",
            "TreatMissingData",
            "AlarmActions",
            "OKActions",
            "Unit",
        }
        self.client("cloudwatch", account).put_metric_alarm(
            **{k: v for k, v in properties.items() if k in allowed}
        )

    def _create_control_function(
        self, template: TranslatedTemplate, resolver: Resolver, logical_id: str, properties: dict[str, Any]
    ) -> dict[str, str]:
        source = template.function_sources[logical_id]
        name = resolver.refs[logical_id]
        env = {k: str(v) for k, v in ((properties.get("Environment") or {}).get("Variables") or {}).items()}
        self.client("lambda").create_function(
            FunctionName=name,
            Runtime=properties["Runtime"],
            Role=properties["Role"],
            Handler=properties["Handler"],
            Code={"ZipFile": _zip_directory(source.code_dir)},
            Timeout=int(properties.get("Timeout", 3)),
            MemorySize=int(properties.get("MemorySize", 128)),
            Environment={"Variables": env},
        )
        self.runtime.register_control(
            ControlFunction(
                function_name=name,
                arn=resolver.attributes[(logical_id, "Arn")],
                source=source,
                memory=int(properties.get("MemorySize", 128)),
                timeout=int(properties.get("Timeout", 3)),
            )
        )
        return env

    def _create_event_rule(self, name: str, properties: dict[str, Any]) -> EventRule:
        """The rule exists in moto's EventBridge too; the local watcher delivers (moto emits no events)."""
        pattern = properties["EventPattern"]
        events = self.client("events")
        events.put_rule(Name=name, EventPattern=json.dumps(pattern), State=properties.get("State", "ENABLED"))
        targets = properties.get("Targets", [])
        if targets:
            events.put_targets(Rule=name, Targets=[{"Id": t["Id"], "Arn": t["Arn"]} for t in targets])
        functions = [t["Arn"].rsplit(":", 1)[1] for t in targets if ":function:" in t["Arn"]]
        return EventRule(name=name, pattern=pattern, target_functions=functions)

    def _create_state_machine(self, properties: dict[str, Any]) -> str:
        definition = properties["DefinitionString"]
        for key, value in (properties.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        if "${" in definition:
            raise TemplateError("state machine definition has an unresolved ${...} substitution")
        response = self.client("stepfunctions").create_state_machine(
            name=properties["StateMachineName"],
            definition=definition,
            roleArn=properties["RoleArn"],
            type=properties.get("StateMachineType", "STANDARD"),
        )
        return str(response["stateMachineArn"])

    def _routes(self, template: TranslatedTemplate) -> list[Route]:
        assert self.stack is not None
        routes = []
        for resource in template.resources.values():
            if resource["Type"] != "AWS::ApiGatewayV2::Api":
                continue
            for path, methods in (resource["Properties"].get("Body", {}).get("paths") or {}).items():
                for method, operation in methods.items():
                    uri = json.dumps(operation.get("x-amazon-apigateway-integration", {}).get("uri"))
                    logical = next(iter(_arn_references(uri)), None)
                    if logical is None:
                        raise TemplateError(f"route {method.upper()} {path}: integration is not a function")
                    authorization = _authorization(resource["Properties"]["Body"], operation)
                    routes.append(Route(method.upper(), path, self.stack.refs[logical], authorization))
        # Most specific first, as API Gateway matches: literal segments beat parameters beat greedy.
        return sorted(routes, key=lambda r: (r.path.count("+"), r.path.count("{"), -len(r.path)))

    # ---- pipelines and the sample service ----------------------------------------------------------
    def _load_pipeline(self, path: Path) -> None:
        self.put_pipeline(path.read_text(), source=str(path))

    def _published_commits(self, repo: str) -> list[str]:
        """The commits CI published builds for, oldest first (by the manifests' ``built_at``): the local
        stand-in for the branch's history."""
        if self.stack is None:
            return []
        s3 = self.client("s3")
        published: list[tuple[str, str]] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.stack.artifact_bucket):
            for item in page.get("Contents", []):
                key = item["Key"]
                if not (key.endswith("/manifest.json") and f"/{repo}/" in f"/{key}"):
                    continue
                cache_key = (key, str(item.get("ETag", "")))
                if cache_key not in self._manifests:
                    manifest = json.loads(
                        s3.get_object(Bucket=self.stack.artifact_bucket, Key=key)["Body"].read()
                    )
                    self._manifests[cache_key] = (
                        str(manifest.get("repo")),
                        str(manifest.get("built_at", "")),
                        str(manifest.get("sha")),
                    )
                manifest_repo, built_at, sha = self._manifests[cache_key]
                if manifest_repo == repo:
                    published.append((built_at, sha))
        return [sha for _, sha in sorted(published)]

    def put_pipeline(self, text: str, *, source: str = "pipeline document") -> str:
        """Store a pipeline document (placeholders ``${LOCAL_API_URL}``, ``${ARTIFACT_BUCKET}`` filled in).

        Its ``github.api_url`` defaults to the local GitHub stand-in, and the GitHub secrets it names are
        created when missing.
        """
        from promotion.errors import InvalidPipelineConfig
        from promotion.models.config import parse_pipeline_config

        assert self.stack is not None
        text = text.replace("${LOCAL_API_URL}", self.api_url).replace(
            "${ARTIFACT_BUCKET}", self.stack.artifact_bucket
        )
        try:
            document = json.loads(text)
        except ValueError as error:
            raise InvalidPipelineConfig(f"{source}: not JSON ({error})") from None
        if isinstance(document, dict) and isinstance(document.get("github", {}), dict):
            # Locally, GitHub's API is the stand-in unless the document names another.
            document.setdefault("github", {}).setdefault("api_url", self.github.url)
            text = json.dumps(document, indent=2)
        config = parse_pipeline_config(text, source=source)
        self.client("ssm").put_parameter(
            Name=f"{self.stack.pipeline_config_prefix}{config.name}",
            Value=text,
            Type="String",
            Overwrite=True,
        )
        self.pipelines[config.name] = {"name": config.name, "repo": config.repo, "file": source}
        self._ensure_github_secrets(config.name)
        return config.name

    def _bootstrap_service(self, template_path: Path, stage: str, *, service_name: str | None = None) -> None:
        """Create one environment of a service from its own template, on the bootstrap build (version 1),
        in the environment's account; ``service_name`` sets the template's ServiceName parameter (a copy
        of the service)."""
        values = {"Stage": stage, **({"ServiceName": service_name} if service_name else {})}
        template = translate(template_path, region=self.options.region, parameter_values=values)
        # Each environment of the service is a stack of its own, in the environment's account.
        stack = f"{service_name}-service-{stage}" if service_name else f"{template_path.parent.name}-{stage}"
        account = accounts.ENVIRONMENT_ACCOUNTS[stage]
        resolver = Resolver(
            pseudo=self._pseudo(stack, account),
            parameters=parameter_defaults(template, values),
            conditions=template.conditions,
        )
        for logical_id, resource in naming_order(template.resources):
            self._name_resource(resolver, logical_id, resource, resolver.pseudo["AWS::StackName"])
        lam = self.client("lambda", account)
        package = sample.build_package("good", sample.BOOTSTRAP_SHA)
        for logical_id, resource in template.resources.items():
            kind = resource["Type"]
            if kind == "AWS::IAM::Role":
                self._create_simple(
                    kind, resolver.refs[logical_id], resolver.resolve(resource["Properties"]), account
                )
        for logical_id, resource in template.resources.items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            properties = resolver.resolve(resource["Properties"])
            name = resolver.refs[logical_id]
            lam.create_function(
                FunctionName=name,
                Runtime=properties["Runtime"],
                Role=properties["Role"],
                Handler=properties["Handler"],
                Code={"ZipFile": package},
                Timeout=int(properties.get("Timeout", 3)),
                MemorySize=int(properties.get("MemorySize", 128)),
                Environment=properties.get("Environment", {"Variables": {}}),
                Description="bootstrap",
            )
            version = lam.publish_version(FunctionName=name, Description="bootstrap")["Version"]
            alias = next(
                (
                    r["Properties"]["Name"]
                    for r in template.resources.values()
                    if r["Type"] == "AWS::Lambda::Alias"
                    and r["Properties"]["FunctionName"] == {"Ref": logical_id}
                ),
                "live",
            )
            lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=version)
        cloudwatch = self.client("cloudwatch", account)
        for resource in template.resources.values():
            if resource["Type"] == "AWS::CloudWatch::Alarm":
                properties = resolver.resolve(resource["Properties"])
                self._put_alarm(properties, account)
                # moto never evaluates alarms; start them healthy, as a service with traffic would be.
                cloudwatch.set_alarm_state(
                    AlarmName=properties["AlarmName"], StateValue="OK", StateReason="local plane bootstrap"
                )


def _authorization(body: dict[str, Any], operation: dict[str, Any]) -> str | None:
    """``AWS_IAM`` for a route behind the IAM authorizer, None for an open one; any other authorizer is
    refused, since the local plane could not enforce it and would serve the route open."""
    schemes = (body.get("components") or {}).get("securitySchemes") or {}
    names = {name for requirement in operation.get("security") or [] for name in requirement}
    if not names:
        return None
    if names == {"AWS_IAM"} and schemes.get("AWS_IAM", {}).get("x-amazon-apigateway-authtype") == "awsSigv4":
        return "AWS_IAM"
    raise TemplateError(f"route authorizers {sorted(names)} are not supported by the local plane")


def _arn_references(text: str) -> list[str]:
    import re

    return re.findall(r"\$\{(\w+)\.Arn\}", text)


def _zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()
