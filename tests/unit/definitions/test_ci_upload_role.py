"""roles/ci-upload.yaml: GitHub's token for one exact subject may assume it, and it may only put builds.

The template is read as CloudFormation reads it (short tags as intrinsics), its intrinsics resolved for a
given set of parameters, and the role's policies evaluated with IAM's rule for identity-based policies.
"""

from __future__ import annotations

import os
import re
import shlex
from typing import Any
from unittest import mock

import pytest
import yaml
from samtranslator.yaml_helper import yaml_parse

from promote_cli import cli
from promote_cli.local.iam_auth import is_allowed
from promote_cli.local.template import Resolver
from promotion.models.config import ArtifactSource
from promotion.pipeline.artifacts import build_prefix
from tests.support.paths import REPO_ROOT

ROLE_TEMPLATE = REPO_ROOT / "roles" / "ci-upload.yaml"
EXAMPLE_WORKFLOW = REPO_ROOT / "docs" / "examples" / "publish-workflow.yml"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
BUCKET = f"release-promotion-artifacts-{ACCOUNT}-{REGION}"
REPO = "example-org/sentiment-service"
SHA = "0123456789abcdef0123456789abcdef01234567"
CREATED_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
AUDIENCE_KEY = "token.actions.githubusercontent.com:aud"
SUBJECT_KEY = "token.actions.githubusercontent.com:sub"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return dict(yaml_parse(ROLE_TEMPLATE.read_text()))


