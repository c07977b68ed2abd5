"""Checks of every PT-DiT node's widget values when a prompt is queued (``POST /prompt``).

ComfyUI 0.3.75 checks the choices of V1 combos only (their type is the list itself); a V3
``io.Combo`` arrives as type ``"COMBO"`` and any value passed. Numbers get a min/max check, which
NaN passes (every comparison with NaN is false). :class:`CheckedNode` therefore checks combos,
ranges and finiteness itself, the same way on every host.

Problems are raised, not returned: ComfyUI copies a returned message onto every input the
validator takes (nine times for the Proxy Ratio node), while an exception becomes one error entry.
"""
from __future__ import annotations

import math

from .api import io

SHOWN_CHOICES = 20  # longer lists (model folders) are cut, as ComfyUI's own message does


class InputError(ValueError):
    """One or more widget values of a node are invalid; the message lists each."""


def _choices(options: list) -> str:
    if not options:
        return "(the list is empty)"
    shown = ", ".join(repr(o) for o in options[:SHOWN_CHOICES])
    return shown + (f", … ({len(options)} in all)" if len(options) > SHOWN_CHOICES else "")


def widget_problems(inputs: list, values: dict) -> list[str]:
    """One line per invalid value: a combo value not among its options, a number that is not finite
    or is outside its min..max. Inputs absent from ``values`` or None (linked) are skipped."""
    problems = []
    for spec in inputs:
        value = values.get(spec.id)
        if value is None:
            continue
        if isinstance(spec, io.Combo.Input):
            if value not in spec.options:
                problems.append(f"{spec.id}: {value!r} is not one of {_choices(spec.options)}")
        elif isinstance(spec, (io.Int.Input, io.Float.Input)):
            if not math.isfinite(value):
                problems.append(f"{spec.id}={value} is not a finite number")
            elif (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
                problems.append(f"{spec.id}={value} is outside {spec.min}..{spec.max}")
    return problems


class CheckedNode(io.ComfyNode):
    """A V3 node whose widget values are checked against its schema at ``/prompt``."""

    @classmethod
    def validate_inputs(cls, **values):
        problems = widget_problems(cls.define_schema().inputs, values)
        if problems:
            raise InputError("; ".join(problems))
        return True
