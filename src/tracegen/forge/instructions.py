"""Instructions for a clip: from the source when it has them, else a captioner, else a template.

The official release keeps three variants per episode (``three_instructions.json``, keys
``instruction_1`` .. ``instruction_3``): a short command, a stepwise description and a natural
request. Resolution order (:func:`resolve_instructions`):

1. the source's own instructions (bag topic or metadata, dataset task, sidecar file), each
   variant cleaned by :func:`tracegen.instruction.clean_instruction`;
2. a :class:`Captioner` (e.g. :class:`tracegen.forge.captioner.TransformersCaptioner` running a
   local vision-language model): source ``captioner:<model>``;
3. :class:`TemplateCaptioner`: fixed phrasings built from the task name when one is known;
   source ``template``, so training can tell (and filter) them.

Never a silent empty string: unusable captioner output falls back to the template and the
provenance says what happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from tracegen.errors import InputError
from tracegen.instruction import clean_instruction

#: Keys of the official three_instructions.json, in order.
VARIANT_KEYS = ("instruction_1", "instruction_2", "instruction_3")
#: What each variant is.
VARIANT_KINDS = {
    "instruction_1": "short command",
    "instruction_2": "stepwise description",
    "instruction_3": "natural request",
}
#: The official data loader's fallback text.
OFFICIAL_DEFAULT_INSTRUCTION = "Can you move the robot gripper or human hand to solve the task?"


@dataclass(frozen=True)
class Instructions:
    """1 to 3 cleaned variants, where they came from (``Triplet.instruction_source``) and details."""

    texts: tuple[str, ...]
    source: str
    origin: str


@runtime_checkable
class Captioner(Protocol):
    """Writes the three instruction variants for a clip."""

    #: Recorded as ``captioner:<name>`` (or "template" for the fallback).
    name: str

    def caption(self, frames: Sequence[np.ndarray], task: str | None) -> dict[str, str]:
        """``frames``: a few ``[H, W, 3]`` uint8 RGB frames of the clip, in time order.
        Returns text for each of :data:`VARIANT_KEYS`."""
        ...


def _task_phrase(task: str | None) -> str | None:
    if not task:
        return None
    phrase = " ".join(task.replace("_", " ").replace("-", " ").split())
    return phrase if any(c.isalpha() for c in phrase) else None


class TemplateCaptioner:
    """Fixed phrasings (the fallback): from the task name when known, else generic ones."""

    name = "template"

    def caption(self, frames: Sequence[np.ndarray], task: str | None) -> dict[str, str]:
        phrase = _task_phrase(task)
        if phrase:
            return {
                "instruction_1": phrase[0].upper() + phrase[1:],
                "instruction_2": f"Reach the object involved, then {phrase}, then move away.",
                "instruction_3": f"Could you {phrase}?",
            }
        return {
            "instruction_1": "Do the task shown.",
            "instruction_2": "Reach the object, manipulate it as shown, then move away.",
            "instruction_3": OFFICIAL_DEFAULT_INSTRUCTION,
        }


def split_variants(texts: Sequence[str] | str) -> tuple[str, ...]:
    """Source instructions -> up to 3 cleaned variants (a string may hold several, one per line).

    Raises :class:`InputError` when none is usable (empty, no letters, control characters).
    """
    if isinstance(texts, str):
        texts = [texts]
    pieces = [line for text in texts for line in str(text).splitlines()]
    cleaned: list[str] = []
    problems: list[str] = []
    for piece in pieces:
        if not piece.strip():
            continue
        try:
            text = clean_instruction(piece)
        except InputError as exc:
            problems.append(str(exc))
            continue
        if text not in cleaned:
            cleaned.append(text)
    if not cleaned:
        detail = f" ({problems[0]})" if problems else ""
        raise InputError(f"the source's instructions {list(texts)!r} hold no usable text{detail}")
    return tuple(cleaned[:3])


def _clean_caption(variants: dict[str, str]) -> tuple[str, ...]:
    texts = []
    for key in VARIANT_KEYS:
        raw = variants.get(key)
        if raw is None:
            raise InputError(f"captioner gave no {key} ({VARIANT_KINDS[key]})")
        first_line = next((line for line in str(raw).splitlines() if line.strip()), "")
        texts.append(clean_instruction(first_line.strip().strip("\"'")))
    return tuple(texts)


def resolve_instructions(
    source_texts: Sequence[str],
    source_origin: str,
    frames: Sequence[np.ndarray],
    task: str | None,
    captioner: Captioner | None,
) -> Instructions:
    """The instructions of a clip (order of preference in the module docstring)."""
    notes = []
    if source_texts:
        try:
            return Instructions(split_variants(source_texts), "source", source_origin or "source")
        except InputError as exc:
            notes.append(f"source instructions unusable: {exc}")
    if captioner is not None and not isinstance(captioner, TemplateCaptioner):
        try:
            texts = _clean_caption(captioner.caption(frames, task))
            return Instructions(texts, f"captioner:{captioner.name}", "; ".join([*notes, "captioned"]))
        except InputError as exc:
            notes.append(f"captioner {captioner.name} output unusable ({exc}); template used")
    texts = _clean_caption(TemplateCaptioner().caption(frames, task))
    origin = "; ".join([*notes, "template fallback: the source has no instruction and no captioner ran"])
    return Instructions(texts, "template", origin)
