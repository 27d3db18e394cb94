"""Give every group of students its own CIFAR-100 superclass: deterministic, balanced and
stable (roster forms and the exact guarantees: docs/instructors.md)."""

import csv
import hashlib
import io
import numbers
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from cifarlab import labels as _labels
from cifarlab._checks import did_you_mean, integer
from cifarlab._files import atomic_write, markdown_text, new_folder, slug, spreadsheet_text

#: Header names (ignoring case, spaces, hyphens and underscores) of the group column.
GROUP_COLUMNS = ("group", "group_name", "groupname", "team", "team_name", "teamname")
_HEADER_WORD = re.compile(r"(name|member|student)(s|_?\d+)?|student_name|e_?mail|(student_)?id")
CSV_COLUMNS = ("group", "superclass", "superclass_index", "classes", "members")
#: Folders cifarlab's tools use in runs/ and in a group's folder: no group may be named so.
RESERVED_FOLDERS = ("previous", "records", "report", "report_files", "exercises")


@dataclass(frozen=True)
class GroupAssignment:
    """One group: superclass, its five classes (labels 0..4), members; ``kept``: from previous."""

    group: str
    superclass: str
    superclass_index: int
    classes: tuple[str, ...]
    members: tuple[str, ...] = ()
    kept: bool = False

    @property
    def folder(self) -> str:
        return group_folder(self.group)


def _row(group: str, superclass: str, members=(), kept: bool = False) -> GroupAssignment:
    return GroupAssignment(group, superclass, _labels.COARSE_LABELS.index(superclass),
                           _labels.SUPERCLASSES[superclass], tuple(members), kept)


@dataclass(frozen=True)
class Assignments:
    """One :class:`GroupAssignment` per group in roster order (``salt``: None from a CSV)."""

    groups: tuple[GroupAssignment, ...]
    salt: str | None = None
    excluded: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.groups)

    def __iter__(self) -> Iterator[GroupAssignment]:
        return iter(self.groups)

    def __getitem__(self, group: str) -> GroupAssignment:
        if group in self.names:
            return self.groups[self.names.index(group)]
        shown = ", ".join(self.names[:20]) + (", ..." if len(self) > 20 else "")
        raise KeyError(f"No group {group!r} in the assignments."
                       f"{did_you_mean(group, self.names)} Groups: {shown}.")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.group for g in self.groups)

    @property
    def balanced(self) -> bool:
        """True when the counts of the available superclasses differ by at most one."""
        used = Counter(g.superclass for g in self.groups)
        counts = [used[n] for n in _labels.COARSE_LABELS if n not in self.excluded]
        return max(counts) - min(counts) <= 1

    def to_dict(self) -> dict:
        return {"balanced": self.balanced, "salt": self.salt, "excluded": list(self.excluded),
                "groups": [{**asdict(g), "folder": g.folder} for g in self.groups]}

    def to_frame(self, sep: str = "; "):
        """A pandas DataFrame with the columns of ``assignments.csv`` (lists joined by ``sep``)."""
        import pandas as pd
        rows = [{**asdict(g), "classes": sep.join(g.classes), "members": sep.join(g.members)}
                for g in self.groups]
        return pd.DataFrame(rows, columns=list(CSV_COLUMNS))

    def to_csv(self) -> str:
        """``assignments.csv``: members that read back whole (a name holding ``;`` or ``"``
        quoted), no cell a spreadsheet runs as a formula."""
        quote = lambda m: '"' + m.replace('"', '""') + '"' if ";" in m or '"' in m else m  # noqa: E731
        frame = self.to_frame().assign(members=["; ".join(map(quote, g.members)) for g in self])
        return frame.map(spreadsheet_text).to_csv(index=False, lineterminator="\n")

    def to_markdown(self) -> str:
        """A Markdown page: how the table was made, then group -> superclass -> classes."""
        salt = "not recorded" if self.salt is None else f"`{markdown_text(self.salt)}`"
        used = len({g.superclass for g in self})
        rows = ["| " + " | ".join(markdown_text(c) for c in row) + " |"
                for row in self.to_frame(", ").itertuples(index=False)]
        return "\n".join([
            "# Superclass assignments", "",
            f"{len(self)} groups, {used} of {20 - len(self.excluded)} available "
            f"superclasses used (salt {salt}; excluded: {', '.join(self.excluded) or 'none'}).",
            "Balanced: no superclass is used twice before every available one is used once."
            if self.balanced else
            "Not balanced: groups kept from a previous assignment share superclasses.",
            "", "| group | superclass | index | classes | members |",
            "| --- | --- | ---: | --- | --- |", *rows, "",
        ])  # fmt: skip


