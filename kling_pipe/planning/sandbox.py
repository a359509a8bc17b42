"""The template sandbox with a budget: how much work and text one job's templates may cost.

Jinja's sandbox keeps templates away from Python's internals, not from the machine's time and
memory: `9**(9**9)`, `'a' * 10**9`, nested `range(99999)` loops or a macro calling itself twice
per call each stall or exhaust a run from one line of a manifest. Here every operation that can
build a large value or repeat work is metered:

- sizes are checked *before* an operation that could make a large value in one step (repetition,
  powers, padding, replacing, joining, format widths), and every value made is charged;
- loop iterations, calls, filters and lookups count as steps;
- a render stops past `MAX_STEPS` steps, `MAX_MADE` characters made, or `MAX_SECONDS`.

Any limit reached raises `RenderLimitError`, which the planner reports at the template's location.
Valid prompts are a few hundred characters and a few hundred steps, far inside every limit, so
the clock never decides a successful render's output.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.sandbox
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame

MAX_TEXT = 100_000
"""Characters (or items) in any one value a template makes, its output included."""
MAX_MADE = 5_000_000
"""Characters a render may make in all, intermediate values included."""
MAX_STEPS = 100_000
"""Loop iterations, calls, filters and lookups in one render."""
MAX_RANGE = 10_000
"""Items of one `range(…)`."""
MAX_INT_BITS = 1024
"""Size of an integer a template may compute (about 308 digits)."""
MAX_SECONDS = 2.0
"""Wall time of one render: the backstop for work the other limits do not see."""
PLAN_STEPS = 200_000
PLAN_STEPS_PER_JOB = 200
PLAN_SECONDS = 5.0
PLAN_SECONDS_PER_JOB = 0.0002
"""Steps and seconds all the renders of one plan may take together: a pool that grows with
the number of jobs, so that templates just under the per-render limits cannot stall a plan of
thousands of jobs. A real prompt takes a few steps and microseconds."""

_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE_FIELD = re.compile(r"\{[^{}]*\}")
_DIGITS = re.compile(r"\d+")
_PADDING_METHODS = {"center", "ljust", "rjust", "zfill", "expandtabs"}
_SAFE_STR_METHODS = {
    "capitalize",
    "casefold",
    "count",
    "endswith",
    "find",
    "index",
    "isalnum",
    "isalpha",
    "isascii",
    "isdecimal",
    "isdigit",
    "isidentifier",
    "islower",
    "isnumeric",
    "isprintable",
    "isspace",
    "istitle",
    "isupper",
    "lower",
    "lstrip",
    "partition",
    "removeprefix",
    "removesuffix",
    "rfind",
    "rindex",
    "rpartition",
    "rsplit",
    "rstrip",
    "split",
    "splitlines",
    "startswith",
    "strip",
    "swapcase",
    "title",
    "upper",
}
_SIZED_FILTERS = {"center", "indent", "wordwrap", "batch", "slice", "truncate"}


class RenderLimitError(jinja2.TemplateRuntimeError):
    """A template went over its render budget (time, steps, size of a value)."""


@dataclass
class PlanAllowance:
    """The steps and seconds shared by every render of one plan, and how much is used."""

    steps: int
    seconds: float
    used_steps: int = 0
    used_seconds: float = 0.0

    @classmethod
    def for_jobs(cls, jobs: int) -> PlanAllowance:
        """The allowance of a plan of `jobs` jobs."""
        return cls(
            PLAN_STEPS + PLAN_STEPS_PER_JOB * jobs, PLAN_SECONDS + PLAN_SECONDS_PER_JOB * jobs
        )


class RenderBudget:
    """Steps taken and characters made by one render, against the limits."""

    def __init__(
        self,
        allowance: PlanAllowance | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.steps = 0
        self.made = 0
        self._allowance = allowance or PlanAllowance.for_jobs(1)
        self._clock = clock
        self._started = clock()

    def step(self) -> None:
        """Count one step; RenderLimitError past the limits."""
        self.steps += 1
        allowance = self._allowance
        allowance.used_steps += 1
        if self.steps > MAX_STEPS:
            raise RenderLimitError(
                f"the template takes more than {MAX_STEPS:,} steps (loop iterations, calls) "
                "for one job"
            )
        if allowance.used_steps > allowance.steps:
            raise RenderLimitError(
                f"the templates take more than {allowance.steps:,} steps (loop iterations, "
                "calls) for the plan's jobs together"
            )
        if self.steps % 16 == 0:
            elapsed = self._clock() - self._started
            if elapsed > MAX_SECONDS:
                raise RenderLimitError(
                    f"the template takes more than {MAX_SECONDS:g} s for one job"
                )
            if allowance.used_seconds + elapsed > allowance.seconds:
                raise RenderLimitError(
                    f"the templates take more than {allowance.seconds:g} s for the plan's "
                    "jobs together"
                )

    def finish(self) -> None:
        """Add this render's time to the plan's."""
        self._allowance.used_seconds += self._clock() - self._started

    def charge(self, value: Any) -> None:
        """Count the size of a value made; RenderLimitError when it or the total is too large."""
        size = size_of(value)
        if size > MAX_TEXT:
            raise RenderLimitError(
                f"the template makes a value of more than {MAX_TEXT:,} characters or items"
            )
        self.made += size
        if self.made > MAX_MADE:
            raise RenderLimitError(
                f"the template makes more than {MAX_MADE:,} characters in all for one job"
            )


def size_of(value: Any, limit: int = MAX_TEXT) -> int:
    """Characters and items in `value`, counted until past `limit` (so never slow)."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 3 + 1
    if not isinstance(value, list | tuple | dict | set | frozenset):
        return 1
    total = len(value)
    items: Iterable[Any] = value.items() if isinstance(value, dict) else value
    for item in items:
        if total > limit:
            break
        total += size_of(item, limit - total)
    return total


