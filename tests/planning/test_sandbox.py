"""The template sandbox's budget: work and size that would stall a run are refused, quickly."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kling_pipe.campaign import Campaign
from kling_pipe.errors import ManifestError
from kling_pipe.planning.sandbox import MAX_STEPS, MAX_TEXT, PlanAllowance
from kling_pipe.planning.templates import PromptTemplates, TemplateFailure, without_values

Write = Callable[..., Path]


def failure_of(source: str, templates: dict[str, str] | None = None) -> str:
    files = templates or {}
    renderer = PromptTemplates(lambda name: (files[name], name) if name in files else None)
    started = time.monotonic()
    with pytest.raises(TemplateFailure) as caught:
        renderer.render(source, {"word": "kettle"})
    assert time.monotonic() - started < 5
    return str(caught.value)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ 10**5000 }}", "the power would have more than 1024 bits"),
        ("{{ 9**(9**9) }}", "the power would have more than 1024 bits"),
        ("{{ 2**1000 * 2**1000 }}", "the product would have more than 1024 bits"),
        ("{{ 'a' * 10**9 }}", "the repetition would be more than"),
        ("{{ ['a'] * 10**9 }}", "the repetition would be more than"),
        ("{{ range(99999)|list }}", "range() of more than 10,000 items"),
        ("{{ 'a'.center(10**9) }}", "str.center would be more than"),
        ("{{ 'a'|center(10**9) }}", "the center filter's result would be more than"),
        ("{{ '{:>999999999}'.format(1) }}", "a format width would be more than"),
        ("{{ '%0999999999d' % 1 }}", "a format width would be more than"),
        ("{{ '%0999999999d'|format(1) }}", "a format width would be more than"),
        ("{{ ('a' * 90000).replace('a', 'bb') }}", "the replaced text would be more than"),
        ("{{ lipsum(10**9) }}", "lipsum() would be more than"),
        ("{{ 'abc'.translate({97: 'x'}) }}", "str.translate is not available in templates"),
    ],
)
def test_operations_that_would_make_huge_values_are_refused_before_they_run(
    source: str, expected: str
) -> None:
    assert expected in failure_of(source)


def test_nested_loops_stop_at_the_step_limit() -> None:
    source = "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}"
    assert f"more than {MAX_STEPS:,} steps" in failure_of(source)


def test_a_macro_calling_itself_twice_per_call_stops_at_the_step_limit() -> None:
    source = (
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}"
    )
    assert f"more than {MAX_STEPS:,} steps" in failure_of(source)


def test_text_doubling_in_a_loop_stops_at_the_size_limit() -> None:
    source = (
        "{% set ns = namespace(s='a') %}"
        "{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"
    )
    assert f"more than {MAX_TEXT:,} characters" in failure_of(source)


def test_output_over_the_size_limit_is_refused() -> None:
    source = "{% for i in range(2000) %}{{ word * 20 }}{% endfor %}"
    assert f"more than {MAX_TEXT:,} characters" in failure_of(source)


@pytest.mark.parametrize(
    ("source", "templates"),
    [
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", {}),
        ("{% include 'self.j2' %}", {"self.j2": "{% include 'self.j2' %}"}),
        ("{% include 'a.j2' %}", {"a.j2": "{% include 'b.j2' %}", "b.j2": "{% include 'a.j2' %}"}),
    ],
)
def test_endless_includes_and_recursive_macros_are_a_template_failure(
    source: str, templates: dict[str, str]
) -> None:
    assert "without end" in failure_of(source, templates)


def test_a_deeply_nested_expression_is_a_syntax_failure() -> None:
    assert "nested too deeply" in failure_of("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}")


def test_the_plan_allowance_is_shared_by_all_renders() -> None:
    renderer = PromptTemplates(lambda name: None)
    renderer.allow_for(1)
    busy = "{% for i in range(9000) %}{% endfor %}{{ n }}"
    allowance = PlanAllowance.for_jobs(1)
    renders = allowance.steps // 9000
    for n in range(renders):
        renderer.render(busy, {"n": n})
    with pytest.raises(TemplateFailure, match="for the plan's jobs together"):
        renderer.render(busy, {"n": "last"})


def test_a_source_over_budget_fails_at_once_for_every_later_job() -> None:
    renderer = PromptTemplates(lambda name: None)
    source = "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateFailure) as first:
        renderer.render(source, {})
    # Rendering it again would spend the plan's shared allowance: it would soon run out, and
    # even a cheap template would fail "for the plan's jobs together".
    for _ in range(50):
        with pytest.raises(TemplateFailure) as again:
            renderer.render(source, {})
        assert str(again.value) == str(first.value)
    assert renderer.render("{{ n }}", {"n": 7}) == "7"


def test_ordinary_templates_render_as_plain_jinja() -> None:
    renderer = PromptTemplates(lambda name: None)
    source = (
        "{{ word|title }} {{ [1, 2, 3]|join(', ') }} {{ '%s-%03d'|format('a', 7) }} "
        "{{ '{} {}'.format('a', 'b') }} {{ 'a:b'|replace(':', 'x') }} {{ 2**10 }} "
        "{% for i in range(3) %}{{ loop.index }}/{{ loop.length }} {% endfor %}{{ 'ab' * 2 }}"
    )
    assert renderer.render(source, {"word": "kettle"}) == (
        "Kettle 1, 2, 3 a-007 a b axb 1024 1/3 2/3 3/3 abab"
    )


def test_render_errors_keep_names_and_types_but_not_values() -> None:
    message = "'dict object' has no attribute 'root:x:0:0:root:/root:/bin/bash'"
    assert without_values(message) == "'dict object' has no attribute '…'"
    assert without_values("'prodcut' is undefined") == "'prodcut' is undefined"
    assert without_values("line one\nline two") == "line one"


def test_a_file_read_through_a_template_never_appears_in_the_error(
    write_manifest: Write,
) -> None:
    secret_lines = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin\n"
    path = write_manifest(
        """
        version: 1
        name: demo
        model: kwaivgi/kling-v2.6
        defaults: {duration: 5, generate_audio: false}
        shots:
          - id: hero
            prompt: "{% set text %}{% include 'notes.j2' %}{% endset %}{{ {}[text] }}"
        """,
        files={"templates/notes.j2": secret_lines},
    )
    with pytest.raises(ManifestError) as caught:
        Campaign.open(path)
    message = str(caught.value)
    assert "undefined variable" in message and f"{path}:7:13" in message
    assert "root:" not in message and "daemon" not in message
