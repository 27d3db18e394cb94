"""What every exercise check prints: one line, starting with ✓ (passed) or "Not yet:"."""

from cifarlab.exercises import NOT_YET, PASSED


def verdict(capsys) -> str:
    """The one line the check printed."""
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0, f"a check prints one line: {out!r}"
    return out


def passes(capsys, result) -> str:
    """The check returned True and printed that the answer passed."""
    out = verdict(capsys)
    assert result is True and out.startswith(PASSED), out
    return out


def not_yet(capsys, result, match: str) -> str:
    """The check returned False and printed "Not yet:" with ``match`` in its reason."""
    out = verdict(capsys)
    assert result is False and out.startswith(NOT_YET), out
    assert match in out, out
    return out
