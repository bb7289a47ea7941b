"""Recipes from YAML: `extends:` resolved, every value validated, every error one line with the
file and line it came from, the unknown key with the nearest valid one, the wrong type named.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from mc.artifact import kind_of_spec
from mc.errors import InputError
from mc.passes import pass_types
from mc.recipes.containment import NAME_RULE, safe_name
from mc.recipes.schema import Gates, Recipe, Step

PathKey = tuple[Any, ...]
Lines = dict[PathKey, str]  # path in the merged document -> "file:line" it was written at
MAX_EXTENDS_DEPTH = 8
MAX_NODES = 100_000  # values in a recipe once its aliases are expanded; real recipes have a few hundred
TOP_LEVEL_KEYS = set(Recipe.model_fields) - {"source"} | {"extends"}


def shipped_recipes_dir() -> Path:
    return Path(str(resources.files("mc_recipes")))


def shipped_recipe_names() -> list[str]:
    """Recipes a user runs by name; `_base.yaml` and other `_` files are only there to be extended."""
    return sorted(path.stem for path in shipped_recipes_dir().glob("*.yaml") if not path.stem.startswith("_"))


def resolve_recipe_path(spec: str, relative_to: Path | None = None) -> Path:
    """A recipe file path, or the name of a shipped recipe (`quickstart`, `pi5`, ...)."""
    path = Path(spec)
    if relative_to is not None and not path.is_absolute():
        candidate = relative_to / path
        if candidate.exists():
            return candidate
    if path.exists():
        return path
    if path.suffix in (".yaml", ".yml") and "/" in spec:
        raise InputError(f"recipe not found: {spec}: check the path")
    shipped = shipped_recipes_dir() / f"{path.stem}.yaml"
    if shipped.exists() and path.suffix in ("", ".yaml", ".yml"):
        return shipped
    names = shipped_recipe_names()
    close = difflib.get_close_matches(path.stem, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise InputError(f"recipe not found: {spec}: {hint}give a .yaml path or a shipped recipe ({', '.join(names)})")


def _line_map(node: yaml.Node, file: str, path: PathKey, lines: Lines) -> None:
    """Record where every key and value was written; refuse duplicate keys (YAML keeps the last silently)."""
    lines.setdefault(path, f"{file}:{node.start_mark.line + 1}")  # a key's own line, not its value's
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise InputError(f"{file}:{key_node.start_mark.line + 1}: {_dotted(path + (key,))}: duplicate key "
                                 f"(first written at line {seen[key]}); keep one")
            seen[key] = key_node.start_mark.line + 1
            lines[path + (key,)] = f"{file}:{key_node.start_mark.line + 1}"
            if isinstance(value_node, (yaml.MappingNode, yaml.SequenceNode)):
                _line_map(value_node, file, path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_map(item, file, path + (index,), lines)


def _read_yaml(path: Path) -> tuple[dict[str, Any], Lines]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"{path}: cannot read the recipe ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text (byte {error.start}); save the recipe as UTF-8") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_size(node, str(path))  # before anything walks the aliases' expansion
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        if problem == "mapping values are not allowed here":
            problem += ": a value that contains ': ' needs quotes"
        raise InputError(f"{where}: not valid YAML ({problem})") from None
    except RecursionError:
        raise InputError(f"{path}: nested too deeply to be a recipe") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise InputError(f"{path}: a recipe is a YAML mapping with model, target and variants (see recipes/quickstart.yaml)")
    lines: Lines = {}
    _line_map(node, str(path), (), lines)
    return data, lines


def _check_size(root: yaml.Node, file: str) -> None:
    """Refuse a document whose aliases expand past MAX_NODES (an "alias bomb": eleven lines of
    nested `&a [*b, *b, ...]` expand to billions of values). YAML shares an aliased node, so the
    expanded size is counted once per distinct node, in time linear in the file."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:  # `&a [*a]`: a value that contains itself has no finite expansion
            raise InputError(f"{file}:{node.start_mark.line + 1}: an alias refers to a value that contains it; "
                             "write the value out")
        open_nodes.add(id(node))
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_NODES:
                raise InputError(f"{file}:{node.start_mark.line + 1}: the recipe expands to more than {MAX_NODES:,} values "
                                 "(aliases nested in aliases); write it out plainly")
        open_nodes.discard(id(node))
        sizes[id(node)] = total
        return total

    size(root)


