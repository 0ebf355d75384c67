"""Reading a sweep file's YAML safely: a SafeLoader with limits (`limited_loader`: alias uses, a
key given twice, an integer too long), a YAML error on one line (`yaml_problem`), and the line of
each key's value for error messages (`line_map`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from speechbudget.sweep.spec_limits import MAX_YAML_ALIASES
from speechbudget.sweep.spec_types import SpecError


def line_map(text: str, source: Path) -> dict[str, int]:
    """The line of each value in the file's YAML by its key ("plan", "plan.race.alpha",
    "models[1]"), for error messages; {} when the file is not YAML."""
    import yaml
    try:
        root = yaml.compose(text, Loader=limited_loader(source))
    except (yaml.YAMLError, RecursionError):
        return {}
    out: dict[str, int] = {}
    seen: set[int] = set()
    todo = [("", root)]
    while todo:
        path, node = todo.pop()
        if id(node) in seen:  # an alias: its node is listed under its first key only
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            kids = [(f"{path}.{k.value}" if path else str(k.value), v) for k, v in node.value
                    if isinstance(k, yaml.ScalarNode)]
        elif isinstance(node, yaml.SequenceNode) and path:
            kids = [(f"{path}[{i}]", v) for i, v in enumerate(node.value)]
        else:
            continue
        for key, v in kids:
            out[key] = v.start_mark.line + 1
            todo.append((key, v))
    return out


def yaml_problem(e: Exception) -> str:
    """A YAML error on one line: where (line, column) and what, e.g. "line 6, column 23:
    expected ',' or ']', but got '}' (while parsing a flow sequence from line 6, column 16)"."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None)
    if mark is None or not problem:
        return " ".join(str(e).split())
    out = f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    context, cmark = getattr(e, "context", None), getattr(e, "context_mark", None)
    if context:
        where = f" from line {cmark.line + 1}, column {cmark.column + 1}" if cmark else ""
        out += f" ({context}{where})"
    return " ".join(out.split())


def limited_loader(source: Path):
    """yaml.SafeLoader that refuses more than MAX_YAML_ALIASES alias uses (a "billion laughs"
    file is a few aliases of aliases) and a key given twice in one mapping (YAML would keep the
    last value silently)."""
    import yaml

    class Loader(yaml.SafeLoader):
        aliases = 0

        def construct_mapping(self, node, deep=False):  # noqa: ANN001
            if isinstance(node, yaml.MappingNode):
                seen: dict[Any, Any] = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge" or \
                            not isinstance(key_node, yaml.ScalarNode):
                        continue
                    key = self.construct_object(key_node)
                    if key in seen:
                        a, b = seen[key].start_mark, key_node.start_mark
                        raise SpecError("file", f"line {b.line + 1}, column {b.column + 1}: key "
                                                f"{key!r} given twice in one mapping (first at "
                                                f"line {a.line + 1}, column {a.column + 1}); YAML "
                                                "would keep only the last", source)
                    seen[key] = key_node
            return super().construct_mapping(node, deep)

        def compose_node(self, parent, index):  # noqa: ANN001
            if self.check_event(yaml.AliasEvent):
                Loader.aliases += 1
                if Loader.aliases > MAX_YAML_ALIASES:
                    raise SpecError("file", f"more than {MAX_YAML_ALIASES} YAML alias uses "
                                            "(*name); write the values out", source)
            return super().compose_node(parent, index)

        def construct_yaml_int(self, node):  # noqa: ANN001
            try:
                return super().construct_yaml_int(node)
            except ValueError:  # Python's limit on an integer's digits (4300 by default)
                m = node.start_mark
                raise SpecError("file", f"line {m.line + 1}, column {m.column + 1}: an integer of "
                                        f"{len(node.value)} characters, too long to be read",
                                source) from None
    Loader.add_constructor("tag:yaml.org,2002:int", Loader.construct_yaml_int)
    return Loader
