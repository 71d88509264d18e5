"""What a partner is called in a sentence.

A name is optional (issue 15): someone who gives none is stored as NULL, not as a stand-in
word, and only the words around it decide how it reads: "Your partner did today's practice"
at a sentence start, "Share with your partner" in the middle. A chosen name is shown exactly
as its owner typed it, at either place.
"""

from __future__ import annotations

UNNAMED = "your partner"


def called(chosen: str | None, *, start: bool) -> str:
    """The chosen name, or "your partner" (capitalised when it starts a sentence)."""
    if chosen:
        return chosen
    return UNNAMED.capitalize() if start else UNNAMED
