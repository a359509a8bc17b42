"""YAML parsing that remembers where every node came from.

PyYAML's own constructor forgets positions, accepts duplicate keys and reads `16:9` as the
sexagesimal integer 969 (YAML 1.1). This builds plain Python data from the composed node tree
instead, recording the line and column of every key and value by path, refusing duplicate keys
and recursive aliases, honouring anchors and `<<` merge keys, and resolving scalars the YAML 1.2
way for base-60 numbers (`16:9` stays a string) and dates (`2024-03-01` stays a string).

A manifest may come from anyone's pull request, so parsing is bounded: the text's size, how deep
it nests and how many values it expands to (aliases repeat their anchor each time: a "billion
laughs" document is small on disk and huge in memory). Scalars must be plain JSON-like values: an
integer within 64 bits, a finite number, text that is valid Unicode.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from kling_pipe.errors import ManifestError, Problem, SourceLocation
from kling_pipe.manifest.encoding import decode_source

Path_ = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"

MAX_DOCUMENT_BYTES = 128 << 10
"""The largest manifest read: 4 times a 100-shot campaign. PyYAML's pure-Python scanner takes
10-30 µs a byte, so this also bounds parsing to a few seconds on a busy machine."""
MAX_DEPTH = 64
"""How deeply collections may nest."""
MAX_VALUES = 100_000
"""How many values a document may expand to, aliases counted each time they are used."""
_INT_RANGE = (-(2**63), 2**63 - 1)
_PLAIN_SCALARS = (str, int, float, bool, type(None))


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.1 resolution minus base-60 numbers, which turn aspect ratios into integers."""


_Resolver.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if not (tag.endswith((":int", ":float")) and ":[0-5]?[0-9]" in regexp.pattern)
        and not tag.endswith(":timestamp")
    ]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(
        r"""^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$""",
        re.X,
    ),
    list("-+0123456789"),
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


class _ComposeLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    yaml.constructor.SafeConstructor,
    _Resolver,
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        _Resolver.__init__(self)
        self._depth = 0

    def increase_flow_level(self) -> None:
        # The scanner looks ahead through a whole flow collection, at a cost that grows with
        # its nesting on every token: `[[[[…` is quadratic. Refuse depth where it is scanned.
        yaml.scanner.Scanner.increase_flow_level(self)  # type: ignore[attr-defined]
        if self.flow_level > MAX_DEPTH:
            mark = self.get_mark()
            raise yaml.scanner.ScannerError(
                None, None, f"nested more than {MAX_DEPTH} levels deep", mark
            )

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # PyYAML composes recursively: refuse deep nesting before Python's stack runs out.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


