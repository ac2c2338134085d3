"""A captioner that runs a local vision-language model through transformers.

Any image-text-to-text model directory that ``AutoProcessor`` and
``AutoModelForImageTextToText`` load (LLaVA, SmolVLM, Qwen2-VL, PaliGemma, ... saved with
``save_pretrained``) works; nothing is downloaded (``local_files_only``). The clip is shown as
one image, its first and last frames side by side, and the model is asked once per variant
(:data:`PROMPTS`); decoding is greedy, so captions are deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from tracegen.errors import InputError
from tracegen.forge.instructions import VARIANT_KEYS

PROMPTS = {
    "instruction_1": (
        "The left image is the start and the right image the end of a manipulation. Write a short "
        "imperative command (at most 10 words) for what was done."
    ),
    "instruction_2": (
        "The left image is the start and the right image the end of a manipulation. Describe, step by "
        "step in one sentence, how it was done."
    ),
    "instruction_3": (
        "The left image is the start and the right image the end of a manipulation. Write the polite "
        "request a person would say to ask a robot to do it."
    ),
}
#: Height of the side-by-side image shown to the model.
MOSAIC_HEIGHT_PX = 336


def clip_mosaic(frames: Sequence[np.ndarray]) -> np.ndarray:
    """First and last frame side by side, ``[MOSAIC_HEIGHT_PX, W', 3]`` uint8."""
    if not frames:
        raise InputError("captioning needs at least one frame")
    picked = [frames[0], frames[-1]]
    height, width = picked[0].shape[:2]
    new_w = max(1, round(width * MOSAIC_HEIGHT_PX / height))
    return np.concatenate(
        [cv2.resize(f, (new_w, MOSAIC_HEIGHT_PX), interpolation=cv2.INTER_AREA) for f in picked], axis=1
    )


class TransformersCaptioner:
    """Captions clips with a local VLM (see the module docstring)."""

    def __init__(self, model_dir: str | Path, *, max_new_tokens: int = 32, device: str = "cpu") -> None:
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise InputError(
                f"captioner model directory {model_dir} has no config.json: pass a local directory "
                "saved with save_pretrained (models cannot be downloaded here)"
            )
        from transformers import AutoModelForImageTextToText, AutoProcessor

        try:
            self.processor = AutoProcessor.from_pretrained(model_dir, local_files_only=True)
            self.model = AutoModelForImageTextToText.from_pretrained(model_dir, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"cannot load a vision-language model from {model_dir}: {exc}") from None
        self.model.to(device).eval()
        self.device = device
        self.max_new_tokens = int(max_new_tokens)
        self.name = model_dir.name

    def _inputs(self, image, prompt: str):
        messages = [
            {"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": prompt}]}
        ]
        if getattr(self.processor, "chat_template", None):
            return self.processor.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
            )
        image_token = getattr(self.processor, "image_token", "<image>")
        return self.processor(images=image, text=f"{image_token}\n{prompt}", return_tensors="pt")

    def caption(self, frames: Sequence[np.ndarray], task: str | None) -> dict[str, str]:
        import torch
        from PIL import Image

        image = Image.fromarray(clip_mosaic(frames))
        variants = {}
        for key in VARIANT_KEYS:
            prompt = PROMPTS[key] + (f" (The task is known as: {task}.)" if task else "")
            inputs = self._inputs(image, prompt).to(self.device)
            with torch.no_grad():
                output = self.model.generate(
                    **inputs, max_new_tokens=self.max_new_tokens, min_new_tokens=2, do_sample=False
                )
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            variants[key] = self.processor.batch_decode(new_tokens, skip_special_tokens=True)[0].strip()
        return variants
