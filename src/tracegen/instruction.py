"""Checking a natural-language instruction before the model is conditioned on it.

Instructions arrive from people (a parameter, the ``/tracegen/instruction`` topic, a demo
recorder): what is refused here would otherwise reach the text encoder silently, e.g. an empty
string after a typo, a pasted binary blob, or a whole document.
"""

from __future__ import annotations

import unicodedata

from tracegen.errors import InputError

#: Longer than any task instruction; the paper's text encoder keeps 128 tokens.
MAX_INSTRUCTION_CHARS = 512


def clean_instruction(text: str) -> str:
    """``text`` with surrounding and repeated whitespace collapsed; raises :class:`InputError`
    when it is empty, too long, holds control characters or no letter at all."""
    if not isinstance(text, str):
        raise InputError(f"instruction must be text, got {type(text).__name__}")
    cleaned = " ".join(text.split())
    shown = repr(cleaned[:60] + ("..." if len(cleaned) > 60 else ""))
    if not cleaned:
        raise InputError(
            "instruction is empty: say what the robot should do, e.g. 'put the block in the bowl'"
        )
    if len(cleaned) > MAX_INSTRUCTION_CHARS:
        raise InputError(
            f"instruction has {len(cleaned)} characters ({shown}): at most {MAX_INSTRUCTION_CHARS} "
            "are accepted; give one short task sentence"
        )
    control = [c for c in cleaned if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn")]
    if control:
        raise InputError(
            f"instruction {shown} contains {len(control)} control or unassigned characters "
            f"(first {control[0]!r}): send plain text"
        )
    if not any(c.isalpha() for c in cleaned):
        raise InputError(f"instruction {shown} contains no letter: say what the robot should do")
    return cleaned
