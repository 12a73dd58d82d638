"""How the local plane wires the template's IAM in: roles with their policies, handlers as their roles, and
the enforcing middleware in front of moto's server (see ``iam_enforcement`` for what is enforced)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promote_cli.local.iam_enforcement import (
    EnforcingMiddleware,
    IamEnforcer,
    RoleSession,
    acting_as,
    install_context_credentials,
)
from promote_cli.local.iam_policy import Principal, RequestContext, policy_document, trust_allows
from promote_cli.local.template import TemplateError, TranslatedTemplate

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

    from promote_cli.local.plane import LocalControlPlane

LAMBDA_SERVICE = "lambda.amazonaws.com"
STATES_SERVICE = "states.amazonaws.com"


def apply_role_policies(iam: Any, role_name: str, properties: Mapping[str, Any]) -> None:
    """A role's inline policies and managed-policy attachments, as CloudFormation creates them.

    AWS managed policies moto does not carry are left out: they can only grant less, never more.
    """
    for policy in properties.get("Policies") or []:
        # IAM takes a document without Version (as 2008-10-17: no policy variables); moto refuses one, and
        # SAM's policy templates have none. None of the template's documents uses a policy variable.
        document = {"Version": "2012-10-17", **policy["PolicyDocument"]}
        iam.put_role_policy(
            RoleName=role_name, PolicyName=str(policy["PolicyName"]), PolicyDocument=json.dumps(document)
        )
    for arn in properties.get("ManagedPolicyArns") or []:
        try:
            iam.attach_role_policy(RoleName=role_name, PolicyArn=str(arn))
        except iam.exceptions.NoSuchEntityException:
            if ":aws:policy/" not in str(arn):
                raise


def check_trust(iam: Any, role_arn: str, service: str, *, what: str) -> None:
    """Lambda and Step Functions refuse a role their service cannot assume; so does the local plane."""
    role = iam.get_role(RoleName=role_arn.rsplit("/", 1)[-1])["Role"]
    context = RequestContext(Principal(service=service), "sts:AssumeRole", role_arn)
    if not trust_allows(policy_document(role["AssumeRolePolicyDocument"]), context).allowed:
        raise TemplateError(f"{what}: the role {role_arn} cannot be assumed by {service} (its trust policy)")


class IamEnforcement:
    def __init__(self, *, region: str, record_to: Path | None) -> None:
        self.enforcer = IamEnforcer(region=region, record_to=record_to)
        self.sessions: dict[str, RoleSession] = {}

    def server(self, *, ip_address: str, port: int) -> ThreadedMotoServer:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from moto.server import ThreadedMotoServer
        from werkzeug.serving import make_server

        enforcer = self.enforcer

        class EnforcingMotoServer(ThreadedMotoServer):
            def _server_entry(self) -> None:
                app = EnforcingMiddleware(DomainDispatcherApplication(create_backend_app), enforcer)
                self._server = make_server(
                    self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
                )
                self._server_ready_event.set()
                self._server.serve_forever()

        return EnforcingMotoServer(ip_address=ip_address, port=port, verbose=False)

    def enforce(self, plane: LocalControlPlane, template: TranslatedTemplate) -> None:
        """Handlers run as their functions' roles; the interpreter invokes as the state machine's role."""
        assert plane.stack is not None
        install_context_credentials()
        iam = plane.client("iam")
        sts = plane.client("sts")

        def assume(role_arn: str, session_name: str) -> dict[str, Any]:
            issued = sts.assume_role(
                RoleArn=role_arn, RoleSessionName=session_name[:64], DurationSeconds=12 * 3600
            )
            return dict(issued["Credentials"])

        lam = plane.client("lambda")
        for name in plane.runtime.control_functions():
            role_arn = str(lam.get_function_configuration(FunctionName=name)["Role"])
            check_trust(iam, role_arn, LAMBDA_SERVICE, what=f"function {name}")
            self.sessions[name] = RoleSession(role_arn, name, assume)
        machine = plane.client("stepfunctions").describe_state_machine(
            stateMachineArn=plane.stack.state_machine_arn
        )
        check_trust(iam, str(machine["roleArn"]), STATES_SERVICE, what=f"state machine {machine['name']}")
        self.enforcer.interpreter_session = RoleSession(str(machine["roleArn"]), "promotion", assume)
        for session in [*self.sessions.values(), self.enforcer.interpreter_session]:
            session.frozen()  # assume every role now: a broken role fails the start, not a promotion
        plane.runtime.enforce_iam(self.identity, self.enforcer.authorize_invoke)
        if self.enforcer.record_to is not None:
            self._write_grants(plane, template, iam)

    def identity(self, function_name: str) -> AbstractContextManager[None]:
        from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

        # Each Lambda function has its own Powertools cache; here the handlers share one process, and a
        # value another function fetched would reach this one without its role being asked. Only the
        # values go: the providers and their clients stay (they sign as whichever role is acting), since
        # ``parameters.clear_caches()`` drops the providers, and each new one builds a boto3 session that
        # parses botocore's endpoint and service models again: most of the plane's CPU under load.
        for provider in list(DEFAULT_PROVIDERS.values()):
            provider.clear_cache()  # type: ignore[no-untyped-call]
        return acting_as(self.sessions.get(function_name))

    def _write_grants(self, plane: LocalControlPlane, template: TranslatedTemplate, iam: Any) -> None:
        """The template's roles and their policies, beside the record (the report compares the two)."""
        assert plane.stack is not None
        assert self.enforcer.record_to is not None
        roles: dict[str, Any] = {}
        for logical_id, resource in template.resources.items():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            name = plane.stack.refs[logical_id]
            documents = {
                policy: policy_document(
                    iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
                )
                for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
            }
            # Attached managed policies (the stores' and the environments' access) are grants too.
            for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
                if attached["PolicyArn"].startswith("arn:aws:iam::aws:policy/"):
                    continue  # AWS-managed (logs, X-Ray): not the template's to narrow
                policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
                version = iam.get_policy_version(
                    PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"]
                )["PolicyVersion"]
                documents[attached["PolicyName"]] = policy_document(version["Document"])
            roles[str(iam.get_role(RoleName=name)["Role"]["Arn"])] = {
                "logical_id": logical_id,
                "policies": documents,
            }
        grants_file = self.enforcer.record_to.with_suffix(".grants.json")
        grants_file.write_text(json.dumps(roles, indent=2, sort_keys=True))
