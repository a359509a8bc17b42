"""Prompt templates: Jinja2 in a sandbox, strict about undefined names, includes from
`templates/` folders only, and a few filters prompt writers need.

Values in the context are data: Jinja never renders a value's text a second time, so a market's
tagline containing `{{` stays literal.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast

import jinja2
import jinja2.sandbox
from jinja2.utils import missing

from kling_pipe.errors import InputError, ManifestError
from kling_pipe.planning.sandbox import LimitedSandbox, PlanAllowance, RenderLimitError
from kling_pipe.spelling import did_you_mean

TemplateReader = Callable[[str], tuple[str, str] | None]
"""Returns (source, display filename) of a template name in the templates folders, or None."""


MAX_SLUG = 64
"""Characters in a slug: job ids and output paths are built from them."""


def ratio_slug(value: Any) -> str:
    """`16:9` → `16x9`: an aspect ratio (or any value) made safe for file names.

    Safe by construction: never empty, `.` or `..`, never a separator or NUL, at most
    `MAX_SLUG` characters (a longer value keeps its start and a hash of the rest).
    """
    text = str(value).strip().replace(":", "x")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "_"
    if not slug.strip("."):
        slug = slug.replace(".", "_")  # `.` and `..` name folders, not files
    if len(slug) > MAX_SLUG:
        digest = hashlib.sha256(slug.encode("utf-8")).hexdigest()[:8]
        slug = f"{slug[: MAX_SLUG - 9]}-{digest}"
    return slug


def dialogue(value: Any) -> str:
    """Wrap text as spoken dialogue: `"…"`, with its own double quotes turned into single ones."""
    text = str(value).strip().replace('"', "'").replace("“", "'").replace("”", "'")
    return f'"{text}"'


FILTERS: dict[str, Callable[..., Any]] = {"ratio_slug": ratio_slug, "dialogue": dialogue}


@dataclass(frozen=True)
class TemplateFailure(Exception):
    """A template failed to compile or render; `file`/`line`/`column` point into its text.

    `name` is the undefined name the column points at, when that is what failed.
    """

    message: str
    file: str | None
    line: int | None
    column: int | None = None
    name: str | None = None

    def __str__(self) -> str:
        return self.message


class _UndefinedName(jinja2.UndefinedError):
    """An undefined name, with the object it was looked up on (`missing`: the context)."""

    def __init__(self, message: str | None = None, *, name: Any = None, owner: Any = missing):
        super().__init__(message)
        self.name = name
        self.owner = owner


class _StrictUndefined(jinja2.StrictUndefined):
    """StrictUndefined whose error remembers which name was undefined, for a did-you-mean."""

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[jinja2.TemplateRuntimeError] = jinja2.UndefinedError,
    ) -> None:
        super().__init__(hint, obj, name, exc)
        if exc is jinja2.UndefinedError:  # the sandbox passes its SecurityError: keep that
            self._undefined_exception = cast(
                type[jinja2.TemplateRuntimeError],
                functools.partial(_UndefinedName, name=name, owner=obj),
            )


class _SafeNamesLoader(jinja2.BaseLoader):
    def __init__(self, reader: TemplateReader) -> None:
        self._reader = reader
        self.served: set[str] = {INLINE_PREFIX}
        self.texts: dict[str, str] = {}  # display filename → source, to find columns in

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        if template.startswith(("/", "\\")) or ".." in template.replace("\\", "/").split("/"):
            raise jinja2.TemplateNotFound(
                template,
                f"{template!r} (templates are included by a name inside a templates/ folder)",
            )
        found = self._reader(template)
        if found is None:
            raise jinja2.TemplateNotFound(template, repr(template))
        source, filename = found
        self.served.add(filename)
        self.texts[filename] = source
        return source, filename, lambda: True


INLINE_PREFIX = "<inline>"


class PromptTemplates:
    """Compiles each template text once and renders it for many contexts."""

    def __init__(self, reader: TemplateReader) -> None:
        self._loader = _SafeNamesLoader(reader)
        self._env = LimitedSandbox(
            loader=self._loader,
            undefined=_StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
        )
        self._env.add_filters(FILTERS)
        self._compiled: dict[str, jinja2.Template] = {}
        self._allowance = PlanAllowance.for_jobs(1)
        self._over_budget: dict[str, TemplateFailure] = {}

    def allow_for(self, jobs: int) -> None:
        """Size the render budget the templates share for a plan of `jobs` jobs."""
        self._allowance = PlanAllowance.for_jobs(jobs)

    def compile(self, source: str) -> jinja2.Template:
        """The compiled template of `source`; TemplateFailure on a syntax error."""
        template = self._compiled.get(source)
        if template is None:
            try:
                code = self._env.compile(source, name=None, filename=INLINE_PREFIX)
            except jinja2.TemplateSyntaxError as exc:
                raise self._hint_unknown_filter_or_test(
                    _failure(exc, None, self._loader.served), source
                ) from None
            except RecursionError:
                raise TemplateFailure(
                    "template syntax: nested too deeply", INLINE_PREFIX, None
                ) from None
            template = self._env.template_class.from_code(self._env, code, self._env.globals)
            self._compiled[source] = template
        return template

    def render(self, source: str, context: Mapping[str, Any]) -> str:
        """Render `source` with `context`; TemplateFailure says what and where."""
        template = self.compile(source)
        if source in self._over_budget:  # it would fail the same way again, slowly
            raise self._over_budget[source]
        self._env.start_render(self._allowance)
        try:
            return template.render(context)
        except (RenderLimitError, RecursionError) as exc:  # too much work; endless includes
            failure = _failure(exc, exc.__traceback__, self._loader.served)
            self._over_budget[source] = failure
            raise failure from None
        except _UndefinedName as exc:
            raise self._undefined_failure(exc, source, context) from None
        except jinja2.TemplateError as exc:
            failure = _failure(exc, exc.__traceback__, self._loader.served)
            raise self._hint_unknown_filter_or_test(failure, source) from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise _failure(exc, exc.__traceback__, self._loader.served) from None
        except ManifestError:  # an included file that says where it is wrong (its encoding)
            raise
        except InputError as exc:  # an include refused by the reader
            raise _failure(exc, exc.__traceback__, self._loader.served) from None
        finally:
            self._env.finish_render()

    def _hint_unknown_filter_or_test(
        self, failure: TemplateFailure, source: str
    ) -> TemplateFailure:
        """An unknown filter or test gets its column and the closest one that exists."""
        unknown = _UNKNOWN_FILTER_OR_TEST.search(failure.message)
        if unknown is None:
            return failure
        kind, name = unknown.groups()
        known = list(self._env.filters if kind == "filter" else self._env.tests)
        text = (
            source if failure.file == INLINE_PREFIX else self._loader.texts.get(failure.file or "")
        )
        column = _column_of(name, text, failure.line)
        return dataclasses.replace(
            failure,
            message=f"unknown {kind} {name!r}" + _did_you_mean(name, known, listing=False),
            column=column,
            name=name if column else None,
        )

    def _undefined_failure(
        self, exc: _UndefinedName, source: str, context: Mapping[str, Any]
    ) -> TemplateFailure:
        """Where the undefined name is written, and the defined name it is closest to."""
        file, line = _innermost_template_frame(exc.__traceback__, self._loader.served)
        name = exc.name if isinstance(exc.name, str) and exc.name.isidentifier() else None
        if name is None:  # a value used as a name: it may hold a file's text, never quote it
            message = f"undefined variable or key: {without_values(exc.message or '')}"
            candidates = []
        elif exc.owner is missing:
            message = f"undefined variable {name!r}"
            candidates = [str(k) for k in context]
        else:
            message = f"undefined: {without_values(exc.message or '')}"
            candidates = [str(k) for k in exc.owner] if isinstance(exc.owner, Mapping) else []
        message += _did_you_mean(name, candidates)
        text = source if file == INLINE_PREFIX else self._loader.texts.get(file or "")
        column = _column_of(name, text, line)
        return TemplateFailure(message, file, line, column, name if column else None)


_UNKNOWN_FILTER_OR_TEST = re.compile(r"No (filter|test) named '(\w+)'")


def _did_you_mean(name: str | None, candidates: list[str], *, listing: bool = True) -> str:
    """`; did you mean 'product'?`, or the names there are when none is close; '' if none."""
    if name is None or not candidates:
        return ""
    close = did_you_mean(name, candidates)
    if close:
        return f"; did you mean {close!r}?"
    if listing and len(candidates) <= 12:
        return f" (defined: {', '.join(sorted(candidates))})"
    return ""


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # how Jinja counts lines


def _column_of(name: str | None, text: str | None, line: int | None) -> int | None:
    """1-based column of `name` on `line` of `text`, preferring where it is inside a tag."""
    if name is None or text is None or line is None:
        return None
    lines = _LINE_BREAK.split(text)
    if not 0 < line <= len(lines):
        return None
    row = lines[line - 1]
    word = re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])")
    for tag in re.finditer(r"\{\{.*?(\}\}|$)|\{%.*?(%\}|$)", row):
        found = word.search(row, tag.start(), tag.end())
        if found:
            return found.start() + 1
    found = word.search(row)
    return found.start() + 1 if found else None


def _failure(exc: Exception, tb: TracebackType | None, served: set[str]) -> TemplateFailure:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return TemplateFailure(
            f"template syntax: {exc.message}", exc.filename or INLINE_PREFIX, exc.lineno
        )
    if isinstance(exc, jinja2.TemplateNotFound):
        message = f"template not found in any templates/ folder: {exc.message}"
    elif isinstance(exc, jinja2.exceptions.SecurityError):
        message = f"refused by the template sandbox: {exc}"
    elif isinstance(exc, jinja2.UndefinedError):
        message = f"undefined variable: {exc.message}"
    elif isinstance(exc, RenderLimitError | InputError):
        message = str(exc)
    elif isinstance(exc, RecursionError):
        message = "templates include each other, or a macro calls itself, without end"
    else:
        message = f"{type(exc).__name__}: {exc}"
    file, line = _innermost_template_frame(tb, served)
    return TemplateFailure(without_values(message), file, line)


_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_SAFE_QUOTED = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,127}( object)?")
_MAX_MESSAGE = 300


def without_values(message: str) -> str:
    """A render error's message without the values it quotes, beyond names and types.

    Python's and Jinja's messages quote the values involved (`'dict object' has no attribute
    'root:x:0:0:…'`): with an include or a variable holding a file, that would print the file.
    Names and type names stay; anything else quoted becomes '…'; one line, bounded length.
    """
    lines = message.splitlines() or [""]
    first = _QUOTED.sub(
        lambda m: m.group(0) if _SAFE_QUOTED.fullmatch(m.group(0)[1:-1]) else "'…'", lines[0]
    )
    if len(first) > _MAX_MESSAGE:
        first = first[: _MAX_MESSAGE - 1] + "…"
    return first


def _innermost_template_frame(
    tb: TracebackType | None, served: set[str]
) -> tuple[str | None, int | None]:
    """Jinja rewrites tracebacks so template frames carry the template's file and line."""
    found: tuple[str | None, int | None] = (None, None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename in served:
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found