def _merge(base: dict[str, Any], override: dict[str, Any], base_lines: Lines, override_lines: Lines,
           path: PathKey = ()) -> dict[str, Any]:
    """`override` on top of `base`: mappings merge key by key, anything else is replaced, and a
    null removes the key (so a recipe can drop a variant it inherited)."""
    merged = dict(base)
    for key, value in override.items():
        if value is None and key in merged:
            del merged[key]
            _drop_lines(base_lines, path + (key,))
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value, base_lines, override_lines, path + (key,))
        else:
            _drop_lines(base_lines, path + (key,))
            merged[key] = value
    return merged


def _drop_lines(lines: Lines, prefix: PathKey) -> None:
    for key in [key for key in lines if key[: len(prefix)] == prefix]:
        del lines[key]


def _read_with_extends(path: Path, depth: int = 0, chain: tuple[Path, ...] = ()) -> tuple[dict[str, Any], Lines]:
    resolved = path.resolve()
    if resolved in chain:
        raise InputError(f"{path}: extends itself through {' -> '.join(str(p) for p in chain)}; break the cycle")
    if depth > MAX_EXTENDS_DEPTH:
        raise InputError(f"{path}: more than {MAX_EXTENDS_DEPTH} levels of extends")
    data, lines = _read_yaml(path)
    parent_spec = data.pop("extends", None)
    if parent_spec is None:
        return data, lines
    if not isinstance(parent_spec, str):
        raise InputError(f"{lines[('extends',)]}: extends: give one recipe path or shipped name, got {parent_spec!r}")
    try:
        parent_path = resolve_recipe_path(parent_spec, relative_to=path.parent)
    except InputError as error:
        raise InputError(f"{lines[('extends',)]}: extends: {error}") from None
    base, base_lines = _read_with_extends(parent_path, depth + 1, chain + (resolved,))
    merged_lines = dict(base_lines)
    merged = _merge(base, data, merged_lines, lines)
    merged_lines.update(lines)
    return merged, merged_lines