@dataclass
class YamlDocument:
    """Plain data parsed from YAML, with the position of every value and key by path."""

    file: str
    data: Any
    value_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    block_scalars: set[Path_] = field(default_factory=set)  # `|` or `>`: text starts a line later
    source: str = ""
    scalar_spans: dict[Path_, tuple[int, int]] = field(default_factory=dict)  # [start, end)

    def location(self, path: Path_, *, key: bool = False) -> SourceLocation:
        """Where `path` is written; the nearest enclosing node when it is not (a missing field)."""
        table = self.key_positions if key else self.value_positions
        probe = tuple(path)
        while probe:
            if probe in table:
                line, col = table[probe]
                return SourceLocation(self.file, line, col)
            if not key and probe in self.key_positions:
                line, col = self.key_positions[probe]
                return SourceLocation(self.file, line, col)
            probe = probe[:-1]
        line, col = self.value_positions.get((), (1, 1))
        return SourceLocation(self.file, line, col)

    def word_location(
        self, path: Path_, value: str, line: int, column: int, word: str
    ) -> SourceLocation | None:
        """Where `word`, found at `line`:`column` of the scalar `value` at `path`, is written.

        Quotes, escapes, line folding and block indentation move text about but never split a
        word, so the n-th occurrence of the word in the value is its n-th in the scalar's source.
        None when that does not hold (a word spelt with escapes).
        """
        span = self.scalar_spans.get(path)
        if span is None or not self.source:
            return None
        lines = re.split(r"\r\n|\r|\n", value)
        offset = sum(len(text) + 1 for text in lines[: line - 1]) + column - 1
        pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")
        nth = sum(1 for found in pattern.finditer(value) if found.start() < offset)
        start, end = span
        if path in self.block_scalars:  # skip the `|` line: it may hold a comment
            start = self.source.find("\n", start, end) + 1 or end
        matches = list(pattern.finditer(self.source, start, end))
        if nth >= len(matches):
            return None
        index = matches[nth].start()
        line_start = self.source.rfind("\n", 0, index) + 1
        return SourceLocation(
            self.file, self.source.count("\n", 0, index) + 1, index - line_start + 1
        )


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _TooManyValues(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def _shown(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _tag_name(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


def scalar_problem(value: Any) -> str | None:
    """Why a constructed scalar cannot be manifest data, or None when it can."""
    if not isinstance(value, _PLAIN_SCALARS):
        return f"a {type(value).__name__} value is not supported here; write it as plain text"
    if isinstance(value, int) and not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
        return "integer out of range: at most 64 bits (19 digits)"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            code = ord(value[exc.start])
            return (
                f"text contains a lone surrogate (\\u{code:04x} at character {exc.start + 1}), "
                "which is not a Unicode character"
            )
    return None


class _Builder:
    def __init__(self, loader: _ComposeLoader, doc: YamlDocument) -> None:
        self._loader = loader
        self._doc = doc
        self._active: set[int] = set()
        self._values = 0
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self._values += 1
        if self._values > MAX_VALUES:
            raise _TooManyValues(node)
        self._doc.value_positions.setdefault(path, _mark(node))
        if id(node) in self._active:
            self.problems.append(
                Problem("recursive alias: a node contains itself", self._doc.location(path))
            )
            return None
        if isinstance(node, yaml.ScalarNode):
            self._doc.scalar_spans.setdefault(path, (node.start_mark.index, node.end_mark.index))
            if node.style in ("|", ">"):
                self._doc.block_scalars.add(path)
            return self._scalar(node, path)
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
        finally:
            self._active.discard(id(node))
        return None

    def _scalar(self, node: yaml.ScalarNode, path: Path_) -> Any:
        try:
            value = self._loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            self.problems.append(Problem(str(exc.problem), self._doc.location(path)))
            return None
        except Exception:
            # PyYAML's constructors raise whatever Python raises on the text: ValueError for
            # `!!int abc` or digits beyond the int-to-text limit, KeyError for `!!bool maybe`,
            # AttributeError for `!!timestamp abc`. The text is the user's; the fault is theirs.
            message = f"{_shown(node.value)} is not a valid {_tag_name(node.tag)}"
            if node.tag.endswith(":int") and re.fullmatch(r"[-+]?[0-9_]+", node.value):
                message = "integer out of range: at most 64 bits (19 digits)"
            self.problems.append(Problem(message, self._doc.location(path)))
            return None
        problem = scalar_problem(value)
        if problem is not None:
            self.problems.append(Problem(problem, self._doc.location(path)))
            return None
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged_sources: list[yaml.MappingNode] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in sources:
                    if isinstance(source, yaml.MappingNode):
                        merged_sources.append(source)
                    else:
                        self.problems.append(
                            Problem(
                                "a merge key (<<) takes a mapping or a list of mappings",
                                SourceLocation(self._doc.file, *_mark(source)),
                            )
                        )
                continue
            key = self.build(key_node, (*path, "<key>"))
            if isinstance(key, list | dict):
                self.problems.append(
                    Problem(
                        "a mapping key must be a plain value",
                        SourceLocation(self._doc.file, *_mark(key_node)),
                    )
                )
                continue
            if not isinstance(key, str):
                text = key_node.value if isinstance(key_node, yaml.ScalarNode) else ""
                self.problems.append(
                    Problem(
                        f"a mapping key must be text, got {key!r}; quote it to mean the text "
                        f"{_shown(str(text))}",
                        SourceLocation(self._doc.file, *_mark(key_node)),
                    )
                )
                continue
            child = (*path, key)
            if key in result:
                first_line, _ = self._doc.key_positions[child]
                self.problems.append(
                    Problem(
                        f"duplicate key {key!r} (first given on line {first_line})",
                        SourceLocation(self._doc.file, *_mark(key_node)),
                        ".".join(str(p) for p in child),
                    )
                )
                continue
            self._doc.key_positions[child] = _mark(key_node)
            self._doc.value_positions[child] = _mark(value_node)
            result[key] = self.build(value_node, child)
        # Merged keys never override keys written in the mapping itself; earlier sources win.
        own_positions = {
            key: (self._doc.key_positions[(*path, key)], self._doc.value_positions[(*path, key)])
            for key in result
        }
        for source in merged_sources:
            merged = self._mapping(source, path)
            for key, value in merged.items():
                result.setdefault(key, value)
        for key, (key_mark, value_mark) in own_positions.items():
            self._doc.key_positions[(*path, key)] = key_mark
            self._doc.value_positions[(*path, key)] = value_mark
        return result


def parse_yaml(text: str | bytes, file: str) -> YamlDocument:
    """Parse one YAML document into plain data with positions; ManifestError on any problem."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ManifestError(
            [
                Problem(
                    f"the file is {len(text):,} bytes; a manifest may be at most "
                    f"{MAX_DOCUMENT_BYTES:,}",
                    SourceLocation(file),
                )
            ]
        )
    if isinstance(text, bytes):
        text = decode_source(text, file)
    doc = YamlDocument(file=file, data=None, source=text)
    try:
        loader = _ComposeLoader(text)
    except yaml.reader.ReaderError as exc:
        raise ManifestError([_reader_problem(exc, text, file)]) from None
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise ManifestError([_syntax_problem(exc, text, file)]) from None
    except yaml.reader.ReaderError as exc:
        raise ManifestError([_reader_problem(exc, text, file)]) from None
    except yaml.YAMLError as exc:
        raise ManifestError([Problem(f"YAML syntax: {exc}", SourceLocation(file))]) from None
    finally:
        loader.dispose()
    if node is None:
        raise ManifestError([Problem("the file is empty", SourceLocation(file, 1, 1))])
    builder = _Builder(loader, doc)
    try:
        doc.data = builder.build(node, ())
    except RecursionError:
        raise ManifestError(
            [Problem("YAML nested too deeply", SourceLocation(file, *_mark(node)))]
        ) from None
    except _TooManyValues as exc:
        raise ManifestError(
            [
                Problem(
                    f"the document expands to more than {MAX_VALUES:,} values (each use of an "
                    "alias repeats its anchor's data)",
                    SourceLocation(file, *_mark(exc.node)),
                )
            ]
        ) from None
    if builder.problems:
        raise ManifestError(builder.problems)
    return doc


# Scanner and parser errors that almost always mean a line is indented wrongly (or, for mapping
# values, that a plain value contains ": " and needs quotes).
_INDENTATION_PROBLEMS = (
    "mapping values are not allowed here",
    "did not find expected key",
    "did not find expected '-' indicator",
    "could not find expected ':'",
    "expected <block end>",
    "expected a block",
)
_TOKEN_NAMES = {
    "'?'": "a key",
    "'-'": "a list item",
    "'<block mapping start>'": "an indented mapping",
    "'<block sequence start>'": "an indented list",
    "'<block end>'": "the end of an indented block",
    "'<scalar>'": "a value",
}


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, file: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    problem = str(exc.problem or exc.context or "invalid YAML")
    for token, name in _TOKEN_NAMES.items():
        problem = problem.replace(f"found {token}", f"found {name}")
    message = f"{problem} ({exc.context})" if exc.context and exc.problem else problem
    rows = text.splitlines()
    row = rows[mark.line] if mark and mark.line < len(rows) else ""
    after_a_value = mark is not None and bool(row[: mark.column].strip(" -"))
    opened = exc.context_mark
    opened_at = f"line {opened.line + 1} column {opened.column + 1}" if opened else ""
    if "found character '\\t'" in problem:
        message += "; YAML is indented with spaces, never tabs"
    elif "that cannot start any token" in problem:
        message += "; quote a value that starts with this character"
    elif "unknown escape character" in problem:
        message += "; inside double quotes a backslash starts an escape: use single quotes"
    elif opened and problem.endswith("end of stream") and "quoted scalar" in str(exc.context):
        # The scanner only notices at the end of the file; the mistake is the opening quote.
        mark = opened
        message = "this quoted value is never closed: add the closing quote"
    elif opened and problem.startswith("could not find expected ':'"):
        mark = opened
        message = f"{problem} after this key: write `key: value`, a colon and a space after it"
    elif opened and exc.context in (
        "while parsing a flow sequence",
        "while parsing a flow mapping",
    ):
        bracket = "[" if "sequence" in exc.context else "{"
        message += f"; the {bracket!r} opened at {opened_at} is not closed before this"
    elif after_a_value and problem.endswith("but found a value"):
        # `b: "say "hi" now"`: the value ended at the second quote and text follows it.
        message += (
            "; text follows a quoted value: put a value that contains quotes in the other kind "
            "of quotes (or double a ' inside '…')"
        )
    elif mark is not None and problem.startswith(_INDENTATION_PROBLEMS):
        message += (
            f"; check the indentation at line {mark.line + 1}: keys of one mapping start in the "
            "same column, nested ones further right"
        )
        if problem.startswith("mapping values"):
            message += ", and a value containing ': ' needs quotes"
    where = SourceLocation(file, mark.line + 1, mark.column + 1) if mark else SourceLocation(file)
    return Problem(f"YAML syntax: {message}", where)


def _reader_problem(exc: yaml.reader.ReaderError, text: str, file: str) -> Problem:
    """A character YAML does not allow (a control character), located by line and column."""
    before = text[: exc.position]
    line = before.count("\n") + 1
    column = exc.position - (before.rfind("\n") + 1) + 1
    character = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or " ")
    return Problem(
        f"not YAML text: {exc.reason} (character U+{character:04X})",
        SourceLocation(file, line, column),
    )
