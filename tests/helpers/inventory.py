"""Read a rendered hosts inventory as data: its `!unsafe` site values become plain
strings (the tag ansible-core's YAML loader gives unsafe text; PyYAML knows no such tag)."""

from __future__ import annotations

from typing import Any

import yaml


class _Loader(yaml.SafeLoader):
    pass


def _unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


_Loader.add_constructor("!unsafe", _unsafe)


def load_inventory(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)
