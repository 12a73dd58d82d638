"""Reading a SAM template the way CloudFormation would: the SAM transform, then intrinsic functions.

The transform is aws-sam-translator's own (offline: local code paths become placeholder S3 URIs and the
state machine's DefinitionUri is loaded inline). The resolver covers the intrinsics our templates use —
Ref (AWS::NoValue and CommaDelimitedList parameters included), Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select,
Fn::Split, Fn::If/Equals/Not/And/Or — and fails loudly on anything else, so the local plane never runs a
template it misread.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

PLACEHOLDER_BUCKET = "local-placeholder"


class TemplateError(Exception):
    pass


# The SAM translator counts its own usage metrics and, when they are garbage-collected unpublished, warns
# on stderr: noise in every `promote local up`, whose stderr is for the user.
logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)


@dataclass(frozen=True)
class FunctionSource:
    """Where a function's code lives on disk (its SAM CodeUri) and its handler."""

    logical_id: str
    code_dir: Path
    handler: str


@dataclass
class TranslatedTemplate:
    path: Path
    resources: dict[str, Any]
    parameters: dict[str, Any]
    conditions: dict[str, Any]
    outputs: dict[str, Any]
    function_sources: dict[str, FunctionSource] = field(default_factory=dict)


class _NoManagedPolicies:
    """The transform asks IAM for managed-policy ARNs; locally there is no IAM to ask."""

    def load(self) -> dict[str, str]:
        return {}


def translate(
    path: Path, *, region: str, parameter_values: dict[str, str] | None = None
) -> TranslatedTemplate:
    sam = yaml_parse(path.read_text())
    base = path.parent
    sources: dict[str, FunctionSource] = {}
    globals_function = (sam.get("Globals") or {}).get("Function") or {}
    for logical_id, resource in (sam.get("Resources") or {}).items():
        properties = resource.setdefault("Properties", {})
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function":
            code_uri = properties.get("CodeUri", globals_function.get("CodeUri"))
            handler = properties.get("Handler", globals_function.get("Handler"))
            if not isinstance(code_uri, str) or not isinstance(handler, str):
                raise TemplateError(f"{path}: {logical_id} needs a local CodeUri and a Handler")
            sources[logical_id] = FunctionSource(logical_id, (base / code_uri).resolve(), handler)
            properties["CodeUri"] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}.zip"
        elif kind == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}.zip"
        elif kind == "AWS::Serverless::StateMachine" and "DefinitionUri" in properties:
            definition_path = base / properties.pop("DefinitionUri")
            properties["Definition"] = json.loads(definition_path.read_text())
    previous_region = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region  # the transform reads the region from boto's environment
    try:
        cfn = transform(sam, {"AWS::Region": region, **(parameter_values or {})}, _NoManagedPolicies())
    finally:
        if previous_region is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous_region
    return TranslatedTemplate(
        path=path,
        resources=cfn["Resources"],
        parameters=cfn.get("Parameters") or {},
        conditions=cfn.get("Conditions") or {},
        outputs=cfn.get("Outputs") or {},
        function_sources=sources,
    )


# What Ref AWS::NoValue resolves to: the property or list item it stands for is dropped.
NO_VALUE: Any = object()


def list_parameters(template: TranslatedTemplate) -> frozenset[str]:
    return frozenset(
        name for name, spec in template.parameters.items() if spec.get("Type") == "CommaDelimitedList"
    )


@dataclass
class Resolver:
    """Resolves intrinsic functions against known parameter values and physical resource ids."""

    pseudo: dict[str, str]
    parameters: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    on_missing: Callable[[str], str] | None = None
    # CommaDelimitedList parameters: a Ref to one is a list.
    list_parameters: frozenset[str] = frozenset()

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.list_parameters and name in self.parameters:
            return self.parameters[name].split(",")
        for table in (self.pseudo, self.parameters, self.refs):
            if name in table:
                return table[name]
        raise TemplateError(f"Ref {name!r}: not created yet or unknown")

    def get_att(self, logical_id: str, attribute: str) -> str:
        try:
            return self.attributes[(logical_id, attribute)]
        except KeyError:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute}: not created yet or unknown") from None

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(item) for item in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(logical_id, attribute)
            if key == "Fn::Sub":
                if isinstance(argument, list):
                    return self._sub(argument[0], argument[1])
                return self._sub(argument, {})
            if key == "Fn::Join":
                separator, items = argument
                return separator.join(str(item) for item in self.resolve(items))
            if key == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Equals":
                left, right = argument
                return self.resolve(left) == self.resolve(right)
            if key == "Fn::Not":
                (operand,) = argument
                return not self.resolve(operand)
            if key == "Fn::And":
                return all(self.resolve(operand) for operand in argument)
            if key == "Fn::Or":
                return any(self.resolve(operand) for operand in argument)
            if key == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Condition":
                return self.condition(argument)
            if key.startswith("Fn::"):
                raise TemplateError(f"intrinsic {key} is not supported by the local plane")
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}


def parameter_defaults(template: TranslatedTemplate, overrides: dict[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, spec in template.parameters.items():
        if name in overrides:
            values[name] = overrides[name]
        elif "Default" in spec:
            values[name] = str(spec["Default"])
        else:
            raise TemplateError(f"{template.path}: parameter {name} has no default; pass a value")
    return values
