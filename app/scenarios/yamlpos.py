"""YAML reading that keeps node positions, with YAML 1.2-like scalars.

PyYAML follows YAML 1.1, where ``10:00`` is the integer 600 and ``no`` is ``False`` — both bite
scenario authors (``time: 10:00``, ``keyword: [no]``), so those resolvers are replaced.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app.limits import MAX_DOCUMENT_NESTING

# documents nest at most app.limits.MAX_DOCUMENT_NESTING deep; this guard runs before composing
MAX_COMPOSE_DEPTH = MAX_DOCUMENT_NESTING


class ScenarioYamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans, no sexagesimal numbers."""


# The same resolvers over libyaml's scanner (when PyYAML has it): the pure-Python scanner spends
# seconds on a 256 KiB document. Error messages still come from the Python loader (its wording
# and positions are what admins and tests know), so only a document that fails pays for it.
_FastBase: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FastScenarioYamlLoader(_FastBase):  # type: ignore[misc, valid-type]
    """:class:`ScenarioYamlLoader`'s resolvers on libyaml."""


_REPLACED = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
for _loader in (ScenarioYamlLoader, _FastScenarioYamlLoader):
    _loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in _REPLACED]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    _loader.add_implicit_resolver(
        "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+)$"),
        list("-+0123456789"))
    _loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                        |[-+]?\.(?:inf|Inf|INF)
                        |\.(?:nan|NaN|NAN))$""", re.X),
        list("-+0123456789."))


def compose_and_construct(text: str) -> tuple[Node | None, Any]:
    """The node tree (for positions) and the plain data of a single-document YAML text."""
    _check_event_depth(text, MAX_COMPOSE_DEPTH)
    try:
        return _compose_and_construct(_FastScenarioYamlLoader, text)
    except yaml.YAMLError:
        return _compose_and_construct(ScenarioYamlLoader, text)  # raises, with the usual message


def _check_event_depth(text: str, max_depth: int) -> None:
    """Refuse deep nesting from the flat event stream, before any composer recurses into it
    (libyaml's composer would overflow the C stack: a crash, not an exception)."""
    loader = _FastScenarioYamlLoader(text)
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > max_depth:
                    raise ShapeError(f"nesting deeper than {max_depth} levels", None, event.start_mark)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return  # the composer reports syntax errors with the usual message
    finally:
        loader.dispose()


def _compose_and_construct(loader_class: type, text: str) -> tuple[Node | None, Any]:
    loader = loader_class(text)
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


class ShapeError(ValueError):
    """The node graph nests too deep, refers to itself, or its aliases expand too far."""

    def __init__(self, message: str, node: Node | None, mark: Any = None) -> None:
        super().__init__(message)
        self.node = node
        self.mark = mark if mark is not None else (node.start_mark if node is not None else None)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def check_shape(root: Node | None, *, max_depth: int, max_alias_expansion: int) -> None:
    """Raise :class:`ShapeError` unless the tree nests at most ``max_depth`` deep and its aliases
    add at most ``max_alias_expansion`` nodes beyond the document's own (billion laughs).

    One pass over distinct nodes (sizes memoised per node), iterative: bounded time and stack
    whatever the document.
    """
    if root is None:
        return
    expanded: dict[int, int] = {}  # id(node) -> nodes below it, aliases expanded
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            expanded[key] = 1 + sum(expanded[id(child)] for child in _children(node))
            on_path.discard(key)
            continue
        if key in expanded:
            continue
        if key in on_path:
            raise ShapeError("an alias refers to the node that contains it", node)
        if len(on_path) >= max_depth and isinstance(node, MappingNode | SequenceNode):
            raise ShapeError(f"nesting deeper than {max_depth} levels", node)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in expanded)
    if expanded[id(root)] - len(expanded) > max_alias_expansion:
        raise ShapeError(f"aliases expand to more than {max_alias_expansion} extra nodes", root)


def duplicate_keys(node: Node | None) -> list[tuple[ScalarNode, str]]:
    """Keys that appear twice in one mapping (YAML would silently keep the last); each distinct
    node is visited once, however many aliases refer to it."""
    found: list[tuple[ScalarNode, str]] = []
    seen_nodes: set[int] = set()
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if id(current) in seen_nodes:
            continue
        seen_nodes.add(id(current))
        if isinstance(current, MappingNode):
            keys: set[str] = set()
            for key, _value in current.value:
                if isinstance(key, ScalarNode):
                    if key.value in keys:
                        found.append((key, key.value))
                    keys.add(key.value)
        stack.extend(reversed(_children(current)))
    return found


class Locator:
    """Finds the node a data path points at, indexing each mapping once (one pass over errors,
    not a scan of the mapping per error)."""

    def __init__(self, root: Node | None) -> None:
        self.root = root
        self._index: dict[int, dict[str, tuple[Node, Node]]] = {}

    def _pairs(self, node: MappingNode) -> dict[str, tuple[Node, Node]]:
        index = self._index.get(id(node))
        if index is None:
            index = {}
            for key, value in node.value:
                if isinstance(key, ScalarNode):
                    index.setdefault(key.value, (key, value))
            self._index[id(node)] = index
        return index

    def locate(self, path: list[str | int], *, at_key: bool) -> Node | None:
        """See :func:`locate`."""
        node = self.root
        for depth, part in enumerate(path):
            last = depth == len(path) - 1
            if isinstance(node, MappingNode):
                pair = self._pairs(node).get(str(part))
                if pair is None:
                    return node
                node = pair[0] if (last and at_key) else pair[1]
            elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
            else:
                return node
        return node


def locate(root: Node | None, path: list[str | int], *, at_key: bool) -> Node | None:
    """The node a data path points at; stops at the deepest existing node (a missing field's
    parent). ``at_key`` returns the key node instead of the value (unknown-field errors)."""
    return Locator(root).locate(path, at_key=at_key)
