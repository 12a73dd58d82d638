"""The local plane's IAM, as the AWS_IAM authorizer needs it: access keys and identity-based policies.

Secrets come from moto's in-process IAM and STS backends (IAM's API never returns a secret twice); the
policies come through IAM's own API (users: inline, attached and their groups'; roles: inline, attached).
Only the plane's own account is searched: keys of other accounts are unknown here, so they are refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from promote_cli.local.iam_auth import KnownKey, policy_document


class MotoIam:
    def __init__(self, iam: Any, *, account: str, partition: str = "aws") -> None:
        self._iam = iam  # a boto3 IAM client on the local plane's endpoint
        self._account = account
        self._partition = partition

    def key(self, access_key_id: str) -> KnownKey | None:
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends

        backend = iam_backends[self._account][self._partition]
        for user in backend.users.values():
            for access_key in user.access_keys:
                if access_key.access_key_id == access_key_id and access_key.status == "Active":
                    return KnownKey(
                        access_key_id=access_key_id,
                        secret_access_key=access_key.secret_access_key,
                        session_token=None,
                        arn=user.arn,
                        user_id=user.id,
                        account_id=self._account,
                    )
        for assumed in sts_backends[self._account][self._partition].assumed_roles:
            if assumed.access_key_id != access_key_id:
                continue
            if assumed.expiration.replace(tzinfo=UTC) <= datetime.now(UTC):
                return None  # expired session credentials are unknown credentials
            return KnownKey(
                access_key_id=access_key_id,
                secret_access_key=assumed.secret_access_key,
                session_token=assumed.session_token,
                arn=assumed.arn,
                user_id=assumed.user_id,
                account_id=self._account,
            )
        return None

    def policies(self, key: KnownKey) -> list[dict[str, Any]]:
        """The identity-based policy documents of the key's user or role."""
        kind, _, name = key.arn.split(":", 5)[5].partition("/")
        if kind == "user":
            return self._user_policies(name.rsplit("/", 1)[-1])
        if kind == "assumed-role":
            return self._role_policies(name.split("/", 1)[0])
        return []

    def _managed(self, attached: list[dict[str, Any]]) -> list[dict[str, Any]]:
        documents = []
        for policy in attached:
            arn = policy["PolicyArn"]
            version = self._iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            document = self._iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
            documents.append(policy_document(document["Document"]))
        return documents

    def _user_policies(self, user: str) -> list[dict[str, Any]]:
        iam = self._iam
        documents = [
            policy_document(iam.get_user_policy(UserName=user, PolicyName=name)["PolicyDocument"])
            for name in iam.list_user_policies(UserName=user)["PolicyNames"]
        ]
        documents += self._managed(iam.list_attached_user_policies(UserName=user)["AttachedPolicies"])
        for group in iam.list_groups_for_user(UserName=user)["Groups"]:
            group_name = group["GroupName"]
            documents += [
                policy_document(iam.get_group_policy(GroupName=group_name, PolicyName=name)["PolicyDocument"])
                for name in iam.list_group_policies(GroupName=group_name)["PolicyNames"]
            ]
            documents += self._managed(
                iam.list_attached_group_policies(GroupName=group_name)["AttachedPolicies"]
            )
        return documents

    def _role_policies(self, role: str) -> list[dict[str, Any]]:
        iam = self._iam
        documents = [
            policy_document(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
            for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
        ]
        return documents + self._managed(iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"])
