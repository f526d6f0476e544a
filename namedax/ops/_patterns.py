"""The parser for einops-like axis patterns, shared by `rearrange` and `einsum`.

A pattern has a left side and a right side separated by `->`:

* an *item* is an identifier (`batch`), an ellipsis (`...`) or a parenthesised group
  of identifiers, optionally named: `(h w)` or `(E: h w)`;
* a *term* is a sequence of items separated by spaces (inside braces, commas work as
  spaces too); a term wrapped in braces, `{H W ...}`, is *unordered*: its items are
  matched to axes by name instead of by position;
* in an einsum equation, commas on the left separate the terms of the inputs (an
  empty term is that of an array with no axes). Any other comma is an error: a stray
  comma is rejected rather than read as a space.

This module only parses: what an identifier means (a variable bound by position,
an axis name, an alias given as a keyword) is decided by the operation. Parsed
patterns are cached by their text. Every error points at the offending part of
the pattern with a caret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

__all__: list[str] = []

Span: TypeAlias = tuple[int, int]


@dataclass(frozen=True)
class Name:
    """An identifier and where it sits in the pattern."""

    ident: str
    span: Span


@dataclass(frozen=True)
class Dots:
    """An ellipsis, `...`: every axis the term does not mention."""

    span: Span


@dataclass(frozen=True)
class Group:
    """A parenthesised group `(h w)`, or `(E: h w)` when `name` is given."""

    name: Name | None
    parts: tuple[Name, ...]
    span: Span


Item: TypeAlias = Name | Dots | Group


@dataclass(frozen=True)
class Term:
    """The items of one side (or of one einsum input), and whether braces made it unordered."""

    items: tuple[Item, ...]
    unordered: bool
    span: Span

    @property
    def dots(self) -> Dots | None:
        """The first ellipsis of the term, if any (only the output may hold several)."""
        for item in self.items:
            if isinstance(item, Dots):
                return item
        return None


@dataclass(frozen=True)
class Pattern:
    """A parsed pattern: the input terms (one for `rearrange`) and the output term."""

    text: str
    lhs: tuple[Term, ...]
    rhs: Term

    def idents(self) -> set[str]:
        """Every identifier in the pattern, including group names."""
        found: set[str] = set()
        for term in (*self.lhs, self.rhs):
            for item in term.items:
                if isinstance(item, Name):
                    found.add(item.ident)
                elif isinstance(item, Group):
                    found.update(p.ident for p in item.parts)
                    if item.name is not None:
                        found.add(item.name.ident)
        return found


_TOKEN = re.compile(r"\s*(?:(->)|(\.\.\.)|([^\W\d]\w*)|([{}():,]))")
_CACHE: dict[tuple[str, bool], Pattern] = {}


def pattern_error(op: str, text: str, span: Span | None, message: str) -> ValueError:
    """A ValueError whose message names `op`, says `message` and marks `span` in the pattern."""
    lines = [f"{op}: {message}", f"    {text}"]
    if span is not None:
        start, end = span
        lines.append("    " + " " * start + "^" * max(1, end - start))
    return ValueError("\n".join(lines))


def parse_pattern(text: str, op: str, *, several_inputs: bool) -> Pattern:
    """Parses `lhs -> rhs`, caching the result by text.

    Args:
        text: The pattern.
        op: The operation's name, for error messages.
        several_inputs: Whether commas on the left separate input terms (einsum) rather
            than being plain separators (rearrange).

    Returns:
        The parsed pattern.

    Raises:
        TypeError: If `text` is not a string.
        ValueError: If the pattern is malformed; the message marks where.

    Examples:
        >>> p = parse_pattern("b (h w) -> b h w", "rearrange", several_inputs=False)
        >>> [type(item).__name__ for item in p.lhs[0].items]
        ['Name', 'Group']
        >>> parse_pattern("a b", "rearrange", several_inputs=False)
        Traceback (most recent call last):
        ...
        ValueError: rearrange: the pattern needs '->' between the input and output axes
            a b
    """
    key = (text, several_inputs)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    if not isinstance(text, str):
        raise TypeError(f"{op}: the pattern must be a str, got {type(text).__name__}: {text!r}.")
    tokens = _tokenize(text, op)
    arrows = [i for i, (kind, _, _) in enumerate(tokens) if kind == "->"]
    if not arrows:
        raise pattern_error(
            op, text, None, "the pattern needs '->' between the input and output axes"
        )
    if len(arrows) > 1:
        raise pattern_error(op, text, tokens[arrows[1]][2], "the pattern has more than one '->'")
    left, right = tokens[: arrows[0]], tokens[arrows[0] + 1 :]
    if several_inputs:
        pieces = _split_on_commas(left, arrow_at=tokens[arrows[0]][2][0])
        lhs = tuple(_parse_term(text, op, piece, span) for piece, span in pieces)
    else:
        lhs = (_parse_term(text, op, left, (0, tokens[arrows[0]][2][0])),)
    rhs = _parse_term(text, op, right, (tokens[arrows[0]][2][1], len(text)), several_dots=True)
    if rhs.unordered:
        raise pattern_error(op, text, rhs.span, "braces {...} may only appear on the left of '->'")
    pattern = Pattern(text, lhs, rhs)
    _CACHE[key] = pattern
    return pattern


_Token: TypeAlias = tuple[str, str, Span]  # (kind, text, span)


def _tokenize(text: str, op: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            rest = text[pos:]
            if not rest.strip():
                break
            bad = pos + len(rest) - len(rest.lstrip())
            raise pattern_error(
                op,
                text,
                (bad, bad + 1),
                f"unexpected character {text[bad]!r}; axis names must be identifiers "
                "(bind other names with keywords, e.g. x='my-axis')",
            )
        kind = (
            "->" if m.group(1) else "..." if m.group(2) else "ident" if m.group(3) else m.group(4)
        )
        start = m.start(m.lastindex or 0)
        tokens.append((kind, m.group(m.lastindex or 0), (start, m.end())))
        pos = m.end()
    return tokens


def _split_on_commas(tokens: list[_Token], arrow_at: int) -> list[tuple[list[_Token], Span]]:
    pieces: list[tuple[list[_Token], Span]] = []
    current: list[_Token] = []
    start = 0
    depth = 0
    for tok in tokens:
        depth += tok[0] in "({"
        depth -= tok[0] in ")}"
        if tok[0] == "," and depth == 0:
            pieces.append((current, (start, tok[2][0])))
            current, start = [], tok[2][1]
        else:
            current.append(tok)
    pieces.append((current, (start, arrow_at)))
    if len(pieces) == 1 and not pieces[0][0]:
        return []  # an empty left side: no input terms
    return pieces


def _parse_term(
    text: str, op: str, tokens: list[_Token], span: Span, *, several_dots: bool = False
) -> Term:
    unordered = bool(tokens) and tokens[0][0] == "{"
    if unordered:
        closing = [j for j, tok in enumerate(tokens) if tok[0] == "}"]
        if not closing:
            raise pattern_error(op, text, tokens[0][2], "unclosed '{'")
        if closing[0] != len(tokens) - 1:
            raise pattern_error(
                op,
                text,
                tokens[closing[0] + 1][2],
                "braces must enclose a whole side (or a whole input term)",
            )
        tokens = tokens[1:-1]
    items: list[Item] = []
    i = 0
    while i < len(tokens):
        kind, word, tspan = tokens[i]
        if kind == "ident":
            items.append(Name(word, tspan))
        elif kind == "...":
            if not several_dots and any(isinstance(it, Dots) for it in items):
                raise pattern_error(
                    op,
                    text,
                    tspan,
                    "more than one '...' in an input term (Only one ellipsis allowed there; "
                    "the output may have several)",
                )
            items.append(Dots(tspan))
        elif kind == "(":
            group, i = _parse_group(text, op, tokens, i)
            items.append(group)
        elif kind == "," and unordered:
            pass  # inside braces a comma separates like a space
        elif kind == ",":
            raise pattern_error(
                op,
                text,
                tspan,
                "a stray ','; separate axes with spaces (commas only separate input terms of "
                "an einsum, or items inside {...})",
            )
        elif kind in "{}":
            raise pattern_error(
                op, text, tspan, "braces must enclose a whole side (or a whole input term)"
            )
        else:
            raise pattern_error(op, text, tspan, f"unexpected {word!r}")
        i += 1
    return Term(tuple(items), unordered, span)


def _parse_group(text: str, op: str, tokens: list[_Token], i: int) -> tuple[Group, int]:
    start = tokens[i][2][0]
    i += 1
    name: Name | None = None
    if i + 1 < len(tokens) and tokens[i][0] == "ident" and tokens[i + 1][0] == ":":
        name = Name(tokens[i][1], tokens[i][2])
        i += 2
    parts: list[Name] = []
    while i < len(tokens) and tokens[i][0] != ")":
        kind, word, tspan = tokens[i]
        if kind == "ident":
            parts.append(Name(word, tspan))
        else:
            what = "'...'" if kind == "..." else repr(word)
            raise pattern_error(
                op,
                text,
                tspan,
                f"{what} cannot appear inside parentheses; a group lists axis names",
            )
        i += 1
    if i == len(tokens):
        raise pattern_error(op, text, (start, start + 1), "unclosed '('")
    span = (start, tokens[i][2][1])
    if not parts:
        raise pattern_error(op, text, span, "empty parentheses; a group needs at least one axis")
    return Group(name, tuple(parts), span), i
