"""Give every group of students its own CIFAR-100 superclass, fairly and reproducibly.

One call (or ``cifarlab assign`` in a shell)::

    from cifarlab import assign
    table = assign.assign_superclasses("roster.csv", salt="AI-2024-spring")
    print(table.to_markdown())          # group -> superclass -> its five classes
    assign.write_assignments(table, "assignments")   # assignments.csv and .md

The rules, stated exactly (and tested):

- **Deterministic.** The table depends only on the group names in roster order, the
  ``salt`` (a course or term name), the excluded superclasses and ``previous``. No
  randomness from the clock or from Python's ``hash``: the order comes from SHA-256.
- **Balanced.** Groups take superclasses in a salted order of the available ones; no
  superclass is used a second time before every available one is used once, and with
  more groups than superclasses they wrap around evenly (counts differ by at most one).
- **Stable.** Groups added at the *end* of the roster never change the superclass of the
  groups before them. With ``previous`` (an earlier assignment table) every group named
  there keeps its superclass exactly, whatever the roster's order and wherever new groups
  are inserted; new groups take the least-used superclasses. ``cifarlab assign`` uses
  the ``assignments.csv`` already in its output folder as ``previous`` automatically.

Without ``previous``, reordering the roster, or inserting a group before others,
reassigns the groups after that point: keep the output folder (or pass ``previous``).

Roster files (UTF-8 CSV, comma, semicolon or tab separated):

- **with a header** that has a group column (``group``, ``team``, ``group_name``, ...,
  any case) and any member columns. A group may span several rows, one per member.
- **without a header**: one group per line, optionally followed by its members. A group
  named on two lines is an error here (it is most likely a typo).

Group names become folder names (``runs/<group>/``), so two names that differ only in
case, spaces or punctuation (``"Group 1"`` and ``"group_1"``) are an error in both forms.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import numbers
import os
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cifarlab import labels as _labels
from cifarlab._files import atomic_write

__all__ = [
    "GROUP_COLUMNS",
    "AssignmentFiles",
    "Assignments",
    "GroupAssignment",
    "assign_superclasses",
    "group_folder",
    "read_assignments",
    "read_roster",
    "write_assignments",
]

#: Header names (compared ignoring case, spaces, hyphens and underscores) of the group column.
GROUP_COLUMNS = ("group", "group_name", "groupname", "team", "team_name", "teamname")
#: Header cells that show a file has a header even without a group column.
_HEADER_WORDS = {
    "name",
    "names",
    "member",
    "members",
    "student",
    "students",
    "student_name",
    "email",
    "e_mail",
    "id",
    "student_id",
}
#: Folder names a group cannot take (re-runs keep older outputs in ``previous/``).
_RESERVED = {"previous"}
#: Columns of ``assignments.csv``, in order.
CSV_COLUMNS = ("group", "superclass", "superclass_index", "classes", "members")
_LIST_SEP = "; "


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class GroupAssignment:
    """One group's superclass.

    Attributes:
        group: the group's name as written in the roster.
        superclass: official superclass name (``"medium_mammals"``).
        superclass_index: its index 0..19 in the official order.
        classes: its five fine classes, official order (labels 0..4 in the notebooks).
        members: member names from the roster (may be empty).
        kept: True when the superclass was kept from a previous assignment.
    """

    group: str
    superclass: str
    superclass_index: int
    classes: tuple[str, ...]
    members: tuple[str, ...] = ()
    kept: bool = False

    @property
    def folder(self) -> str:
        """The group's folder name (``runs/<folder>/``): see :func:`group_folder`."""
        return group_folder(self.group)

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "superclass": self.superclass,
            "superclass_index": self.superclass_index,
            "classes": list(self.classes),
            "members": list(self.members),
            "kept": self.kept,
            "folder": self.folder,
        }


