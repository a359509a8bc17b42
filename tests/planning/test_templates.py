"""Prompt templates: an undefined name is located to its column and gets a did-you-mean."""

from __future__ import annotations

import pytest

from kling_pipe.planning.templates import PromptTemplates, TemplateFailure

CONTEXT = {"product": "Kettle", "brand": "Acme", "shot": {"id": "hero"}}


def failure_of(source: str, files: dict[str, str] | None = None) -> TemplateFailure:
    def reader(name: str) -> tuple[str, str] | None:
        text = (files or {}).get(name)
        return None if text is None else (text, f"templates/{name}")

    with pytest.raises(TemplateFailure) as caught:
        PromptTemplates(reader).render(source, CONTEXT)
    return caught.value


def test_an_undefined_variable_gets_its_column_and_the_closest_defined_name() -> None:
    failure = failure_of("A {{ brand }} {{ prodcut }}")
    assert failure.message == "undefined variable 'prodcut'; did you mean 'product'?"
    assert (failure.line, failure.column, failure.name) == (1, 18, "prodcut")


def test_the_column_is_found_in_the_tag_not_in_the_text_before_it() -> None:
    failure = failure_of("intro\nprodcut: {% if brand %}{{ prodcut | upper }}{% endif %}")
    assert (failure.line, failure.column) == (2, 27)


def test_an_undefined_name_with_nothing_close_lists_the_defined_names() -> None:
    failure = failure_of("{{ colour }}")
    assert failure.message == "undefined variable 'colour' (defined: brand, product, shot)"


def test_an_undefined_attribute_suggests_the_keys_of_its_object() -> None:
    failure = failure_of("{{ shot.idd }}")
    assert failure.message == "undefined: 'dict object' has no attribute 'idd'; did you mean 'id'?"
    assert failure.column == 9


def test_an_undefined_name_in_an_included_file_is_located_in_that_file() -> None:
    failure = failure_of("{% include 'h.j2' %}", {"h.j2": "first\n  {{ brnad }}\n"})
    assert (failure.file, failure.line, failure.column) == ("templates/h.j2", 2, 6)
    assert failure.message == "undefined variable 'brnad'; did you mean 'brand'?"


def test_the_sandbox_still_refuses_unsafe_attributes() -> None:
    failure = failure_of("{{ product.__class__ }}")
    assert failure.message.startswith("refused by the template sandbox")


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [
        ("A {{ product | uppr }}", "unknown filter 'uppr'; did you mean 'upper'?", 16),
        ("{{ product | dialog }}", "unknown filter 'dialog'; did you mean 'dialogue'?", 14),
        ("{% if product is evn %}x{% endif %}", "unknown test 'evn'; did you mean 'even'?", 18),
    ],
)
def test_an_unknown_filter_or_test_gets_its_column_and_the_closest_one(
    source: str, message: str, column: int
) -> None:
    failure = failure_of(source)
    assert (failure.message, failure.line, failure.column) == (message, 1, column)
