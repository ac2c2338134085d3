"""Instructions: the source's, else a captioner (a real VLM through generate()), else a marked template."""

from __future__ import annotations

import numpy as np
import pytest

from tracegen.errors import InputError
from tracegen.forge.config import ForgeConfig
from tracegen.forge.engine import forge_input
from tracegen.forge.instructions import (
    OFFICIAL_DEFAULT_INSTRUCTION,
    VARIANT_KEYS,
    TemplateCaptioner,
    resolve_instructions,
    split_variants,
)
from tracegen.forge.readers import discover_inputs

from support.forge_media import box_episode, write_video_pyav

FRAMES = [np.zeros((48, 64, 3), np.uint8), np.full((48, 64, 3), 200, np.uint8)]

VOCABULARY = [
    "pick",
    "place",
    "push",
    "the",
    "a",
    "box",
    "block",
    "red",
    "blue",
    "cup",
    "bowl",
    "into",
    "onto",
    "move",
    "grasp",
    "then",
    "first",
    "reach",
    "and",
    "it",
    "lift",
    "put",
    "left",
    "right",
    "slide",
    "gently",
    "please",
    "could",
    "you",
    "robot",
    "arm",
    "over",
    "to",
]
#: Every non-special token of the tiny tokenizer (the chat template's words included).
WORDS = [*VOCABULARY, "user", "assistant", ":"]


@pytest.fixture(scope="module")
def tiny_vlm_dir(tmp_path_factory):
    """A randomly initialised LLaVA (SigLIP vision + Llama text) with a word-level tokenizer built in
    code, saved with save_pretrained like any local VLM."""
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
        SiglipVisionConfig,
    )
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    specials = ["<pad>", "<s>", "</s>", "<unk>", "<image>"]
    vocab = {word: i for i, word in enumerate([*specials, *WORDS])}
    tokenizer_model = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer_model.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer_model.decoder = decoders.WordPiece(prefix="##")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer_model,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        extra_special_tokens={"image_token": "<image>"},
    )
    chat_template = (
        "{% for m in messages %}{{ m['role'] }} : {% for c in m['content'] %}{% if c['type'] == 'image' %}"
        "<image> {% else %}{{ c['text'] }} {% endif %}{% endfor %}{% endfor %}"
        "{% if add_generation_prompt %}assistant : {% endif %}"
    )
    processor = LlavaProcessor(
        image_processor=SiglipImageProcessorPil(size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
        patch_size=16,
        vision_feature_select_strategy="full",
        chat_template=chat_template,
        num_additional_image_tokens=0,
    )
    config = LlavaConfig(
        vision_config=SiglipVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=16,
        ),
        text_config=LlamaConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
        ),
        image_token_index=vocab["<image>"],
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vlm") / "tiny-llava"
    LlavaForConditionalGeneration(config).save_pretrained(path)
    processor.save_pretrained(path)
    return path


def test_source_instructions_win_and_are_split_into_variants():
    result = resolve_instructions(
        ["push the box\n  slide it right  "], "bag metadata", FRAMES, None, TemplateCaptioner()
    )
    assert result.texts == ("push the box", "slide it right")
    assert (result.source, result.origin) == ("source", "bag metadata")


def test_without_source_or_captioner_the_template_says_it_is_one():
    result = resolve_instructions([], "", FRAMES, "push_box", None)
    assert result.source == "template" and "template fallback" in result.origin
    assert result.texts == (
        "Push box",
        "Reach the object involved, then push box, then move away.",
        "Could you push box?",
    )
    generic = resolve_instructions([], "", FRAMES, None, None)
    assert generic.texts[2] == OFFICIAL_DEFAULT_INSTRUCTION and all(generic.texts)


def test_unusable_source_text_is_never_an_empty_instruction():
    with pytest.raises(InputError, match="no usable text"):
        split_variants(["   ", "\n"])
    result = resolve_instructions(["\x00\x01"], "sidecar", FRAMES, None, None)
    assert result.source == "template" and "source instructions unusable" in result.origin


class _BrokenCaptioner:
    name = "broken"

    def caption(self, frames, task):
        return {"instruction_1": "", "instruction_2": "ok text", "instruction_3": "fine"}


def test_captioner_output_without_words_falls_back_to_the_template():
    result = resolve_instructions([], "", FRAMES, None, _BrokenCaptioner())
    assert result.source == "template" and "captioner broken output unusable" in result.origin


def test_a_local_vlm_writes_three_non_empty_variants_through_generate(tiny_vlm_dir):
    from tracegen.forge.captioner import TransformersCaptioner

    captioner = TransformersCaptioner(tiny_vlm_dir, max_new_tokens=6)
    variants = captioner.caption(FRAMES, "push_box")
    assert set(variants) == set(VARIANT_KEYS)
    assert all(text.strip() and set(text.split()) <= set(WORDS) for text in variants.values())
    result = resolve_instructions([], "", FRAMES, "push_box", captioner)
    assert result.source == "captioner:tiny-llava" and len(result.texts) == 3
    assert captioner.caption(FRAMES, "push_box") == variants  # greedy decoding: deterministic


def test_a_clip_without_instructions_is_captioned_during_forging(tiny_vlm_dir, tmp_path):
    path = write_video_pyav(tmp_path / "clip.mp4", np.asarray(box_episode().rgb))
    spec = discover_inputs([path])[0][0]
    config = ForgeConfig(captioner_dir=str(tiny_vlm_dir), caption_max_new_tokens=4, min_trace_steps=2)
    result = forge_input(spec, tmp_path / "out", config)
    assert result.status == "done", result.reason
    from tracegen.data import read_triplets

    triplet = next(read_triplets(tmp_path / "out"))
    assert triplet.instruction_source == "captioner:tiny-llava" and len(triplet.instructions) == 3


def test_missing_vlm_directory_is_a_clear_error(tmp_path):
    from tracegen.forge.captioner import TransformersCaptioner

    with pytest.raises(InputError, match=r"no config\.json"):
        TransformersCaptioner(tmp_path / "nowhere")
