"""The one ref resolver: exact ids and names, 4-character prefixes, ambiguity listed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from docklord.errors import AmbiguousRef, Conflict, NotFound
from docklord.protocol import MAX_REF_CANDIDATES, MIN_ID_PREFIX, resolve_ref


@dataclass(frozen=True)
class Thing:
    id: str
    names: tuple[str, ...] = ()


A = Thing("abcd" + "1" * 60, ("db",))
B = Thing("abcd" + "2" * 60, ("web",))
C = Thing("sha256:" + "abce" + "3" * 60, ("busybox:latest",))
ALL = [A, B, C]


def resolve(ref: str, candidates: list[Thing] = ALL) -> Thing:
    return resolve_ref(
        ref,
        candidates,
        kind="thing",
        id_of=lambda t: t.id,
        names_of=lambda t: t.names,
        describe=lambda t: {"id": t.id, "names": list(t.names)},
    )


def test_an_id_prefix_needs_four_characters_even_when_unique() -> None:
    assert MIN_ID_PREFIX == 4
    for short in ("a", "ab", "abc"):
        with pytest.raises(NotFound, match=f"no such thing: {short}"):
            resolve(short, [A])
    assert resolve("abcd", [A]) is A
    assert resolve("abce") is C  # an image id's "sha256:" is optional...
    assert resolve("sha256:abce") is C  # ...or given


def test_names_and_full_ids_match_exactly_whatever_their_length() -> None:
    assert resolve("db") is A and resolve("web") is B
    assert resolve(A.id) is A and resolve(C.id.removeprefix("sha256:")) is C
    assert resolve("busybox:latest") is C
    with pytest.raises(NotFound):
        resolve("busybox:lat")  # a name never matches by prefix


def test_an_exact_name_wins_over_id_prefixes() -> None:
    named = Thing("ffff" + "0" * 60, ("abcd",))
    assert resolve("abcd", [*ALL, named]) is named


def test_an_ambiguous_prefix_lists_its_candidates() -> None:
    with pytest.raises(AmbiguousRef) as caught:
        resolve("abcd")
    error = caught.value
    assert isinstance(error, Conflict) and error.code == "ambiguous_ref" and error.status == 409
    assert error.details == {
        "matches": [{"id": A.id, "names": ["db"]}, {"id": B.id, "names": ["web"]}],
        "count": 2,
    }


def test_the_candidates_listed_are_bounded() -> None:
    many = [Thing(f"beef{i:060d}", (f"n{i}",)) for i in range(MAX_REF_CANDIDATES + 5)]
    with pytest.raises(AmbiguousRef) as caught:
        resolve("beef", many)
    assert len(caught.value.details["matches"]) == MAX_REF_CANDIDATES
    assert caught.value.details["count"] == MAX_REF_CANDIDATES + 5


def test_an_empty_ref_names_nothing() -> None:
    with pytest.raises(NotFound):
        resolve("  ")
