"""Superclass assignment: deterministic, balanced, stable, and clear about bad rosters."""

import json
from collections import Counter

import pytest

from cifarlab import assign, labels

ALL = labels.COARSE_LABELS


def roster(tmp_path, text, name="roster.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def superclasses(table):
    return [g.superclass for g in table]


# --------------------------------------------------------------------------- determinism


def test_same_roster_and_salt_give_the_same_table_across_releases():
    # SHA-256, not Python's hash(): the same in every process and every Python version.
    table = assign.assign_superclasses(["Group 1", "Group 2", "Group 3"], salt="AI-2024")
    assert superclasses(table) == ["insects", "large_carnivores", "trees"]
    again = assign.assign_superclasses(["Group 1", "Group 2", "Group 3"], salt="AI-2024")
    assert superclasses(again) == superclasses(table)
    assert table["Group 2"].classes == ("bear", "leopard", "lion", "tiger", "wolf")
    assert table["Group 2"].superclass_index == 8


def test_another_salt_gives_another_draw():
    draws = {tuple(superclasses(assign.assign_superclasses(20, salt=s))) for s in "abcde"}
    assert len(draws) == 5
    assert all(sorted(d) == sorted(ALL) for d in draws)  # each a permutation of all 20


# --------------------------------------------------------------------------- balance


@pytest.mark.parametrize("n", [1, 7, 19, 20, 21, 45, 60])
def test_no_superclass_twice_before_all_once_and_even_wrap_around(n):
    got = superclasses(assign.assign_superclasses(n, salt="term"))
    for i, name in enumerate(got):
        # the i-th group is in round i // 20: its superclass was used that many times before
        assert got[:i].count(name) == i // 20
    counts = Counter(got)
    if n >= 20:
        assert set(counts) == set(ALL)
        assert max(counts.values()) - min(counts.values()) <= 1
    assert assign.assign_superclasses(n, salt="term").balanced


def test_excluded_superclasses_are_never_used_and_the_rest_stay_balanced():
    excluded = list(ALL[:17])  # 3 left
    table = assign.assign_superclasses(
        8, salt="x", exclude=excluded + ["Medium Mammals", 0]
    )  # names in any spelling, indices; 0 is aquatic_mammals (already excluded)
    got = superclasses(table)
    assert not set(got) & set(excluded) and "medium_mammals" not in got
    assert sorted(Counter(got).values()) == [2, 3, 3]  # 8 groups over 2 left
    assert table.excluded[0] == "aquatic_mammals" and "medium_mammals" in table.excluded


# --------------------------------------------------------------------------- stability


def test_groups_added_at_the_end_of_the_roster_keep_everyone_else(tmp_path):
    first = roster(tmp_path, "group,member\nTeam A,Ana\nTeam B,Ben\nTeam A,Abe\n", "a.csv")
    later = roster(
        tmp_path,
        "group,member\nTeam A,Ana\nTeam B,Ben\nTeam A,Abe\nTeam C,Cy\nTeam D,Di\n",
        "b.csv",
    )
    before = assign.assign_superclasses(first, salt="s")
    after = assign.assign_superclasses(later, salt="s")
    assert after["Team A"].superclass == before["Team A"].superclass
    assert after["Team B"].superclass == before["Team B"].superclass
    assert len(set(superclasses(after))) == 4
    # also for a number of groups: group-01..03 keep theirs when group-04.. come
    assert superclasses(assign.assign_superclasses(25, salt="s"))[:3] == superclasses(
        assign.assign_superclasses(3, salt="s")
    )


def test_previous_pins_groups_whatever_the_order_and_insertions(tmp_path):
    before = assign.assign_superclasses(["B", "C", "D"], salt="s")
    files = assign.write_assignments(before, tmp_path)
    # a new group inserted first, the others reordered: without `previous` they move ...
    shuffled = ["A", "D", "B", "C"]
    assert superclasses(assign.assign_superclasses(shuffled, salt="s"))[1:] != [
        before[g].superclass for g in ("D", "B", "C")
    ]
    # ... with it (the table object or its CSV) every earlier group keeps its superclass
    for previous in (before, files.csv):
        after = assign.assign_superclasses(shuffled, salt="s", previous=previous)
        for g in ("B", "C", "D"):
            assert after[g].superclass == before[g].superclass and after[g].kept
        assert not after["A"].kept
        assert after["A"].superclass not in superclasses(before)  # least used first
        assert after.balanced


def test_previous_groups_that_left_free_their_superclass():
    before = assign.assign_superclasses(20, salt="s")
    names = [f"group-{i:02d}" for i in range(2, 21)] + ["newcomer"]  # group-01 left
    after = assign.assign_superclasses(names, salt="s", previous=before)
    assert after["newcomer"].superclass == before["group-01"].superclass
    assert "group-01" not in after.names and after.balanced


def test_previous_superclass_now_excluded_is_an_error():
    before = assign.assign_superclasses(["A", "B"], salt="s")
    taken = before["A"].superclass
    with pytest.raises(ValueError, match=rf"A \({taken}\).*exclude"):
        assign.assign_superclasses(["A", "B", "C"], salt="s", exclude=[taken], previous=before)


# --------------------------------------------------------------------------- rosters


def test_roster_with_header_one_member_per_row_or_member_columns(tmp_path):
    per_row = roster(
        tmp_path,
        "\ufeffTeam Name;Student\nGroup 1;Ana\nGroup 2;Chen\n\nGroup 1;Ben\nGroup 1;Ana\n",
    )
    assert assign.read_roster(per_row) == {"Group 1": ("Ana", "Ben"), "Group 2": ("Chen",)}
    columns = roster(
        tmp_path, 'member 1,GROUP,member 2\nAna,"Fish, Inc.",Ben\nChen,Birds,\n', "c.csv"
    )
    assert assign.read_roster(columns) == {"Fish, Inc.": ("Ana", "Ben"), "Birds": ("Chen",)}


def test_roster_without_header_one_group_per_line(tmp_path):
    path = roster(tmp_path, "Group 1, Ana, Ben\nGroup 2\n\tGroup 3 , Cy\n")
    assert assign.read_roster(path) == {
        "Group 1": ("Ana", "Ben"),
        "Group 2": (),
        "Group 3": ("Cy",),
    }
    table = assign.assign_superclasses(path, salt="s")
    assert table["Group 1"].members == ("Ana", "Ben") and table["Group 1"].folder == "Group_1"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "is empty"),
        ("\n  \n", "is empty"),
        ("group,member\n", "header but no groups"),
        ("name,email\nAna,ana@x.org\n", r"header \(name, email\) but no group column.*team"),
        ("group,member\nG1,Ana\n,Ben\n", r"Line 3 .* no group name.*Ben"),
        ("group,member\nG1,Ana,extra\n", "Line 2 .* 3 cells but the header has 2"),
        ("G1,Ana\nG2,Ben\nG1,Cy\n", r"'G1' is named twice .*lines 1 and 3.*header"),
        ("group\nGroup 1\ngroup_1\n", "differ only in case, spaces or punctuation"),
        ("G1\n--\n", "no letter or digit"),
        ("Previous\n", "reserved"),
    ],
)
def test_bad_rosters_are_clear_errors(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        assign.assign_superclasses(roster(tmp_path, text))


def test_roster_that_is_not_text_or_missing(tmp_path):
    with pytest.raises(ValueError, match="not UTF-8 text.*CSV UTF-8"):
        assign.read_roster(roster(tmp_path, "Équipe", encoding="latin-1"))
    (tmp_path / "bin.csv").write_bytes(b"PK\x03\x04\x00\x00")
    with pytest.raises(ValueError, match="binary file"):
        assign.read_roster(tmp_path / "bin.csv")
    with pytest.raises(FileNotFoundError, match="roster.*missing.csv does not exist"):
        assign.assign_superclasses(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="is a folder"):
        assign.read_roster(tmp_path)


@pytest.mark.parametrize(
    ("groups", "error", "match"),
    [
        (0, ValueError, r"`groups` >= 1\. Received: groups=0"),
        (True, TypeError, r"`groups` must be an integer >= 1\. Received: groups=True"),
        ([], ValueError, "empty"),
        (["A", " A "], ValueError, "'A' is listed twice"),
        (["A", ""], ValueError, "non-empty strings"),
        ({"A": "Ana"}, TypeError, "Members of group 'A' must be a list"),
        (3.5, TypeError, "roster CSV path, a list of group names"),
    ],
)
def test_bad_groups_argument(groups, error, match):
    with pytest.raises(error, match=match):
        assign.assign_superclasses(groups)


def test_bad_exclude_and_salt():
    with pytest.raises(ValueError, match="Unknown superclass 'fishes'. Did you mean 'fish'"):
        assign.assign_superclasses(3, exclude=["fishes"])
    with pytest.raises(ValueError, match="out of range"):
        assign.assign_superclasses(3, exclude=[20])
    with pytest.raises(ValueError, match="all 20 superclasses"):
        assign.assign_superclasses(3, exclude=list(range(20)))
    with pytest.raises(TypeError, match="`exclude` must be a list"):
        assign.assign_superclasses(3, exclude=object())
    with pytest.raises(TypeError, match="`salt` must be a string"):
        assign.assign_superclasses(3, salt=2024)


# --------------------------------------------------------------------------- files


def test_write_read_round_trip_and_outputs(tmp_path):
    table = assign.assign_superclasses({"Group 1": ["Ana", "Ben"], "Group 2": []}, salt="s")
    files = assign.write_assignments(table, tmp_path / "out")
    assert files.changed and files.previous is None
    back = assign.read_assignments(files.csv)
    assert [(g.group, g.superclass, g.members) for g in back] == [
        (g.group, g.superclass, g.members) for g in table
    ]
    text = files.csv.read_text()
    assert text.splitlines()[0] == "group,superclass,superclass_index,classes,members"
    assert "Ana; Ben" in text and "; ".join(table["Group 1"].classes) in text
    md = files.markdown.read_text()
    assert md.startswith("# Superclass assignments") and "salt `s`" in md
    assert f"| Group 1 | {table['Group 1'].superclass} |" in md
    json.dumps(table.to_dict())
    assert list(table.to_frame().columns) == list(assign.CSV_COLUMNS)


def test_writing_again_never_overwrites_silently(tmp_path):
    first = assign.assign_superclasses(2, salt="s")
    files = assign.write_assignments(first, tmp_path)
    old_csv = files.csv.read_text()
    same = assign.write_assignments(first, tmp_path)
    assert not same.changed and same.previous is None
    assert not (tmp_path / "previous").exists()
    other = assign.write_assignments(assign.assign_superclasses(3, salt="s"), tmp_path)
    assert other.changed and other.previous.parent == tmp_path / "previous"
    assert (other.previous / "assignments.csv").read_text() == old_csv  # kept, not lost
    assert len(assign.read_assignments(other.csv)) == 3
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary file left behind


def test_hand_edited_assignments_are_read_and_checked(tmp_path):
    path = roster(tmp_path, "group,superclass\nG1,Fish\nG2,12\n", "a.csv")
    table = assign.read_assignments(path)
    assert superclasses(table) == ["fish", "medium_mammals"] and table.salt is None
    for text, match in [
        ("group,superclass\nG1,fishes\n", r"Line 2 .*'G1'.*Did you mean 'fish'"),
        ("group,members\nG1,Ana\n", "lacks the column.*superclass"),
        ("group,superclass\nG1,fish\ng1,trees\n", "'g1' appears twice.*also as 'G1'"),
        ("group,superclass\n", "header but no groups"),
        ("", "is empty"),
        ("group,superclass\n,fish\n", "Line 2 .* no group name"),
    ]:
        with pytest.raises(ValueError, match=match):
            assign.read_assignments(roster(tmp_path, text, "bad.csv"))
    with pytest.raises(TypeError, match="must be the Assignments"):
        assign.write_assignments([("G1", "fish")], tmp_path)
    with pytest.raises(ValueError, match="is a file"):
        assign.write_assignments(table, path)


def test_lookup_by_group_name_suggests():
    table = assign.assign_superclasses(["Group 1", "Group 2"])
    with pytest.raises(KeyError, match="No group 'Group 3'.*Did you mean"):
        table["Group 3"]
