"""`haliax._src.parsing`: Haliax's parser for rearrange and einsum strings, as a data model.

namedax's own operations parse patterns with their own parser; this module gives code
written against Haliax's internals the objects Haliax's parser returns: an `Expression`
per side, whose `captures` are `Ellipsis` or `_AxisCapture(binding, axes, char_range)`.

The grammar of one side: items separated by spaces; an item is an identifier (letters,
digits and `_`, not starting with a digit), a quoted string (`"b c"`, with `\\` escapes),
`...`, or a parenthesised group `(a b)` / `(name: a b)`. A side wrapped in `{...}` is
unordered, and commas inside the braces are spaces. Outside braces a comma ends the side
(it separates einsum inputs). Errors are `ValueError`s that show the expression with a
caret under the offending position.

Examples:
    >>> from namedax.compat.haliax._src.parsing import parse_rearrangement
    >>> lhs, rhs = parse_rearrangement("b (h w) -> b h w")
    >>> [c if c is Ellipsis else c.axes for c in lhs.captures], lhs.is_ordered
    ([('b',), ('h', 'w')], True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from types import EllipsisType
from typing import Any, NoReturn

from namedax.core._axes import Axis, AxisSelector

__all__ = ["AliasTable", "Expression", "parse_einsum", "parse_rearrangement", "raise_parse_error"]


@dataclasses.dataclass(frozen=True)
class _AxisCapture:
    """One item of a side: the name it binds (if any), its axis names and where it sits."""

    binding: str | None = None
    axes: tuple[str, ...] = ()
    char_range: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not self.axes:
            raise ValueError("Empty axes not allowed: a capture must name at least one axis")


@dataclasses.dataclass(frozen=True)
class Expression:
    """One side of a pattern: its captures, and whether it is ordered (not in braces)."""

    captures: Sequence[_AxisCapture | EllipsisType]
    is_ordered: bool


def raise_parse_error(message: str, expression: str, pos: int | tuple[int, int] | None) -> NoReturn:
    """Raises a `ValueError` showing `expression` with a caret (or carets) under `pos`."""
    lines = ["Error while parsing:", f"    {expression}"]
    if isinstance(pos, int):
        lines.append("    " + " " * pos + "^")
    elif pos is not None:
        lines.append("    " + " " * pos[0] + "^" * max(1, pos[1] - pos[0]))
    lines.append(message)
    raise ValueError("\n".join(lines))


def _is_ident_char(c: str) -> bool:
    return c.isalnum() or c == "_"


class _Scanner:
    """A cursor over the expression with the small readers the grammar needs."""

    def __init__(self, text: str, pos: int = 0):
        self.text, self.pos = text, pos

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def fail(self, message: str, pos: int | tuple[int, int] | None = None) -> NoReturn:
        raise_parse_error(message, self.text, self.pos if pos is None else pos)

    def quoted(self) -> str:
        quote, start = self.text[self.pos], self.pos
        self.pos += 1
        chars: list[str] = []
        while not self.at_end() and self.peek() != quote:
            if self.peek() == "\\":
                self.pos += 1
                if self.at_end():
                    self.fail(f"Unexpected end of string at position {self.pos}")
            chars.append(self.peek())
            self.pos += 1
        self.pos += 1  # the closing quote (or the end)
        if not chars:
            self.fail("Empty strings are not valid identifiers", (start, self.pos))
        return "".join(chars)

    def ident(self) -> str:
        if self.peek() in ("'", '"'):
            return self.quoted()
        start = self.pos
        if not self.at_end() and self.peek().isdigit():
            self.fail("Identifiers cannot start with a number")
        while not self.at_end() and _is_ident_char(self.peek()):
            self.pos += 1
        if self.pos == start:
            self.fail("Identifier expected")
        return self.text[start : self.pos]


def _group(s: _Scanner) -> _AxisCapture:
    """Parses `(a b)` or `(name: a b)`; the scanner is on the `(`."""
    start = s.pos
    s.pos += 1
    binding: str | None = None
    axes: list[str] = []
    while True:
        if s.at_end():
            break
        c = s.peek()
        if c == ")":
            s.pos += 1
            break
        if c.isspace():
            s.pos += 1
        elif c == ":":
            if binding is not None:
                s.fail("Only one binding allowed per group")
            if not axes:
                s.fail("Binding cannot be empty")
            if len(axes) > 1:
                s.fail("Binding must come before axes")
            binding = axes.pop()
            s.pos += 1
        elif c == "(":
            s.fail("Only one level of nesting is allowed")
        elif c == "}":
            s.fail(f"Unexpected }} at {s.pos}")
        elif _is_ident_char(c) or c in ("'", '"'):
            axes.append(s.ident())
        else:
            s.fail(f"Unexpected character {c}")
    if not axes:
        s.fail("No axes found", start)
    return _AxisCapture(binding, tuple(axes), (start, s.pos))


def _side(s: _Scanner) -> Expression:
    """Parses one side, stopping before `->`, before a separating comma, or at the end."""
    captures: list[_AxisCapture | EllipsisType] = []
    ordered, closed, started = True, False, False
    while not s.at_end():
        c = s.peek()
        if c.isspace():
            s.pos += 1
        elif c == "{":
            if started:
                s.fail("Unexpected {")
            ordered, started = False, True
            s.pos += 1
        elif c == "}":
            if ordered or closed:
                s.fail("Unexpected }")
            closed = True
            s.pos += 1
        elif c == "-":
            if s.pos + 1 >= len(s.text):
                s.fail("Unexpected end of string")
            if s.peek(2) != "->":
                s.fail("Expected >")
            break
        elif c == ",":
            if ordered or closed:
                break
            s.pos += 1  # inside braces a comma separates like a space
        elif closed:
            s.fail("Unexpected character after }")
        elif s.peek(3) == "...":
            captures.append(Ellipsis)
            started = True
            s.pos += 3
        elif c == "(":
            captures.append(_group(s))
            started = True
        else:
            start = s.pos
            name = s.ident()
            captures.append(_AxisCapture(name, (name,), (start, s.pos)))
            started = True
    if not ordered and not closed:
        s.fail("Expected }")
    return Expression(captures, ordered)


def _arrow(s: _Scanner) -> None:
    if s.pos + 2 >= len(s.text) and s.peek(2) != "->":
        s.fail("Unexpected end of string")
    if s.peek(2) != "->":
        s.fail("Expected ->")
    s.pos += 2


def parse_rearrangement(expression: str) -> tuple[Expression, Expression]:
    """Parses `lhs -> rhs` for `rearrange`.

    Raises:
        ValueError: If the expression is malformed (the message marks where).
    """
    s = _Scanner(expression)
    lhs = _side(s)
    _arrow(s)
    rhs = _side(s)
    if not s.at_end():
        s.fail("Unexpected character")
    return lhs, rhs


def parse_einsum(expression: str) -> tuple[Sequence[Expression], Expression]:
    """Parses `in1, in2, ... -> out` for `einsum` (the inputs and the output side).

    Raises:
        ValueError: If the expression is malformed (the message marks where).
    """
    s = _Scanner(expression)
    inputs: list[Expression] = []
    while not s.at_end():
        inputs.append(_side(s))
        if s.at_end():
            break
        if s.peek() == ",":
            s.pos += 1
        elif s.peek(2) == "->":
            s.pos += 2
            break
        else:
            s.fail("Expected , or ->")
    rhs = _side(s)
    if not s.at_end():
        s.fail("Unexpected character")
    return inputs, rhs


class AliasTable:
    """The axes that names in an expression stand for, bound as the expression is matched.

    Attributes:
        bindings: Each alias, mapped to an `Axis` or an axis name.
    """

    bindings: dict[str, AxisSelector]

    def __init__(self, bindings: Mapping[str, AxisSelector] | None = None):
        self.bindings = dict(bindings or {})

    def dealias_binding(self, binding: str) -> AxisSelector | None:
        """The axis (or axis name) `binding` stands for, if it is bound."""
        return self.bindings.get(binding)

    def bind_alias(self, alias: str, axis: Axis, expr: str, char_range: Any) -> None:
        """Binds `alias` to `axis`, or checks that it already stands for that axis.

        Raises:
            ValueError: If `alias` already stands for another axis.
        """
        current = self.bindings.get(alias)
        if current is None:
            self.bindings[alias] = axis
        elif isinstance(current, Axis) and current != axis:
            raise_parse_error(f"Alias {alias} is assigned to more than one axis", expr, char_range)
        elif isinstance(current, str):
            if current != axis.name:
                raise_parse_error(
                    f"Alias {alias} is assigned to more than one axis", expr, char_range
                )
            self.bindings[alias] = axis