def _too_large(what: str) -> RenderLimitError:
    return RenderLimitError(f"{what} would be more than {MAX_TEXT:,} characters or items")


def _check_format_widths(text: str, braces: bool) -> None:
    numbers: list[str] = []
    if braces:
        for field in _BRACE_FIELD.findall(text):
            numbers.extend(_DIGITS.findall(field.partition(":")[2]))
    else:
        for match in _PRINTF_SPEC.finditer(text):
            numbers.extend(g for g in match.groups() if g and g != "*")
    if any(len(n) > 6 or int(n) > MAX_TEXT for n in numbers):
        raise _too_large("a format width")


def _check_int_arguments(args: Iterable[Any], what: str) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_TEXT:
            raise _too_large(what)


def _check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        occurrences = text.count(old) if old else len(text) + 1
        if len(text) + occurrences * len(new) > MAX_TEXT:
            raise _too_large("the replaced text")


def _check_join(parts: Any, separator: Any) -> None:
    if isinstance(parts, list | tuple | set | frozenset | dict):
        sep = len(separator) if isinstance(separator, str) else 0
        if size_of(parts) + sep * len(parts) > MAX_TEXT:
            raise _too_large("the joined text")


def _check_str_method(text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    values = (*args, *kwargs.values())
    if name in _SAFE_STR_METHODS:
        return
    if name in _PADDING_METHODS:
        _check_int_arguments(values, f"str.{name}")
    elif name == "replace":
        _check_replace(text, *args[:2])
    elif name == "join":
        _check_join(args[0] if args else (), text)
    elif name in ("format", "format_map"):
        _check_format_widths(text, braces=True)
        _check_int_arguments(values, "a format width")
        if size_of(values) > MAX_TEXT:
            raise _too_large("the formatted text")
    else:
        raise jinja2.exceptions.SecurityError(f"str.{name} is not available in templates")


def _check_filter(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    # args[0] is the filtered value (after any context/environment argument Jinja passes).
    value, params = (args[0], args[1:]) if args else (None, ())
    every = (*params, *kwargs.values())
    if name in _SIZED_FILTERS:
        _check_int_arguments(every, f"the {name} filter's result")
        if name == "indent" and isinstance(value, str):
            width = params[0] if params else kwargs.get("width", 4)
            pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
            if (value.count("\n") + 1) * pad + len(value) > MAX_TEXT:
                raise _too_large("the indented text")
        if name == "wordwrap" and isinstance(value, str):
            wrap = kwargs.get("wrapstring", params[2] if len(params) > 2 else "\n")
            if isinstance(wrap, str) and len(value) * max(1, len(wrap)) > MAX_TEXT:
                raise _too_large("the wrapped text")
    elif name == "replace":
        _check_replace(value, *params[:2])
    elif name == "join":
        _check_join(value, params[0] if params else kwargs.get("d", ""))
    elif name == "format" and isinstance(value, str):
        _check_format_widths(value, braces=False)
        _check_int_arguments(every, "a format width")
    elif size_of(value) > MAX_TEXT:
        raise _too_large(f"the {name} filter's input")


class _MeteredCodeGenerator(CodeGenerator):
    """Compiles `{% for x in xs %}` as `for x in environment.metered(xs)` and `a ~ b` through
    the environment's `concat`, so that loops count their iterations and joins their size."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if not getattr(node, "metered", False):
            node.iter = nodes.Call(
                nodes.EnvironmentAttribute("metered"), [node.iter], [], None, None
            )
            node.metered = True  # type: ignore[attr-defined]
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class LimitedSandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, metered against a `RenderBudget` per render."""

    code_generator_class = _MeteredCodeGenerator
    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=self._finalize, **options)
        self.budget = RenderBudget()
        self.globals["range"] = self._range
        self.filters = {name: self._metered_filter(name, f) for name, f in self.filters.items()}

    def start_render(self, allowance: PlanAllowance) -> None:
        """A fresh budget for the next render, drawing on the plan's allowance."""
        self.budget = RenderBudget(allowance)

    def finish_render(self) -> None:
        """Count the render's time against the plan's allowance."""
        self.budget.finish()

    def add_filters(self, filters: dict[str, Callable[..., Any]]) -> None:
        """Register more filters, metered like Jinja's own."""
        self.filters.update({name: self._metered_filter(name, f) for name, f in filters.items()})

    # -- what generated code calls -----------------------------------------------------------
    def concat(self, parts: Iterable[Any]) -> str:
        """Join output or `~` parts, refusing before the text grows past the limit."""
        pieces = []
        total = 0
        for part in parts:
            if not isinstance(part, str):
                if size_of(part) > MAX_TEXT:
                    raise _too_large("the text")
                part = str(part)
            total += len(part)
            if total > MAX_TEXT:
                raise RenderLimitError(
                    f"the template makes a text of more than {MAX_TEXT:,} characters"
                )
            pieces.append(part)
        text = "".join(pieces)
        self.budget.charge(text)
        return text

    def metered(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """A loop's items, each counted as a step."""
        for item in iterable:
            self.budget.step()
            yield item

    def call(
        __self,  # Jinja's signature: a keyword argument may be called `self`
        __context: jinja2.runtime.Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """Call from a template: counted, checked before for size, charged after."""
        __self.budget.step()
        target = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(owner, getattr(target, "__name__", ""), args, kwargs)
        elif __obj is __self.globals.get("lipsum"):
            _check_int_arguments((*args, *kwargs.values()), "lipsum()")
        result = super().call(__context, __obj, *args, **kwargs)
        __self.budget.charge(result)
        return result

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        """`**`, `*`, `+` and `%`, refused when the result would be too large."""
        self.budget.step()
        ints = all(isinstance(v, int) for v in (left, right))
        if operator == "**" and ints and right > 0 and abs(left) > 1:
            if right * math.log2(abs(left)) > MAX_INT_BITS:
                raise RenderLimitError(f"the power would have more than {MAX_INT_BITS} bits")
        elif operator == "*":
            if ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise RenderLimitError(f"the product would have more than {MAX_INT_BITS} bits")
            for seq, times in ((left, right), (right, left)):
                repeats = isinstance(times, int) and not isinstance(seq, int | float)
                if repeats and times > 0 and size_of(seq) * times > MAX_TEXT:
                    raise _too_large("the repetition")
        elif operator == "%" and isinstance(left, str):
            _check_format_widths(left, braces=False)
            operands = right if isinstance(right, tuple) else (right,)
            _check_int_arguments(operands, "a format width")
            if size_of(operands) > MAX_TEXT:
                raise _too_large("the formatted text")
        result = super().call_binop(context, operator, left, right)
        self.budget.charge(result)
        return result

    def getitem(self, obj: Any, argument: Any) -> Any:
        """`x[i]` and `x[a:b]`, counted; a slice is a new value and is charged."""
        self.budget.step()
        result = super().getitem(obj, argument)
        if isinstance(argument, slice):
            self.budget.charge(result)
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        """`x.name`, counted."""
        self.budget.step()
        return super().getattr(obj, attribute)

    # -- helpers ---------------------------------------------------------------------------
    def _finalize(self, value: Any) -> Any:
        if not isinstance(value, str) and size_of(value) > MAX_TEXT:
            raise _too_large("the printed value")
        return value

    def _range(self, *args: int) -> range:
        rng = range(*args)
        if len(rng) > MAX_RANGE:
            raise RenderLimitError(f"range() of more than {MAX_RANGE:,} items")
        return rng

    def _metered_filter(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def metered(*args: Any, **kwargs: Any) -> Any:
            self.budget.step()
            value_args = args
            if args and isinstance(
                args[0], jinja2.runtime.Context | jinja2.Environment | jinja2.nodes.EvalContext
            ):
                value_args = args[1:]
            _check_filter(name, value_args, kwargs)
            result = func(*args, **kwargs)
            if isinstance(result, str | list | tuple | dict):
                self.budget.charge(result)
            return result

        return metered
