"""Pipeline configs as a tool: ``promote pipeline validate|put|show|list|schema``.

The rules are the model's (``promotion.models.config.PipelineConfig``): this module only reads files,
renders the model's errors one per line with their JSON path, shows what a put would change, and keeps
the documents in Parameter Store under ``/{stack}/pipelines/{name}``, where every function reads them.
Registered on ``promote``'s subparsers by :func:`add_commands`.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.exceptions import ClientError
from pydantic import ValidationError

from promote_cli.control import ControlError
from promotion.models.config import PipelineConfig
from promotion.naming import PIPELINE_NAME_PATTERN

LocalState = Callable[[], dict[str, Any]]
SessionArgs = Callable[[argparse.Namespace], dict[str, Any]]
StackName = Callable[[argparse.Namespace], str]

# template.yaml: PIPELINE_CONFIG_PREFIX, "/${AWS::StackName}/pipelines/".
PARAMETER_PREFIX = "/{stack}/pipelines/"
# An editor's pointer to the JSON Schema: the model accepts it, the stored document goes without it.
SCHEMA_KEY = "$schema"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Keys a JSON path can show bare; any other key is quoted, as in ``approval.operators["arn:aws:..."]``.
_BARE_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


class PipelineFileError(ControlError):
    """A pipeline file that cannot be read or parsed: one line, exit 2."""


@dataclass(frozen=True)
class ConfigError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


# ---- reading and validating ---------------------------------------------------------------------------
def read_document(path: Path) -> Any:
    """The JSON in ``path``; a missing file or bad JSON is one line naming the place."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise PipelineFileError(f"{path}: is a directory, not a pipeline file") from None
    except UnicodeDecodeError as error:
        raise PipelineFileError(f"{path}: not UTF-8 text (byte {error.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PipelineFileError(
            f"{path}: not JSON: line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None


def json_path(parts: list[str | int]) -> str:
    """``["environments", "prod", "functions", 1]`` -> ``environments.prod.functions[1]``."""
    rendered = ""
    for part in parts:
        if isinstance(part, int):
            rendered += f"[{part}]"
        elif _BARE_KEY.match(part):
            rendered += f".{part}" if rendered else part
        else:
            rendered += f"[{json.dumps(part)}]"
    return rendered or "(document)"


def _document_location(loc: tuple[str | int, ...], document: Any) -> tuple[list[str | int], bool]:
    """The part of pydantic's ``loc`` that is a place in the document, and whether it dropped anything.

    pydantic adds a union member's tag (``dict[str,any]``) to the locations of that member's errors; the
    tag is no key of the document. A key that is absent is kept only at the end of the location and only
    in an object: the field that is missing."""
    kept: list[str | int] = []
    dropped = False
    here: Any = document
    for index, part in enumerate(loc):
        in_list = isinstance(part, int) and isinstance(here, list) and 0 <= part < len(here)
        in_object = isinstance(part, str) and isinstance(here, dict) and part in here
        if in_list or in_object:
            here = here[part]
        elif index == len(loc) - 1 and isinstance(here, dict):
            here = None
        else:
            dropped = True
            continue
        kept.append(part)
    return kept, dropped


def config_errors(document: Any) -> list[ConfigError]:
    """Every error ``PipelineConfig`` finds in ``document``, each with its JSON path, in document order.

    The alternatives of one union at one place are one error (``... or ...``)."""
    try:
        PipelineConfig.model_validate(document)
    except ValidationError as error:
        found: list[ConfigError] = []
        merged_at: str | None = None
        for item in error.errors():
            parts, dropped = _document_location(tuple(item["loc"]), document)
            path = json_path(parts)
            message = str(item["msg"]).removeprefix("Value error, ")
            if dropped and found and merged_at == path:
                found[-1] = ConfigError(path, f"{found[-1].message}, or {message[:1].lower()}{message[1:]}")
                continue
            found.append(ConfigError(path, message))
            merged_at = path if dropped else None
        return found
    return []


# ---- normalizing and comparing --------------------------------------------------------------------
def stored_document(document: dict[str, Any]) -> dict[str, Any]:
    """What goes into Parameter Store: the document without the editor's ``$schema`` pointer."""
    return {key: value for key, value in document.items() if key != SCHEMA_KEY}


def normalized(document: Any) -> str:
    """One text per document, whatever its key order or spacing: sorted keys, two-space indent."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def compact(document: Any) -> str:
    """The stored form: sorted keys, no spaces (Parameter Store's standard tier holds 4 KB)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_diff(stored: Any | None, proposed: Any, *, parameter: str, source: str) -> str:
    """A unified diff from the stored document to the proposed one ("" when they are the same)."""
    before = normalized(stored).splitlines(keepends=True) if stored is not None else []
    after = normalized(proposed).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, fromfile=parameter, tofile=source))


