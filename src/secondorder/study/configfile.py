"""Reading a config file strictly: YAML 1.2's exponent floats, no key twice in one mapping, and
errors that name the file and line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from secondorder.errors import ConfigError


def read_config_file(path: str | Path) -> Any:
    """Parse a YAML (or JSON) file strictly: a key twice in one mapping, a file that is not
    UTF-8, a directory or an unreadable file are errors that name the file (and line).

    Numbers in exponent notation without a dot or a signed exponent (``1e-3``, ``2E5``) are
    floats, as in YAML 1.2; PyYAML's YAML 1.1 rules would read them as strings.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; expected a YAML config file") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {error.object[error.start]:#04x} at offset "
            f"{error.start}); save the file as UTF-8"
        ) from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file: {error.strerror}") from None
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_unique_keys(node, path, "")
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = " ".join(filter(None, [error.context, error.problem]))
        raise ConfigError(f"{path}{line}: not valid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    finally:
        loader.dispose()


class StrictLoader(yaml.SafeLoader):
    """Safe YAML with YAML 1.2's exponent floats (``1e-3``); see :func:`read_config_file`."""


StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


def check_unique_keys(node: yaml.Node, path: str | Path, where: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            here = f"{where}.{key}" if where else str(key)
            line = key_node.start_mark.line + 1
            if key is not None and key != "<<":
                if key in seen:
                    raise ConfigError(
                        f"{path}:{line}: {here}: duplicate key (first on line {seen[key]}); "
                        "each key may appear once in a mapping"
                    )
                seen[key] = line
            check_unique_keys(value_node, path, here)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            check_unique_keys(item, path, f"{where}[{i}]")
