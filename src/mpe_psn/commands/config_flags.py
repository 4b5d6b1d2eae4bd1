"""Flags made from config sections: one flag per setting, and the settings given read back.

Each field of a section (``mpe_psn.training.config``) becomes a flag in an argument group named
after the section: ``--<key with dashes>`` (or the option strings the field names, ``-T``), its
help from the field, its values checked by the field's rule (or by the converter of
:mod:`mpe_psn.commands.args` the field names). A yes/no field is ``--x/--no-x``; an options field
(a dict) is a repeatable ``--flag KEY=VALUE``. Flags not given stay out of the namespace, so the
preset below them decides.
"""

from __future__ import annotations

import argparse
import functools
from typing import Any, Iterable

from mpe_psn.commands import args as A
from mpe_psn.training.config_fields import FlagSpec, Section, flag_spec, names_of, value_from_text

__all__ = ["add_setting_flags", "settings_given"]


def add_setting_flags(parser: argparse.ArgumentParser, sections: Iterable[type[Section]]) -> None:
    """One argument group per section, one flag per setting."""
    for section in sections:
        group = parser.add_argument_group(section.title, (section.__doc__ or "").strip().split("\n")[0])
        for field in section.settings():
            spec = flag_spec(section, field)
            group.add_argument(*spec.option_strings, **_flag(section, spec))


def _flag(section: type[Section], spec: FlagSpec) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"dest": spec.key, "default": argparse.SUPPRESS, "help": spec.help}
    if spec.metavar:
        kwargs["metavar"] = spec.metavar
    if spec.kind is bool:
        return {**kwargs, "action": argparse.BooleanOptionalAction}
    if spec.kind is dict:
        return {**kwargs, "action": "append", "type": A.key_value}
    if spec.const is not None:
        kwargs.update(nargs="?", const=spec.const)
    if spec.choices is not None:
        choices = spec.choices
        if isinstance(choices, tuple):
            kwargs["choices"] = choices
        else:  # a registry: read when the flag is given
            kwargs["type"] = A.choice_of(lambda: names_of(choices), (spec.metavar or spec.key).replace("_", " ").lower())
        if spec.metavar or "type" in kwargs:  # the usage line does not show them
            kwargs["help"] = f"{spec.help} (choices: {', '.join(map(str, names_of(choices)))})"
    elif spec.arg_type is not None:
        kwargs["type"] = getattr(A, spec.arg_type)
    else:
        kwargs["type"] = A.checked(functools.partial(value_from_text, section, spec.key), spec.key)
    return kwargs


def settings_given(args: argparse.Namespace, sections: Iterable[type[Section]]) -> dict[str, Any]:
    """The settings given on the command line: each setting's flag, then ``--set KEY=VALUE``
    (``args.settings``) over them; a repeatable ``KEY=VALUE`` flag adds to the options dict
    that ``--set`` gave, if any."""
    flags: dict[str, Any] = {}
    options: dict[str, dict] = {}
    for section in sections:
        for field in section.settings():
            if hasattr(args, field.name):  # flags not given are not in the namespace
                if flag_spec(section, field).kind is dict:
                    options[field.name] = dict(getattr(args, field.name))
                else:
                    flags[field.name] = getattr(args, field.name)
    values = {**flags, **dict(getattr(args, "settings", []))}
    for key, pairs in options.items():
        base = values.get(key, {})
        values[key] = {**base, **pairs} if isinstance(base, dict) else base  # a --set that is no dict fails its check
    return values
