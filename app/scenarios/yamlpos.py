"""YAML reading that keeps node positions, with YAML 1.2-like scalars.

PyYAML follows YAML 1.1, where ``10:00`` is the integer 600 and ``no`` is ``False`` — both bite
scenario authors (``time: 10:00``, ``keyword: [no]``), so those resolvers are replaced.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


class ScenarioYamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans, no sexagesimal numbers."""


_REPLACED = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
ScenarioYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _REPLACED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ScenarioYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
ScenarioYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+)$"), list("-+0123456789"))
ScenarioYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def compose_and_construct(text: str) -> tuple[Node | None, Any]:
    """The node tree (for positions) and the plain data of a single-document YAML text."""
    loader = ScenarioYamlLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        return node, data
    finally:
        loader.dispose()


def compose_only(text: str) -> Node | None:
    """Node tree only (JSON input parsed by ``json``); None when YAML cannot read it."""
    try:
        return compose_and_construct(text)[0]
    except yaml.YAMLError:
        return None


def duplicate_keys(node: Node | None) -> list[tuple[ScalarNode, str]]:
    """Keys that appear twice in one mapping (YAML would silently keep the last)."""
    found: list[tuple[ScalarNode, str]] = []
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, ScalarNode):
                if key.value in seen:
                    found.append((key, key.value))
                seen.add(key.value)
            found.extend(duplicate_keys(value))
    elif isinstance(node, SequenceNode):
        for item in node.value:
            found.extend(duplicate_keys(item))
    return found


def locate(root: Node | None, path: list[str | int], *, at_key: bool) -> Node | None:
    """The node a data path points at; stops at the deepest existing node (a missing field's
    parent). ``at_key`` returns the key node instead of the value (unknown-field errors)."""
    node = root
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(node, MappingNode):
            pair = next(((k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == str(part)), None)
            if pair is None:
                return node
            node = pair[0] if (last and at_key) else pair[1]
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node