@dataclass(frozen=True)
class AssignmentFiles:
    """What :func:`write_assignments` wrote: ``previous`` (older files) and ``changed``."""

    csv: Path
    markdown: Path
    previous: Path | None
    changed: bool


def group_folder(group: str, where: str = "") -> str:
    """The folder name of a group: ``"Group 13"`` -> ``"Group_13"`` (A-Z, 0-9, ``._-``)."""
    name = slug(group, limit=80, default="")
    if not name or name.lower() in RESERVED_FOLDERS:
        why = (f"is reserved (cifarlab uses folders named {', '.join(RESERVED_FOLDERS)} in runs/)"
               if name else "has no letter or digit (A-Z, 0-9)")
        raise ValueError(f"{where}Group name {group!r} {why}: it cannot name a folder. Rename it.")
    return name



def _key(group: str) -> str:
    return group_folder(group).lower()


def _csv_rows(path, what: str, empty: str) -> tuple[Path, list[tuple[int, list[str]]]]:
    """The rows of a UTF-8 CSV file (``,`` ``;`` or tab) that have a cell: (first line, cells)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise (ValueError(f"`{what}` must be a file; {path} is a folder.") if path.exists()
               else FileNotFoundError(f"`{what}` file {path} does not exist."))
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"The {what} file {path} is not UTF-8 text ({err.reason} at byte "
                         f"{err.start}). Save it as 'CSV UTF-8' from your spreadsheet.") from None
    if "\x00" in text:
        raise ValueError(f"The {what} file {path} is a binary file, not a CSV.")
    # the separator: the one most used outside quotes, on the first line that has one
    plain = re.sub(r'"[^"]*"', "", text)
    first = next((line for line in plain.splitlines() if re.search("[,;\t]", line)), "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=max(",;\t", key=first.count),
                        strict=True)  # the whole file: a quoted cell may hold a line break
    rows, start = [], 1
    try:
        for row in reader:
            if any(cells := [" ".join(c.split()) for c in row]):
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as err:
        raise ValueError(f"Line {start} of the {what} file {path} is not valid CSV ({err}). Quote "
                         'whole cells ("Reyes, Ana") and close every quote.') from None
    if not rows:
        raise ValueError(f"The {what} file {path} is empty. {empty}")
    return path, rows


def read_roster(path: str | os.PathLike) -> dict[str, tuple[str, ...]]:
    """Group name -> member names from a roster CSV, with a header (a group column; one row
    per member allowed) or without (a group per line, then its members); ``,`` ``;`` or tab."""
    path, rows = _csv_rows(path, "roster", "Give a group per line, or a 'group' column.")
    header = [_labels._normalise(c) for c in rows[0][1]]
    col = next((i for i, h in enumerate(header) if h in GROUP_COLUMNS), None)
    if col is None and any(header) and all(_HEADER_WORD.fullmatch(h) for h in header if h):
        raise ValueError(f"The roster {path} has a header ({', '.join(rows[0][1])}) but no "
                         f"group column. Name the group column one of: {', '.join(GROUP_COLUMNS)}.")
    if col is not None and len(rows) == 1:
        raise ValueError(f"The roster {path} has a header but no groups.")
    width, col, rows = (None, 0, rows) if col is None else (len(header), col, rows[1:])
    roster: dict[str, list[str]] = {}
    for number, cells in rows:
        where = f"Line {number} of the roster {path}"
        if width and len(cells) > width and any(cells[width:]):
            raise ValueError(f"{where} has {len(cells)} cells but the header has {width}. "
                             "Quote names that contain the separator.")
        group = cells[col] if col < len(cells) else ""
        members = [c for i, c in enumerate(cells[:width]) if i != col and c]
        if not group:
            raise ValueError(f"{where} has no group name."
                             + (f" Its members: {', '.join(members)}." if members else ""))
        group_folder(group, f"{where}: ")
        if width is None and group in roster:
            first = next(n for n, c in rows if c[0] == group)
            raise ValueError(f"Group {group!r} is named twice in the roster {path} (lines {first} "
                             f"and {number}); only with a header may a group span rows.")
        listed = roster.setdefault(group, [])
        listed += [m for m in members if m not in listed]
    return _checked_roster(roster, path)


def _checked_roster(roster: Mapping[str, Sequence[str]], where) -> dict[str, tuple[str, ...]]:
    keys: dict[str, str] = {}
    for group in roster:
        if (key := _key(group)) in keys:
            raise ValueError(f"Groups {keys[key]!r} and {group!r} in {where} differ only in case, "
                             f"spaces or punctuation (same folder {group_folder(group)!r}).")
        keys[key] = group
    return {g: tuple(m) for g, m in roster.items()}


def _roster_from(groups) -> dict[str, tuple[str, ...]]:
    if isinstance(groups, (str, os.PathLike)):
        return read_roster(groups)
    if isinstance(groups, (bool, numbers.Integral)):
        n = integer("groups", groups)
        return {f"group-{i:0{max(2, len(str(n)))}d}": () for i in range(1, n + 1)}
    if not isinstance(groups, (Mapping, Sequence)):
        raise TypeError("`groups` must be a roster CSV path, a list of group names, a dict of "
                        f"group -> members, or a number of groups. Received: {groups!r}.")
    items = list(groups.items()) if isinstance(groups, Mapping) else [(g, ()) for g in groups]
    if not items:
        raise ValueError("`groups` is empty: there is no group to assign.")
    roster: dict[str, tuple[str, ...]] = {}
    for name, members in items:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"Group names must be non-empty strings. Received: {name!r}.")
        if isinstance(members, str) or not isinstance(members, Sequence):
            raise TypeError(f"Members of group {name!r} must be a list. Received: {members!r}.")
        if (name := name.strip()) in roster:
            raise ValueError(f"Group {name!r} is listed twice in `groups`.")
        roster[name] = tuple(filter(None, (str(m).strip() for m in members)))
    return _checked_roster(roster, "`groups`")


def assign_superclasses(
    groups: str | os.PathLike | Sequence | Mapping[str, Sequence[str]] | int, *, salt: str = "",
    exclude: Sequence | None = None, previous: Assignments | str | os.PathLike | None = None,
) -> Assignments:  # fmt: skip
    """One CIFAR-100 superclass per group: the least used, ties broken by SHA-256 of salt,
    round and name. ``groups``: a roster CSV, a list of names, ``{group: [members]}`` or a
    number N (``group-01`` ...); ``exclude``: superclass names or indices not to use;
    ``previous``: an earlier :class:`Assignments` or its CSV, whose groups keep theirs."""
    if not isinstance(salt, str):
        raise TypeError(f"`salt` must be a string (e.g. a course and term). Received: {salt!r}.")
    roster = _roster_from(groups)
    exclude = [exclude] if isinstance(exclude, (str, int)) else exclude or ()
    if not isinstance(exclude, (Sequence, set, frozenset)):
        raise TypeError(f"`exclude` must be a list of names or indices. Received: {exclude!r}.")
    try:
        names = {_labels.superclass_name(item) for item in exclude}
    except (TypeError, ValueError) as err:
        raise type(err)(f"In `exclude`: {err}") from None
    if len(names) == len(_labels.COARSE_LABELS):
        raise ValueError("`exclude` lists all 20 superclasses, so none is left to assign.")
    excluded = tuple(n for n in _labels.COARSE_LABELS if n in names)
    if previous is not None and not isinstance(previous, Assignments):
        previous = read_assignments(previous)
    by_key = {_key(g.group): g.superclass for g in previous or ()}
    kept = {name: by_key[_key(name)] for name in roster if _key(name) in by_key}
    if conflicts := [f"{name} ({s})" for name, s in kept.items() if s in excluded]:
        raise ValueError(f"These groups keep their previous superclass, which `exclude` excludes: "
                         f"{', '.join(conflicts)}. Drop them from `previous`, or exclude less.")
    counts = Counter({n: 0 for n in _labels.COARSE_LABELS if n not in excluded})
    counts.update(kept.values())
    rows = []
    for name, members in roster.items():
        superclass = kept.get(name)
        if superclass is None:  # the least used, ties broken by a salted hash
            low = min(counts.values())
            tied = [s for s, n in counts.items() if n == low]
            superclass = min(tied, key=lambda s: hashlib.sha256(
                f"cifarlab\x1f{salt}\x1f{low}\x1f{s}".encode()).hexdigest())
            counts[superclass] += 1
        rows.append(_row(name, superclass, members, kept=name in kept))
    return Assignments(groups=tuple(rows), salt=salt, excluded=excluded)


def read_assignments(path: str | os.PathLike) -> Assignments:
    """Read an ``assignments.csv`` back (``superclass``: a name or index; hand edits count)."""
    path, rows = _csv_rows(path, "assignments", "Write one with `cifarlab assign`.")
    header = [_labels._normalise(c) for c in rows[0][1]]
    if missing := [c for c in ("group", "superclass") if c not in header]:
        raise ValueError(f"The assignments file {path} lacks the column(s) {', '.join(missing)}; "
                         f"it has {', '.join(rows[0][1])}. Expected: {', '.join(CSV_COLUMNS)}.")
    table, seen = [], {}
    for number, cells in rows[1:]:
        cells = [c[1:] if c[:1] == "'" and spreadsheet_text(c[1:]) == c else c for c in cells]
        record = dict(zip(header, cells, strict=False))  # without spreadsheet_text's '
        group, superclass = record.get("group", ""), record.get("superclass", "")
        if not group:
            raise ValueError(f"Line {number} of {path} has no group name.")
        if (key := group_folder(group, f"Line {number} of {path}: ").lower()) in seen:
            also = "" if seen[key] == group else f" (also as {seen[key]!r})"
            raise ValueError(f"Group {group!r} appears twice in {path}{also}: one superclass each.")
        seen[key] = group
        try:
            name = _labels.superclass_name(superclass)
        except (TypeError, ValueError) as err:
            raise ValueError(f"Line {number} of {path} (group {group!r}): {err}") from None
        members = next(csv.reader([record.get("members", "")], delimiter=";",
                                  skipinitialspace=True), [])
        table.append(_row(group, name, filter(None, (m.strip() for m in members))))
    if not table:
        raise ValueError(f"The assignments file {path} has a header but no groups.")
    return Assignments(groups=tuple(table))


def write_assignments(assignments: Assignments, out_dir: str | Path = ".") -> AssignmentFiles:
    """Write ``assignments.csv`` and ``assignments.md`` into ``out_dir``, atomically; different
    files already there are first moved to ``out_dir/previous/<time>/``, identical ones kept."""
    if not isinstance(assignments, Assignments):
        raise TypeError("`assignments` must be the Assignments from assign_superclasses or "
                        f"read_assignments. Received: {type(assignments).__name__}.")
    out = Path(out_dir).expanduser()
    if out.is_file():
        raise ValueError(f"`out_dir` {out} is a file, not a folder.")
    out.mkdir(parents=True, exist_ok=True)
    texts = {out / "assignments.csv": assignments.to_csv(),
             out / "assignments.md": assignments.to_markdown()}
    existing = [p for p in texts if p.exists()]
    if existing and all(p.is_file() and p.read_text() == t for p, t in texts.items()):
        return AssignmentFiles(*texts, previous=None, changed=False)
    moved_to = new_folder(out / "previous") if existing else None
    for p in existing:
        os.replace(p, moved_to / p.name)
    for p, t in texts.items():
        atomic_write(p, t)
    return AssignmentFiles(*texts, previous=moved_to, changed=True)
