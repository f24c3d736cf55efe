"""The error tree: every ``BumperError`` is defined in ``bumper.errors`` and documented twice."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import bumper
import worker
from bumper import errors

ROOT = Path(__file__).resolve().parents[1]


def _all_modules() -> list[str]:
    names = []
    for package in (bumper, worker):
        prefix = package.__name__ + "."
        names += [info.name for info in pkgutil.walk_packages(package.__path__, prefix)]
    return [name for name in names if not name.endswith(".__main__")]  # that one runs the CLI


def _bumper_errors_defined_in(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    return [
        name
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, errors.BumperError)
        and value.__module__ == module_name
    ]


def test_every_bumper_error_is_defined_in_bumper_errors() -> None:
    elsewhere = {
        name: found
        for name in _all_modules()
        if name != "bumper.errors" and (found := _bumper_errors_defined_in(name))
    }
    assert elsewhere == {}


TREE = [
    value
    for value in vars(errors).values()
    if inspect.isclass(value) and issubclass(value, errors.BumperError)
]


@pytest.mark.parametrize("cls", TREE, ids=lambda cls: cls.__name__)
def test_every_class_is_in_the_docstring_tree_and_docs(cls: type[errors.BumperError]) -> None:
    doc = errors.__doc__ or ""
    page = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    parent = cls.__mro__[1].__name__
    assert f"── {cls.__name__} " in doc or cls is errors.BumperError
    assert f"── {cls.__name__} " in page or cls is errors.BumperError
    if cls is not errors.BumperError:
        assert f"``{cls.__name__}`` (" in doc  # its paragraph: meaning, raisers, status, retry
        assert f"| `{cls.__name__}` |" in page
        assert parent in doc


def test_bumper_errors_imports_nothing_from_bumper() -> None:
    tree = ast.parse(inspect.getsource(errors))
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [name for name in imported if name and name.split(".")[0] in ("bumper", "worker")]