class Deployed:
    """The role stack as CloudFormation would create it for some parameter values."""

    def __init__(self, template: dict[str, Any], **overrides: str) -> None:
        parameters = {
            name: str(spec["Default"]) for name, spec in template["Parameters"].items() if "Default" in spec
        }
        parameters.update({"ArtifactBucketName": BUCKET, "Repository": REPO, **overrides})
        self.parameters = parameters
        self.resolver = Resolver(
            pseudo={
                "AWS::AccountId": ACCOUNT,
                "AWS::Region": REGION,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            },
            parameters=parameters,
            refs={"GitHubOidcProvider": CREATED_PROVIDER, "CiUploadRole": "release-promotion-ci-upload"},
            conditions=template["Conditions"],
        )
        self.resources = {
            logical_id: self.resolver.resolve(resource)
            for logical_id, resource in template["Resources"].items()
            if "Condition" not in resource or self.resolver.condition(resource["Condition"])
        }

    @property
    def role(self) -> dict[str, Any]:
        return dict(self.resources["CiUploadRole"]["Properties"])

    def trust(self) -> list[dict[str, Any]]:
        return list(self.role["AssumeRolePolicyDocument"]["Statement"])

    def policies(self) -> list[dict[str, Any]]:
        """Every identity-based policy document the role ends up with: inline, and attached to it."""
        documents = [policy["PolicyDocument"] for policy in self.role.get("Policies", [])]
        documents += [
            resource["Properties"]["PolicyDocument"]
            for resource in self.resources.values()
            if resource["Type"] == "AWS::IAM::RolePolicy"
            and resource["Properties"]["RoleName"] == "release-promotion-ci-upload"
        ]
        assert not [r for r in self.resources.values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
        assert "ManagedPolicyArns" not in self.role
        return documents


def object_arn(key: str, bucket: str = BUCKET) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def build_key(repo: str, name: str = "package.zip", prefix: str = "builds/") -> str:
    """Where the control plane looks for a build (the fetch step's own layout function)."""
    return build_prefix(ArtifactSource(bucket=BUCKET, prefix=prefix), repo, SHA) + name


# ---- who may assume it -----------------------------------------------------------------------------------
def test_only_githubs_token_for_sts_with_the_exact_branch_subject_may_assume_it(
    template: dict[str, Any],
) -> None:
    (statement,) = Deployed(template).trust()
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": CREATED_PROVIDER}
    # Nothing but exact matches: no StringLike, no other keys, no second subject.
    assert statement["Condition"] == {
        "StringEquals": {AUDIENCE_KEY: "sts.amazonaws.com", SUBJECT_KEY: f"repo:{REPO}:ref:refs/heads/main"}
    }


def test_a_job_with_a_github_environment_is_trusted_by_the_environment_subject_only(
    template: dict[str, Any],
) -> None:
    (statement,) = Deployed(template, Environment="production", Branch="release").trust()
    assert statement["Condition"] == {
        "StringEquals": {
            AUDIENCE_KEY: "sts.amazonaws.com",
            SUBJECT_KEY: f"repo:{REPO}:environment:production",
        }
    }


@pytest.mark.parametrize("overrides", [{}, {"Branch": "release/v2"}, {"Environment": "prod"}])
def test_the_trusted_subject_has_no_wildcard(template: dict[str, Any], overrides: dict[str, str]) -> None:
    for statement in Deployed(template, **overrides).trust():
        for operator, claims in statement["Condition"].items():
            assert operator == "StringEquals"
            assert not re.search(r"[*?]", claims[SUBJECT_KEY])


@pytest.mark.parametrize(
    ("parameter", "refused", "accepted"),
    [
        ("Repository", ["example-org/*", "*/sentiment-service", "example-org/sent?ment", "example-org"],
         [REPO, "Example_Org/sentiment.service"]),
        ("Repository", ["../x/y", "example-org/x/y", "example-org/x:ref"], [REPO]),
        ("Repository", ["example-org/..", "example-org/.", "example.org/service"], ["example-org/.github"]),
        ("Branch", ["*", "main*", "release/?", "main:ref", ""], ["main", "release/v2.1", "feature/a_b-c"]),
        ("Environment", ["*", "prod*", "pr?d", "prod:x"], ["", "production", "prod-eu.1"]),
    ],
)  # fmt: skip
def test_parameters_refuse_wildcards_and_anything_that_is_not_one_name(
    template: dict[str, Any], parameter: str, refused: list[str], accepted: list[str]
) -> None:
    pattern = template["Parameters"][parameter]["AllowedPattern"]
    assert [value for value in refused if re.fullmatch(pattern, value)] == []
    assert [value for value in accepted if not re.fullmatch(pattern, value)] == []


def test_the_oidc_provider_is_created_for_sts_or_an_existing_one_is_used(template: dict[str, Any]) -> None:
    created = Deployed(template)
    provider = created.resources["GitHubOidcProvider"]
    assert provider["Type"] == "AWS::IAM::OIDCProvider"
    assert provider["Properties"]["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]

    existing = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    reused = Deployed(template, GitHubOidcProviderArn=existing)
    assert "GitHubOidcProvider" not in reused.resources
    assert [s["Principal"] for s in reused.trust()] == [{"Federated": existing}]
    pattern = template["Parameters"]["GitHubOidcProviderArn"]["AllowedPattern"]
    assert not re.fullmatch(pattern, f"arn:aws:iam::{ACCOUNT}:oidc-provider/accounts.google.com")


# ---- what it may do --------------------------------------------------------------------------------------
def test_the_only_allow_is_put_object_under_the_repositorys_build_prefix(template: dict[str, Any]) -> None:
    allows = [
        statement
        for document in Deployed(template).policies()
        for statement in document["Statement"]
        if statement["Effect"] == "Allow"
    ]
    assert allows == [
        {
            "Sid": "PutThisRepositorysBuilds",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/builds/{REPO}/*",
        }
    ]


def test_the_ci_role_can_put_under_its_prefix_and_nothing_else(template: dict[str, Any]) -> None:
    policies = Deployed(template).policies()

    def allowed(action: str, resource: str) -> bool:
        return is_allowed(policies, action, resource)

    # Its own builds, exactly where the fetch step reads them.
    assert allowed("s3:PutObject", object_arn(build_key(REPO)))
    assert allowed("s3:PutObject", object_arn(build_key(REPO, "manifest.json")))

    # Another repository's prefix, one that merely starts with this name, another prefix or bucket.
    refused_puts = [
        object_arn(build_key("example-org/billing-service")),
        object_arn(build_key("example-org/sentiment-service-fork")),
        object_arn(build_key("example-org/sentiment")),
        object_arn(build_key("other-org/sentiment-service")),
        object_arn(build_key(REPO, prefix="")),
        object_arn(build_key(REPO, prefix="releases/")),
        object_arn(f"builds/{REPO}"),
        object_arn("builds/manifest.json"),
        object_arn(build_key(REPO), bucket="another-bucket"),
        f"arn:aws:s3:::{BUCKET}",
    ]
    assert [arn for arn in refused_puts if allowed("s3:PutObject", arn)] == []

    # No delete of objects or versions, no reads, no ACLs, tags or retention, even on its own builds.
    own = object_arn(build_key(REPO))
    for action in [
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:DeleteObjectTagging",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObjectAcl",
        "s3:PutObjectVersionAcl",
        "s3:PutObjectTagging",
        "s3:PutObjectRetention",
        "s3:PutObjectLegalHold",
        "s3:BypassGovernanceRetention",
        "s3:RestoreObject",
        "s3:AbortMultipartUpload",
    ]:
        assert not allowed(action, own), action
    assert not allowed("s3:GetObject", object_arn(build_key("example-org/billing-service")))
    assert not allowed("s3:DeleteObjectVersion", object_arn(build_key("example-org/billing-service")))

    # Nothing on the bucket itself, and nothing outside S3.
    bucket = f"arn:aws:s3:::{BUCKET}"
    for action in [
        "s3:ListBucket",
        "s3:ListBucketVersions",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:PutBucketVersioning",
        "s3:PutLifecycleConfiguration",
        "s3:PutBucketAcl",
        "s3:DeleteBucket",
    ]:
        assert not allowed(action, bucket), action
    for action, resource in [
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/release-promotion-ci-upload"),
        ("lambda:UpdateFunctionCode", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:svc-sentiment"),
        ("states:StartExecution", f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:release-promotion"),
        ("ssm:PutParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/release-promotion/pipelines/x"),
        ("kms:Decrypt", KMS_KEY),
    ]:
        assert not allowed(action, resource), action


def test_a_broader_policy_attached_later_still_cannot_delete_or_put_elsewhere(
    template: dict[str, Any],
) -> None:
    policies = [
        *Deployed(template).policies(),
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]},
    ]
    assert is_allowed(policies, "s3:PutObject", object_arn(build_key(REPO)))
    assert not is_allowed(policies, "s3:PutObject", object_arn(build_key("example-org/billing-service")))
    assert not is_allowed(policies, "s3:DeleteObjectVersion", object_arn(build_key(REPO)))
    assert not is_allowed(policies, "s3:PutBucketPolicy", f"arn:aws:s3:::{BUCKET}")
    assert not is_allowed(policies, "s3:GetObject", object_arn(build_key("example-org/billing-service")))


def test_the_prefix_follows_the_pipelines_artifact_prefix(template: dict[str, Any]) -> None:
    policies = Deployed(template, ArtifactPrefix="ci/builds/").policies()
    assert is_allowed(policies, "s3:PutObject", object_arn(build_key(REPO, prefix="ci/builds/")))
    assert not is_allowed(policies, "s3:PutObject", object_arn(build_key(REPO)))
    pattern = template["Parameters"]["ArtifactPrefix"]["AllowedPattern"]
    for prefix in ["", "builds/", "ci/builds/"]:
        assert re.fullmatch(pattern, prefix)
        assert ArtifactSource(bucket=BUCKET, prefix=prefix).prefix == prefix  # a prefix pipelines accept
    for prefix in ["builds", "/builds/", "builds/*/", "*"]:
        assert not re.fullmatch(pattern, prefix)


def test_a_kms_encrypted_bucket_adds_data_keys_of_that_key_through_s3_only(template: dict[str, Any]) -> None:
    assert "CiUploadKmsPolicy" not in Deployed(template).resources
    assert len(Deployed(template).policies()) == 1

    deployed = Deployed(template, ArtifactKmsKeyArn=KMS_KEY)
    (kms_statement,) = deployed.resources["CiUploadKmsPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert kms_statement == {
        "Sid": "DataKeysThroughS3Only",
        "Effect": "Allow",
        "Action": "kms:GenerateDataKey",
        "Resource": KMS_KEY,
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}},
    }
    policies = deployed.policies()
    assert not is_allowed(policies, "kms:Decrypt", KMS_KEY)
    assert not is_allowed(policies, "s3:DeleteObjectVersion", object_arn(build_key(REPO)))


# ---- the example workflow that uses it -------------------------------------------------------------------
def test_the_example_workflow_publishes_with_the_role_and_no_stored_keys(template: dict[str, Any]) -> None:
    text = EXAMPLE_WORKFLOW.read_text()
    workflow = yaml.safe_load(text)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers == {"push": {"branches": [template["Parameters"]["Branch"]["Default"]]}}
    assert workflow["permissions"] == {"id-token": "write", "contents": "read"}
    (job,) = workflow["jobs"].values()
    assert "environment" not in job  # the role's default subject is the branch form
    steps = job["steps"]
    (credentials,) = [
        s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
    ]
    assert set(credentials["with"]) == {"role-to-assume", "role-session-name", "aws-region"}
    assert not re.search(r"aws-access-key-id|aws-secret-access-key|secrets\.", text)
    publishing = [s for s in steps if "promote publish" in s.get("run", "")]
    assert [steps.index(s) for s in publishing] == [len(steps) - 1]
    assert steps.index(credentials) == len(steps) - 2
    # The command line as the runner's shell expands it parses as `promote publish`.
    environment = {"GITHUB_REPOSITORY": REPO, "GITHUB_SHA": SHA}
    with mock.patch.dict(os.environ, environment):
        words = [os.path.expandvars(word) for word in shlex.split(publishing[0]["run"])]
    assert words[0] == "promote"
    args = cli.build_parser().parse_args(words[1:])
    assert (args.func, args.directory, args.repo, args.sha) == (cli.cmd_publish, "build", REPO, SHA)
    assert set(publishing[0]["env"]) == {cli.ARTIFACT_BUCKET_ENV}
