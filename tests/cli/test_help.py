"""Every command's ``--help``: a description and examples, in plain text; ``bumper --version``."""

from __future__ import annotations

import argparse

import pytest

import bumper
from bumper import cli


def help_of(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli.main([*args, "--help"]) == 0
    return capsys.readouterr().out


def commands() -> list[str]:
    parser = cli.build_parser()
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(found[0].choices)


def test_version_flag_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"bumper {bumper.__version__}\n"


def test_the_command_list_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys)
    assert "`" not in text and "--version" in text and "examples:" in text


@pytest.mark.parametrize("command", commands())
def test_each_command_has_a_description_and_an_example_in_plain_text(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of(capsys, command)
    usage, description = text.split("\n\n")[:2]
    assert usage.startswith(f"usage: bumper {command}")
    assert len(description.split()) >= 5, f"{command}: no description"
    examples = text.split("\nexamples:\n", 1)[1]
    assert f"bumper {command}" in examples, f"{command}: no example"
    assert "`" not in text, f"{command}: reST markup in --help"


def test_plain_drops_rest_markup() -> None:
    assert cli.plain("``a`` `b` :mod:`bumper.c` :class:`~d.E`") == "a b bumper.c d.E"
