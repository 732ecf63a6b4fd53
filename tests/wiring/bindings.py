"""The binding checks the Azure Functions Python worker applies when it loads a function.

The worker refuses a function whose parameter annotations do not match its bindings' converters
(`FunctionLoadError: type of X binding ... does not match`); calling the handler directly would not notice.
"""

from __future__ import annotations

import functools
import typing
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions.decorators.core import BindingDirection


def annotation_problems(function: Any) -> list[str]:
    """Each binding of `function` whose Python annotation the worker would reject."""
    user_function = function.get_user_function()
    hints = typing.get_type_hints(user_function)
    registry = meta.get_binding_registry()
    problems = []
    for binding in function.get_bindings():
        converter = registry.get(binding.type)
        if converter is None:
            problems.append(f"{binding.name}: no converter for binding type {binding.type}")
        elif not _accepted(converter, binding, hints):
            problems.append(
                f"{binding.name}: annotation {hints.get(binding.name)!r} rejected for {binding.type}"
            )
    return problems


def _accepted(converter: Any, binding: Any, hints: dict[str, Any]) -> bool:
    if binding.name == "$return":
        return bool(converter.check_output_type_annotation(hints["return"]))
    annotation = hints[binding.name]
    if BindingDirection(binding.direction) is BindingDirection.OUT:
        if typing.get_origin(annotation) is not func.Out:
            return False
        (inner,) = typing.get_args(annotation)
        return bool(converter.check_output_type_annotation(inner))
    return bool(converter.check_input_type_annotation(annotation))


@functools.cache
def indexed_functions() -> dict[str, Any]:
    """`function_app.app.get_functions()` by name, built once: the library refuses to index twice."""
    import function_app

    return {function.get_function_name(): function for function in function_app.app.get_functions()}