def fill_local_placeholders(document: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """What ``promote local up --pipeline-file`` does to a document before storing it: the placeholders
    ``${LOCAL_API_URL}`` and ``${ARTIFACT_BUCKET}`` filled in, and GitHub's API the plane's stand-in
    unless the document names another."""
    text = json.dumps(document)
    for placeholder, value in (
        ("${LOCAL_API_URL}", state["api_url"]),
        ("${ARTIFACT_BUCKET}", state["artifact_bucket"]),
    ):
        text = text.replace(placeholder, json.dumps(str(value))[1:-1])
    filled: dict[str, Any] = json.loads(text)
    github = filled.get("github", {})
    if isinstance(github, dict) and state.get("github_api_url"):
        filled["github"] = {"api_url": state["github_api_url"], **github}
    return filled


def pipeline_schema() -> dict[str, Any]:
    """The JSON Schema of a pipeline document, generated from the model (docs/pipeline.schema.json)."""
    return {"$schema": JSON_SCHEMA_DIALECT, **PipelineConfig.model_json_schema()}


def schema_text() -> str:
    return json.dumps(pipeline_schema(), indent=2, ensure_ascii=False) + "\n"


# ---- the store ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PipelineStore:
    """The stack's pipeline documents in Parameter Store."""

    ssm: Any
    stack_name: str

    @property
    def prefix(self) -> str:
        return PARAMETER_PREFIX.format(stack=self.stack_name)

    def parameter(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def get(self, name: str) -> tuple[Any, int] | None:
        """The stored document and its parameter version; None when there is none."""
        try:
            parameter = self.ssm.get_parameter(Name=self.parameter(name))["Parameter"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ParameterNotFound":
                return None
            raise
        try:
            return json.loads(parameter["Value"]), int(parameter["Version"])
        except ValueError:
            raise ControlError(f"{self.parameter(name)} does not hold JSON: put a valid document") from None

    def put(self, name: str, document: dict[str, Any], *, expected_version: int | None) -> int:
        """Write ``document``; refused when the parameter changed since ``expected_version`` was read
        (None: it did not exist)."""
        parameter = self.parameter(name)
        current = self.get(name)
        if (current[1] if current else None) != expected_version:
            raise ControlError(f"{parameter} changed while you were looking: run the put again")
        try:
            written = self.ssm.put_parameter(
                Name=parameter,
                Value=compact(document),
                Type="String",
                Overwrite=expected_version is not None,
                # Standard (free, up to 4 KB) while the document fits; Advanced (up to 8 KB) beyond.
                Tier="Intelligent-Tiering",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ParameterAlreadyExists":
                raise ControlError(
                    f"{parameter} was created while you were looking: run the put again"
                ) from None
            raise
        return int(written["Version"])

    def names(self) -> Iterator[str]:
        paginator = self.ssm.get_paginator("get_parameters_by_path")
        for page in paginator.paginate(Path=self.prefix.rstrip("/"), Recursive=False):
            for parameter in page["Parameters"]:
                yield str(parameter["Name"]).removeprefix(self.prefix)


# ---- commands -----------------------------------------------------------------------------------------
def validated(document: Any, source: str, err: TextIO) -> PipelineConfig | None:
    """The document's config, or None after printing each of its errors on a line of its own."""
    errors = config_errors(document)
    for found in errors:
        print(f"{source}: {found}", file=err)
    return None if errors else PipelineConfig.model_validate(document)


def confirm(question: str, *, assume_yes: bool, stdin: TextIO, out: TextIO) -> bool:
    """Yes when ``--yes`` was given or a person at a terminal says so; without either, refuse."""
    if assume_yes:
        return True
    if not stdin.isatty():
        raise ControlError("not a terminal, so nobody can confirm: pass --yes to write without asking")
    out.write(f"{question} [y/N] ")
    out.flush()
    return stdin.readline().strip().lower() in ("y", "yes")


def add_commands(
    commands: Any, *, local_state: LocalState, session_args: SessionArgs, stack_name: StackName
) -> None:
    def store(args: argparse.Namespace) -> PipelineStore:
        return PipelineStore(boto3.client("ssm", **session_args(args)), stack_name(args))

    def cmd_validate(args: argparse.Namespace) -> int:
        config = validated(read_document(Path(args.file)), args.file, sys.stderr)
        if config is None:
            return 2
        print(f"{args.file}: pipeline {config.name!r} is valid")
        return 0

    def cmd_put(args: argparse.Namespace) -> int:
        path = Path(args.file)
        document = read_document(path)
        if isinstance(document, dict):
            document = stored_document(document)
            if args.local:
                document = fill_local_placeholders(document, local_state())
        config = validated(document, args.file, sys.stderr)
        if config is None:
            return 2
        pipelines = store(args)
        parameter = pipelines.parameter(config.name)
        current = pipelines.get(config.name)
        stored, version = current if current else (None, None)
        if stored is None:
            print(f"new pipeline {config.name!r} ({parameter})")
        diff = config_diff(stored, document, parameter=parameter, source=str(path))
        if not diff:
            print(f"{parameter} already holds this document: nothing to write")
            return 0
        sys.stdout.write(diff)
        if not confirm(f"write {parameter}?", assume_yes=args.yes, stdin=sys.stdin, out=sys.stdout):
            print("not written")
            return 1
        written = pipelines.put(config.name, document, expected_version=version)
        print(f"wrote {parameter} (version {written})")
        return 0

    def cmd_show(args: argparse.Namespace) -> int:
        if not re.match(PIPELINE_NAME_PATTERN, args.pipeline):
            raise ControlError(f"{args.pipeline!r} is not a pipeline name")
        pipelines = store(args)
        current = pipelines.get(args.pipeline)
        if current is None:
            raise ControlError(
                f"unknown pipeline {args.pipeline!r} (no SSM parameter {pipelines.parameter(args.pipeline)})"
            )
        sys.stdout.write(normalized(current[0]))
        return 0

    def cmd_list(args: argparse.Namespace) -> int:
        for name in sorted(store(args).names()):
            print(name)
        return 0

    def cmd_schema(args: argparse.Namespace) -> int:
        sys.stdout.write(schema_text())
        return 0

    pipeline = commands.add_parser(
        "pipeline", help="pipeline configs: validate, put (with a diff), show, list, schema"
    ).add_subparsers(dest="pipeline_command", required=True)

    validate = pipeline.add_parser(
        "validate", help="check a pipeline file; every error on a line with its path"
    )
    validate.add_argument("file")
    validate.set_defaults(func=cmd_validate)

    put = pipeline.add_parser(
        "put", help="validate a pipeline file, show what changes against the stored one, then store it"
    )
    put.add_argument("file")
    put.add_argument(
        "--yes", action="store_true", help="write without asking (needed when not on a terminal)"
    )
    put.set_defaults(func=cmd_put)

    show = pipeline.add_parser("show", help="the stored config of a pipeline, as JSON")
    show.add_argument("pipeline")
    show.set_defaults(func=cmd_show)

    listing = pipeline.add_parser("list", help="the stack's pipelines, one name a line")
    listing.set_defaults(func=cmd_list)

    schema = pipeline.add_parser("schema", help="the JSON Schema of a pipeline file (for editors)")
    schema.set_defaults(func=cmd_schema)