@dataclass(frozen=True)
class Assignments:
    """The assignment table: one :class:`GroupAssignment` per group, in roster order.

    Attributes:
        groups: the rows.
        salt: the salt used (None when read back from a CSV, which does not store it).
        excluded: superclasses that were not used.

    Example:
        >>> table = assign_superclasses(3, salt="demo")
        >>> table["group-02"].superclass in table.counts()
        True
    """

    groups: tuple[GroupAssignment, ...]
    salt: str | None = None
    excluded: tuple[str, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.groups)

    def __iter__(self) -> Iterator[GroupAssignment]:
        return iter(self.groups)

    def __getitem__(self, group: str) -> GroupAssignment:
        for row in self.groups:
            if row.group == group:
                return row
        names = [g.group for g in self.groups]
        close = difflib.get_close_matches(str(group), names, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise KeyError(f"No group {group!r} in the assignments.{hint} Groups: {shown}.")

    @property
    def names(self) -> tuple[str, ...]:
        """The group names, roster order."""
        return tuple(g.group for g in self.groups)

    def counts(self) -> dict[str, int]:
        """Superclass -> number of groups that have it (only superclasses in use)."""
        out: dict[str, int] = {}
        for row in self.groups:
            out[row.superclass] = out.get(row.superclass, 0) + 1
        return out

    @property
    def balanced(self) -> bool:
        """True when the counts of the available superclasses differ by at most one."""
        counts = self.counts()
        values = [counts.get(n, 0) for n in _labels.COARSE_LABELS if n not in self.excluded]
        return max(values) - min(values) <= 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "balanced": self.balanced,
            "salt": self.salt,
            "excluded": list(self.excluded),
            "groups": [g.to_dict() for g in self.groups],
        }

    def to_frame(self):
        """A pandas DataFrame with the columns of ``assignments.csv``."""
        import pandas as pd

        return pd.DataFrame([_csv_row(g) for g in self.groups], columns=list(CSV_COLUMNS))

    def to_csv(self) -> str:
        """The ``assignments.csv`` text (what :func:`read_assignments` reads back)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in self.groups:
            writer.writerow([_csv_row(row)[c] for c in CSV_COLUMNS])
        return buf.getvalue()

    def to_markdown(self) -> str:
        """A Markdown page: how the table was made, then group -> superclass -> classes."""
        used = len(self.counts())
        available = len(_labels.COARSE_LABELS) - len(self.excluded)
        salt = "not recorded" if self.salt is None else f"`{self.salt}`"
        excluded = ", ".join(self.excluded) if self.excluded else "none"
        lines = [
            "# Superclass assignments",
            "",
            f"{len(self.groups)} groups, {used} of {available} available superclasses used "
            f"(salt {salt}; excluded: {excluded}).",
            (
                "Balanced: no superclass is used twice before every available one is used once."
                if self.balanced
                else "Not balanced: groups kept from a previous assignment share superclasses."
            ),
        ]
        lines += [
            "",
            "| group | superclass | index | classes | members |",
            "| --- | --- | ---: | --- | --- |",
        ]
        for g in self.groups:
            cells = [
                g.group,
                g.superclass,
                str(g.superclass_index),
                ", ".join(g.classes),
                ", ".join(g.members),
            ]
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class AssignmentFiles:
    """What :func:`write_assignments` wrote.

    Attributes:
        csv: ``assignments.csv``.
        markdown: ``assignments.md``.
        previous: where the earlier, different files were moved (None if there were none
            or they were identical).
        changed: False when identical files were already there (nothing was written).
    """

    csv: Path
    markdown: Path
    previous: Path | None
    changed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "csv": str(self.csv),
            "markdown": str(self.markdown),
            "previous": None if self.previous is None else str(self.previous),
            "changed": self.changed,
        }


# --------------------------------------------------------------------------- names


def group_folder(group: str) -> str:
    """The folder name of a group: letters, digits, ``.``, ``_`` and ``-`` only.

    ``"Group 13"`` -> ``"Group_13"``, ``"Équipe B"`` -> ``"quipe_B"``. Two groups whose
    folder names differ only in case are rejected by :func:`assign_superclasses`.

    Raises:
        ValueError: the name has no letter or digit to make a folder name from.
    """
    if not isinstance(group, str):
        raise TypeError(f"A group name must be a string. Received: {group!r}.")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", group).strip("._-")
    if not slug:
        raise ValueError(
            f"Group name {group!r} has no letter or digit (A-Z, 0-9) to make a folder name "
            "from. Rename the group."
        )
    if slug.lower() in _RESERVED:
        raise ValueError(
            f"Group name {group!r} is reserved (its folder would hold older outputs). "
            "Rename the group."
        )
    return slug[:80]


def _key(group: str) -> str:
    return group_folder(group).lower()


def _normalise_header(cell: str) -> str:
    return re.sub(r"[\s\-_]+", "_", cell.strip().lower()).strip("_")


# --------------------------------------------------------------------------- rosters


def read_roster(path: str | os.PathLike) -> dict[str, tuple[str, ...]]:
    """Read a roster CSV: group name -> member names, in order of first appearance.

    See the module docstring for the two accepted forms. Blank lines are skipped;
    member names are de-duplicated within a group.

    Args:
        path: the CSV file (UTF-8, with or without a byte-order mark; comma, semicolon
            or tab separated).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is empty, not text, has a header without a group column,
            a row without a group name, a row with more cells than the header, a group
            repeated in a file without header, or two names for one folder.

    Example:
        >>> read_roster("roster.csv")
        {'Group 1': ('Ana', 'Ben'), 'Group 2': ('Chen',)}
    """
    path = _check_file(path, "roster")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"The roster {path} is not UTF-8 text ({err.reason} at byte {err.start}). "
            "Save it as 'CSV UTF-8' from your spreadsheet."
        ) from None
    if "\x00" in text:
        raise ValueError(f"The roster {path} is a binary file, not a CSV.")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise ValueError(
            f"The roster {path} is empty. Give one group per line, or a header with a "
            "'group' column and one row per member."
        )
    first = lines[0][1]
    delimiter = next((d for d in (",", ";", "\t") if d in first), ",")
    rows = []
    for number, line in lines:
        cells = next(csv.reader([line], delimiter=delimiter))
        rows.append((number, [c.strip() for c in cells]))

    header = [_normalise_header(c) for c in rows[0][1]]
    group_cols = [i for i, h in enumerate(header) if h in GROUP_COLUMNS]
    if group_cols:
        return _roster_with_header(path, rows, header, group_cols[0])
    looks_like_header = any(header) and all(
        h in _HEADER_WORDS or re.fullmatch(r"(member|student|name)_?\d+", h) for h in header if h
    )
    if looks_like_header:
        raise ValueError(
            f"The roster {path} has a header ({', '.join(rows[0][1])}) but no group column. "
            f"Name the group column one of: {', '.join(GROUP_COLUMNS)}."
        )
    return _roster_without_header(path, rows)


def _roster_with_header(path, rows, header, col) -> dict[str, tuple[str, ...]]:
    if len(rows) == 1:
        raise ValueError(f"The roster {path} has a header but no groups.")
    roster: dict[str, list[str]] = {}
    width = len(header)
    for number, cells in rows[1:]:
        if len(cells) > width and any(cells[width:]):
            raise ValueError(
                f"Line {number} of the roster {path} has {len(cells)} cells but the header "
                f"has {width}. Quote names that contain the separator."
            )
        group = cells[col] if col < len(cells) else ""
        members = [c for i, c in enumerate(cells[:width]) if i != col and c]
        if not group:
            raise ValueError(
                f"Line {number} of the roster {path} has no group name (column "
                f"{header[col]!r})." + (f" Its members: {', '.join(members)}." if members else "")
            )
        listed = roster.setdefault(group, [])
        listed += [m for m in members if m not in listed]
    return _checked_roster(roster, path)


def _roster_without_header(path, rows) -> dict[str, tuple[str, ...]]:
    roster: dict[str, list[str]] = {}
    seen: dict[str, int] = {}
    for number, cells in rows:
        group = cells[0] if cells else ""
        if not group:
            raise ValueError(f"Line {number} of the roster {path} has no group name.")
        if group in seen:
            raise ValueError(
                f"Group {group!r} is named twice in the roster {path} (lines {seen[group]} "
                f"and {number}). Without a header each line is one group; to list one "
                "member per row, add a header with a 'group' column."
            )
        seen[group] = number
        members: list[str] = []
        for c in cells[1:]:
            if c and c not in members:
                members.append(c)
        roster[group] = members
    return _checked_roster(roster, path)


def _checked_roster(roster: Mapping[str, Sequence[str]], where) -> dict[str, tuple[str, ...]]:
    keys: dict[str, str] = {}
    for group in roster:
        key = _key(group)
        if key in keys:
            raise ValueError(
                f"Groups {keys[key]!r} and {group!r} in {where} differ only in case, spaces "
                f"or punctuation, so they would share the folder {group_folder(group)!r}. "
                "Give them distinct names."
            )
        keys[key] = group
    return {g: tuple(m) for g, m in roster.items()}


def _roster_from(groups) -> dict[str, tuple[str, ...]]:
    """Accepts what :func:`assign_superclasses` documents; returns name -> members."""
    if isinstance(groups, bool):
        raise TypeError(f"`groups` must be a roster, not a bool. Received: groups={groups!r}.")
    if isinstance(groups, numbers.Integral):
        groups = int(groups)
        if groups < 1:
            raise ValueError(
                f"`groups` must be at least 1 when it is a number. Received: groups={groups}."
            )
        width = max(2, len(str(groups)))
        return {f"group-{i:0{width}d}": () for i in range(1, groups + 1)}
    if isinstance(groups, (str, os.PathLike)):
        return read_roster(groups)
    if isinstance(groups, Mapping):
        items = list(groups.items())
        for name, members in items:
            if isinstance(members, str) or not isinstance(members, Sequence):
                raise TypeError(
                    f"Members of group {name!r} must be a list of names. Received: {members!r}."
                )
    elif isinstance(groups, Sequence):
        items = [(name, ()) for name in groups]
    else:
        raise TypeError(
            "`groups` must be a roster CSV path, a list of group names, a dict of group -> "
            f"members, or a number of groups. Received: {type(groups).__name__}."
        )
    if not items:
        raise ValueError("`groups` is empty: there is no group to assign.")
    roster: dict[str, tuple[str, ...]] = {}
    for name, members in items:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"Group names must be non-empty strings. Received: {name!r}.")
        name = name.strip()
        if name in roster:
            raise ValueError(f"Group {name!r} is listed twice in `groups`.")
        roster[name] = tuple(str(m).strip() for m in members if str(m).strip())
    return _checked_roster(roster, "`groups`")


# --------------------------------------------------------------------------- assigning


def _salted_order(available: Sequence[str], salt: str, cycle: int) -> list[str]:
    """The available superclasses in a salted order, a fresh order for every cycle."""

    def rank(name: str) -> str:
        return hashlib.sha256(f"cifarlab\x1f{salt}\x1f{cycle}\x1f{name}".encode()).hexdigest()

    return sorted(available, key=rank)


def _check_exclude(exclude) -> tuple[str, ...]:
    if exclude is None:
        return ()
    if isinstance(exclude, (str, int)):
        exclude = [exclude]
    if not isinstance(exclude, (Sequence, set, frozenset)):
        raise TypeError(
            f"`exclude` must be a list of superclass names or indices. Received: {exclude!r}."
        )
    names = []
    for item in exclude:
        try:
            name = _labels.superclass_name(item)
        except (TypeError, ValueError) as err:
            raise type(err)(f"In `exclude`: {err}") from None
        if name not in names:
            names.append(name)
    if len(names) == len(_labels.COARSE_LABELS):
        raise ValueError(
            "`exclude` lists all 20 superclasses, so none is left to assign. Exclude fewer."
        )
    return tuple(n for n in _labels.COARSE_LABELS if n in names)


def assign_superclasses(
    groups: str | os.PathLike | Sequence[str] | Mapping[str, Sequence[str]] | int,
    *,
    salt: str = "",
    exclude: Sequence[str | int] | None = None,
    previous: Assignments | str | os.PathLike | None = None,
) -> Assignments:
    """Assign one CIFAR-100 superclass to every group.

    The ``i``-th group of the roster that is not kept from ``previous`` takes the least
    used superclass, ties broken by a salted order (SHA-256 of salt, cycle and name) that
    is fresh for every round through the superclasses. Without ``previous`` this means:
    the first 20 groups (fewer with ``exclude``) get distinct superclasses, the next ones
    start a new round, and so on. See the module docstring for the guarantees.

    Args:
        groups: a roster CSV path (:func:`read_roster`), a list of group names, a dict
            ``{group: [members]}``, or a number ``N`` (groups ``group-01`` .. ``group-N``).
        salt: any text, typically the course and term (``"AI-2024-spring"``): another salt
            gives another, equally balanced, assignment.
        exclude: superclass names or indices not to use (e.g. ones with poor images).
        previous: an earlier :class:`Assignments` or its ``assignments.csv``: groups named
            there (and still in the roster) keep their superclass; the others are new.
            Groups of ``previous`` that left the roster are dropped.

    Returns:
        :class:`Assignments`, in roster order.

    Raises:
        ValueError: an empty or malformed roster, repeated group names, an unknown
            superclass in ``exclude`` (with the closest name), all 20 excluded, or a kept
            group whose superclass is now excluded.

    Example:
        >>> table = assign_superclasses(["Group 1", "Group 2"], salt="AI-2024")
        >>> [g.superclass for g in table]          # two different superclasses
        >>> table2 = assign_superclasses(["Group 1", "Group 2", "Group 3"], salt="AI-2024")
        >>> table2["Group 1"] == table["Group 1"]  # adding a group keeps the others
        True
    """
    if not isinstance(salt, str):
        raise TypeError(f"`salt` must be a string (e.g. a course and term). Received: {salt!r}.")
    roster = _roster_from(groups)
    excluded = _check_exclude(exclude)
    available = [n for n in _labels.COARSE_LABELS if n not in excluded]
    kept: dict[str, str] = {}
    if previous is not None:
        if not isinstance(previous, Assignments):
            previous = read_assignments(previous)
        by_key = {_key(g.group): g for g in previous.groups}
        conflicts = []
        for name in roster:
            old = by_key.get(_key(name))
            if old is None:
                continue
            if old.superclass in excluded:
                conflicts.append(f"{name} ({old.superclass})")
            kept[name] = old.superclass
        if conflicts:
            raise ValueError(
                "These groups keep their previous superclass, which `exclude` now excludes: "
                f"{', '.join(conflicts)}. Remove them from the previous assignments to "
                "reassign them, or do not exclude their superclass."
            )
    counts = dict.fromkeys(available, 0)
    for superclass in kept.values():
        counts[superclass] = counts.get(superclass, 0) + 1
    orders: dict[int, list[str]] = {}
    rows = []
    for name, members in roster.items():
        if name in kept:
            chosen, was_kept = kept[name], True
        else:
            low = min(counts[s] for s in available)
            order = orders.setdefault(low, _salted_order(available, salt, low))
            chosen = next(s for s in order if counts[s] == low)
            counts[chosen] += 1
            was_kept = False
        rows.append(
            GroupAssignment(
                group=name,
                superclass=chosen,
                superclass_index=_labels.COARSE_LABELS.index(chosen),
                classes=_labels.SUPERCLASSES[chosen],
                members=members,
                kept=was_kept,
            )
        )
    return Assignments(groups=tuple(rows), salt=salt, excluded=excluded)


# --------------------------------------------------------------------------- files


def _csv_row(g: GroupAssignment) -> dict[str, Any]:
    return {
        "group": g.group,
        "superclass": g.superclass,
        "superclass_index": g.superclass_index,
        "classes": _LIST_SEP.join(g.classes),
        "members": _LIST_SEP.join(g.members),
    }


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _check_file(path, what: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`{what}` must be a file path. Received: {path!r}.")
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"`{what}` file {path} does not exist.")
    if not path.is_file():
        raise ValueError(f"`{what}` must be a file; {path} is a folder.")
    return path


def read_assignments(path: str | os.PathLike) -> Assignments:
    """Read an ``assignments.csv`` written by :func:`write_assignments` (or by hand).

    Needs the columns ``group`` and ``superclass`` (a name or an index 0..19); the
    classes are looked up again, ``members`` is optional (names separated by ``;``).
    An instructor may edit the superclass of a group by hand: the edit is what counts.

    Raises:
        FileNotFoundError: no such file.
        ValueError: no rows, a missing column, an unknown superclass (with the closest
            name), or a repeated group.

    Example:
        >>> table = read_assignments("assignments/assignments.csv")
    """
    path = _check_file(path, "assignments")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"The assignments file {path} is not UTF-8 text.") from None
    reader = csv.DictReader(io.StringIO(text))
    fields = [_normalise_header(f or "") for f in (reader.fieldnames or [])]
    if not fields:
        raise ValueError(f"The assignments file {path} is empty. Write one with `cifarlab assign`.")
    missing = [c for c in ("group", "superclass") if c not in fields]
    if missing:
        raise ValueError(
            f"The assignments file {path} lacks the column(s) {', '.join(missing)}; it has "
            f"{', '.join(reader.fieldnames or [])}. Expected: {', '.join(CSV_COLUMNS)}."
        )
    reader.fieldnames = fields
    rows = []
    seen: dict[str, str] = {}
    for number, record in enumerate(reader, start=2):
        group = (record.get("group") or "").strip()
        superclass = (record.get("superclass") or "").strip()
        if not group and not superclass:
            continue
        if not group:
            raise ValueError(f"Line {number} of {path} has no group name.")
        key = _key(group)
        if key in seen:
            raise ValueError(
                f"Group {group!r} appears twice in {path}"
                + ("" if seen[key] == group else f" (also as {seen[key]!r})")
                + ": each group has one superclass."
            )
        seen[key] = group
        try:
            name = _labels.superclass_name(superclass)
        except (TypeError, ValueError) as err:
            raise ValueError(f"Line {number} of {path} (group {group!r}): {err}") from None
        members = tuple(m.strip() for m in (record.get("members") or "").split(";") if m.strip())
        rows.append(
            GroupAssignment(
                group=group,
                superclass=name,
                superclass_index=_labels.COARSE_LABELS.index(name),
                classes=_labels.SUPERCLASSES[name],
                members=members,
            )
        )
    if not rows:
        raise ValueError(f"The assignments file {path} has a header but no groups.")
    return Assignments(groups=tuple(rows), salt=None, excluded=())


def write_assignments(
    assignments: Assignments, out_dir: str | os.PathLike = "."
) -> AssignmentFiles:
    """Write ``assignments.csv`` and ``assignments.md`` into ``out_dir``, atomically.

    Nothing is overwritten silently: when different files are already there they are
    first moved into ``out_dir/previous/<YYYYmmdd-HHMMSS>/`` (reported in the result);
    identical files are left as they are.

    Example:
        >>> files = write_assignments(assign_superclasses(12, salt="AI-2024"), "assignments")
        >>> files.csv
        PosixPath('assignments/assignments.csv')
    """
    if not isinstance(assignments, Assignments):
        raise TypeError(
            "`assignments` must be the Assignments from assign_superclasses or "
            f"read_assignments. Received: {type(assignments).__name__}."
        )
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"`out_dir` {out} is a file, not a folder.")
    out.mkdir(parents=True, exist_ok=True)
    texts = {
        out / "assignments.csv": assignments.to_csv(),
        out / "assignments.md": assignments.to_markdown(),
    }
    existing = [p for p in texts if p.exists()]
    same = existing and all(p.is_file() and p.read_text() == t for p, t in texts.items())
    if same:
        return AssignmentFiles(*texts, previous=None, changed=False)
    moved_to = None
    if existing:
        moved_to = _new_folder(out / "previous")
        for p in existing:
            os.replace(p, moved_to / p.name)
    for p, t in texts.items():
        atomic_write(p, t)
    return AssignmentFiles(*texts, previous=moved_to, changed=True)


def _new_folder(root: Path) -> Path:
    """A new folder ``root/<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``, ... when it exists)."""
    root.mkdir(parents=True, exist_ok=True)
    base = datetime.now().strftime("%Y%m%d-%H%M%S")
    for i in range(1, 10_000):
        folder = root / (base if i == 1 else f"{base}-{i}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise RuntimeError(f"Could not create a new folder in {root}.")


def _temp_name(target: Path, suffix: str = ".part") -> Path:
    """A fresh hidden name next to ``target`` (created later with the usual permissions)."""
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")
