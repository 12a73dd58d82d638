"""CloudFormation templates read for assertions: short-form tags become one-key mappings ({"Ref": ...},
{"Sub": ...}) that are easy to compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class _ShortFormLoader(yaml.SafeLoader):
    pass


_ShortFormLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: (
        {suffix: loader.construct_scalar(node)}
        if isinstance(node, yaml.ScalarNode)
        else {suffix: loader.construct_sequence(node)}
        if isinstance(node, yaml.SequenceNode)
        else {suffix: loader.construct_mapping(node)}
    ),
)


def load_template(path: Path) -> dict[str, Any]:
    return dict(yaml.load(path.read_text(), Loader=_ShortFormLoader))  # noqa: S506 - a SafeLoader subclass