def _dotted(path: PathKey) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _where(lines: Lines, path: PathKey, fallback: str) -> str:
    """The nearest recorded line for `path` (a missing key points at its parent)."""
    for cut in range(len(path), -1, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return fallback


def _validation_message(error: ValidationError, model_type: type[BaseModel]) -> tuple[PathKey, str]:
    first = error.errors()[0]
    loc = tuple(first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        fields = _fields_at(model_type, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), fields, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return loc, f"unknown key {loc[-1]!r}: {hint}valid keys: {', '.join(fields)}"
    if kind == "missing":
        return loc, "required key is missing"
    message = first["msg"].removeprefix("Value error, ")
    return loc, f"{message} (got {first.get('input')!r})"


def _fields_at(model_type: type[BaseModel], loc: PathKey) -> list[str]:
    current: Any = model_type
    for part in loc:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None or not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return sorted(getattr(current, "model_fields", {}))
        current = field.annotation
    return sorted(getattr(current, "model_fields", {}))


def _parse_step(item: Any, path: PathKey, lines: Lines, fallback: str) -> Step:
    types = pass_types()
    if isinstance(item, str):  # `- export` with the defaults
        item = {item: None}
    if not isinstance(item, dict) or len(item) != 1:
        raise InputError(f"{_where(lines, path, fallback)}: {_dotted(path)}: a step is one pass name with its config, "
                         f"e.g. `- quantize: {{mode: dynamic}}` (passes: {', '.join(types)})")
    (name, values), = item.items()
    if name not in types:
        close = difflib.get_close_matches(str(name), list(types), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InputError(f"{_where(lines, path + (name,), fallback)}: {_dotted(path)}: unknown pass {name!r}: {hint}"
                         f"passes: {', '.join(types)}")
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise InputError(f"{_where(lines, path + (name,), fallback)}: {_dotted(path + (name,))}: the config of a step is a "
                         f"mapping of its options, got {values!r}")
    config_type = types[name]
    try:
        config = config_type.model_validate(values)
    except ValidationError as error:
        loc, message = _validation_message(error, config_type)
        full = path + (name,) + loc
        raise InputError(f"{_where(lines, full, fallback)}: {_dotted(full)}: {message}") from None
    return Step(name, config)


def _check_chain(model: str, variant: str, steps: tuple[Step, ...], lines: Lines, fallback: str) -> None:
    """Each step must take the kind of model the previous one makes (its config declares both)."""
    kind = kind_of_spec(model)
    for index, step in enumerate(steps):
        problem = step.config.refusal(kind)
        if problem:
            path = ("variants", variant, index)
            raise InputError(f"{_where(lines, path, fallback)}: {_dotted(path)}: {problem}")
        kind = step.config.produces(kind)


def _check_names(recipe: Recipe, lines: Lines, fallback: str) -> None:
    """The target and a zoo model are names: a typo is caught here, with its line, before any work."""
    from mc.models import get_model_entry
    from mc.models.source import is_zoo_spec
    from mc.targets import load_target

    try:
        load_target(recipe.target)
    except InputError as error:
        raise InputError(f"{_where(lines, ('target',), fallback)}: target: {error}") from None
    if is_zoo_spec(recipe.model):
        try:
            get_model_entry(recipe.model)
        except InputError as error:
            raise InputError(f"{_where(lines, ('model',), fallback)}: model: {error}") from None


def _resolve_inputs(inputs: tuple[str, ...], lines: Lines, fallback: str) -> tuple[str, ...]:
    """Each declared input as an absolute path, relative to the recipe file that names it (an
    `extends:` parent's inputs are relative to the parent); a missing one is refused with its line."""
    resolved = []
    for index, spec in enumerate(inputs):
        where = _where(lines, ("inputs", index), fallback)
        declared_in = Path(where.rsplit(":", 1)[0]).parent
        path = Path(spec).expanduser()
        path = path if path.is_absolute() else declared_in / path
        if not path.exists():
            raise InputError(f"{where}: inputs[{index}]: {spec} not found (paths are relative to the recipe file)")
        resolved.append(str(path.resolve()))
    return tuple(resolved)


def parse_recipe(data: dict[str, Any], lines: Lines, source: str) -> Recipe:
    """A validated Recipe from merged YAML data; errors name the file and line."""
    fallback = f"{source}:1"
    unknown = [key for key in data if key not in TOP_LEVEL_KEYS]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), sorted(TOP_LEVEL_KEYS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InputError(f"{_where(lines, (key,), fallback)}: unknown key {key!r}: {hint}valid keys: {', '.join(sorted(TOP_LEVEL_KEYS))}")
    raw_variants = data.get("variants")
    if not isinstance(raw_variants, dict) or not raw_variants:
        raise InputError(f"{_where(lines, ('variants',), fallback)}: variants: give at least one named variant, each a list "
                         "of steps (e.g. `fp32: [export]`)")
    variants: dict[str, tuple[Step, ...]] = {}
    for name, steps in raw_variants.items():
        path = ("variants", name)
        if not safe_name(name):  # it names a folder of the run: `../x` would write outside it
            raise InputError(f"{_where(lines, ('variants', str(name)), fallback)}: variants: variant name {name!r}: {NAME_RULE}")
        if not isinstance(steps, list) or not steps:
            raise InputError(f"{_where(lines, path, fallback)}: {_dotted(path)}: a variant is a non-empty list of steps")
        variants[str(name)] = tuple(_parse_step(item, path + (index,), lines, fallback) for index, item in enumerate(steps))
    values = {key: value for key, value in data.items() if key != "variants"}
    try:
        recipe = Recipe.model_validate({**values, "variants": variants, "source": source})
    except ValidationError as error:
        loc, message = _validation_message(error, Recipe)
        if loc == ("name",) and isinstance(values.get("name"), str):
            message = f"recipe name {values.get('name')!r}: {NAME_RULE}"
        raise InputError(f"{_where(lines, loc, fallback)}: {_dotted(loc)}: {message}") from None
    for path, message in recipe.problems():
        raise InputError(f"{_where(lines, path, fallback)}: {_dotted(path)}: {message}")
    if recipe.inputs:
        recipe = recipe.model_copy(update={"inputs": _resolve_inputs(recipe.inputs, lines, fallback)})
    _check_names(recipe, lines, fallback)
    for name, steps in recipe.variants.items():
        _check_chain(recipe.model, name, steps, lines, fallback)
    return recipe


def load_recipe(spec: str) -> Recipe:
    """A recipe from a YAML path or a shipped name, `extends:` resolved, fully validated."""
    path = resolve_recipe_path(spec)
    data, lines = _read_with_extends(path)
    return parse_recipe(data, lines, str(path))


__all__ = ["Gates", "load_recipe", "parse_recipe", "resolve_recipe_path", "shipped_recipe_names"]
