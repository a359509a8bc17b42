"""Prompt templates: Jinja2 in a sandbox, strict about undefined names, includes from
`templates/` folders only, and a few filters prompt writers need.

Values in the context are data: Jinja never renders a value's text a second time, so a market's
tagline containing `{{` stays literal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import jinja2
import jinja2.sandbox

TemplateReader = Callable[[str], tuple[str, str] | None]
"""Returns (source, display filename) of a template name in the templates folders, or None."""


def ratio_slug(value: Any) -> str:
    """`16:9` → `16x9`: an aspect ratio (or any value) made safe for file names."""
    text = str(value).strip().replace(":", "x")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "_"


def dialogue(value: Any) -> str:
    """Wrap text as spoken dialogue: `"…"`, with its own double quotes turned into single ones."""
    text = str(value).strip().replace('"', "'").replace("“", "'").replace("”", "'")
    return f'"{text}"'


FILTERS: dict[str, Callable[..., Any]] = {"ratio_slug": ratio_slug, "dialogue": dialogue}


@dataclass(frozen=True)
class TemplateFailure(Exception):
    """A template failed to compile or render; `file`/`line` point into the template's text."""

    message: str
    file: str | None
    line: int | None

    def __str__(self) -> str:
        return self.message


class _SafeNamesLoader(jinja2.BaseLoader):
    def __init__(self, reader: TemplateReader) -> None:
        self._reader = reader
        self.served: set[str] = {INLINE_PREFIX}

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        if template.startswith(("/", "\\")) or ".." in template.replace("\\", "/").split("/"):
            raise jinja2.TemplateNotFound(
                f"{template} (templates are included by a name inside a templates/ folder)"
            )
        found = self._reader(template)
        if found is None:
            raise jinja2.TemplateNotFound(template)
        source, filename = found
        self.served.add(filename)
        return source, filename, lambda: True


INLINE_PREFIX = "<inline>"


class PromptTemplates:
    """Compiles each template text once and renders it for many contexts."""

    def __init__(self, reader: TemplateReader) -> None:
        self._loader = _SafeNamesLoader(reader)
        self._env = jinja2.sandbox.ImmutableSandboxedEnvironment(
            loader=self._loader,
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
        )
        self._env.filters.update(FILTERS)
        self._compiled: dict[str, jinja2.Template] = {}

    def compile(self, source: str) -> jinja2.Template:
        """The compiled template of `source`; TemplateFailure on a syntax error."""
        template = self._compiled.get(source)
        if template is None:
            try:
                code = self._env.compile(source, name=None, filename=INLINE_PREFIX)
            except jinja2.TemplateSyntaxError as exc:
                raise _failure(exc, None, self._loader.served) from None
            template = self._env.template_class.from_code(self._env, code, self._env.globals)
            self._compiled[source] = template
        return template

    def render(self, source: str, context: Mapping[str, Any]) -> str:
        """Render `source` with `context`; TemplateFailure says what and where."""
        template = self.compile(source)
        try:
            return template.render(context)
        except jinja2.TemplateError as exc:
            raise _failure(exc, exc.__traceback__, self._loader.served) from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise _failure(exc, exc.__traceback__, self._loader.served) from None


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
    else:
        message = f"{type(exc).__name__}: {exc}"
    file, line = _innermost_template_frame(tb, served)
    return TemplateFailure(message, file, line)


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
