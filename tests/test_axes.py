"""Axis values, selectors and axis-tuple helpers."""

import pytest

import namedax as nx

A, B, C = nx.make_axes(a=2, b=3, c=4)


def test_axis_value_semantics():
    assert str(A) == "a(2)"
    assert nx.Axis("a", 2) == A and hash(A) == hash(nx.Axis("a", 2))
    assert nx.Axis("a", 3) != A
    assert A.alias("z") == nx.Axis("z", 2)
    assert A.resize(7) == nx.Axis("a", 7)
    with pytest.raises(AttributeError):
        A.size = 5  # type: ignore[misc]


def test_axis_validation():
    with pytest.raises(TypeError, match="Axis name must be a str"):
        nx.Axis(3, 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Axis 'a': size must be >= 0, got -1"):
        nx.Axis("a", -1)
    with pytest.raises(TypeError, match=r"Axis 'a': size must be an int"):
        nx.Axis("a", "4")  # type: ignore[arg-type]


def test_name_and_size_helpers():
    assert nx.axis_name(A) == "a"
    assert nx.axis_name([A, "b"]) == ("a", "b")
    assert nx.axis_name({"a": 2, "b": 3}) == ("a", "b")
    assert nx.axis_size((A, B)) == 6
    assert nx.axis_size({"c": 4}) == 4
    assert nx.to_jax_shape((A, C)) == (2, 4)
    assert nx.axis_spec_to_shape_dict((A, B)) == {"a": 2, "b": 3}
    assert nx.axis_spec_to_tuple("a") == ("a",)
    with pytest.raises(TypeError, match="to_jax_shape: axis 'a' has no size"):
        nx.to_jax_shape(("a",))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Expected an axis selection"):
        nx.axis_spec_to_tuple(3)  # type: ignore[arg-type]


def test_set_like_helpers():
    assert nx.concat_axes((A,), (B, C)) == (A, B, C)
    with pytest.raises(ValueError, match=r"concat_axes: axis names \['a'\] occur in both"):
        nx.concat_axes((A,), (A,))
    assert nx.union_axes((A, B), (B, C)) == (A, B, C)
    with pytest.raises(
        ValueError, match=r"union_axes: axis 'b' has size 3 in \{a:2, b:3\} but size 5"
    ):
        nx.union_axes((A, B), (nx.Axis("b", 5),))
    assert nx.eliminate_axes((A, B, C), ("a", C)) == (B,)
    with pytest.raises(ValueError, match=r"eliminate_axes: no axis 'z' in \{a:2, b:3\}"):
        nx.eliminate_axes((A, B), "z")
    assert nx.without_axes((A, B, C), ("a", "z")) == (B, C)
    assert nx.intersect_axes((A, B, C), ("c", "a")) == (A, C)
    assert nx.replace_axis((A, B), "a", (C,)) == (C, B)
    with pytest.raises(
        ValueError,
        match=r"replace_axis: replacing 'a' in \{a:2, b:3\} with \{b:3\} repeats the names \['b'\]",
    ):
        nx.replace_axis((A, B), "a", (B,))


def test_replace_axis_errors_show_bare_names_without_sizes():
    with pytest.raises(ValueError, match=r"no axis 'c' in \{a, b:3\} to remove"):
        nx.replace_axis(("a", B), "c", ("d",))
    with pytest.raises(ValueError, match=r"replacing 'a' in \{a, b:3\} with \{b\} repeats"):
        nx.replace_axis(("a", B), "a", ("b",))
    assert nx.replace_axis(("a", B), "b", ("c", "d")) == ("a", "c", "d")


def test_resolve_and_select():
    assert nx.resolve_axis((A, B), "b") == B
    with pytest.raises(ValueError, match=r"has size 3 in \{a:2, b:3\} but was selected as b\(9\)"):
        nx.resolve_axis((A, B), nx.Axis("b", 9))
    assert nx.selects_axis((A, "b"), B)
    assert not nx.selects_axis(nx.Axis("a", 5), A)
    assert not nx.selects_axis("c", A)
