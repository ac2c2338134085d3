"""Model presets as data: one dataclass tree, loaded from ``config/model/<preset>.yaml``.

A :class:`TraceGenConfig` fully describes a TraceGen model (encoders, fusion, decoder, flow
matching, sampler defaults, trace contract). It is saved inside every checkpoint's JSON, so a
checkpoint rebuilds without the preset file or the encoders' original directories
(lerobot/diffusers habit: a model is a config plus weights).

Encoders are given either by ``pretrained`` (a local directory, a hub id on machines with
internet, or ``pkg:<python package>/<sub dir>`` for weights shipped inside an installed
package) or by ``config`` (keyword arguments of the transformers config class: random
initialisation, used for tests, parameter counts and random-weight benchmarks).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tracegen.errors import InputError
from tracegen.trace import TraceSpec

VISION_KINDS = ("dinov3", "siglip")
TEXT_KINDS = ("t5", "bert")
NULL_CONDITION_MODES = ("text", "all")
SOLVERS = ("euler", "midpoint", "heun", "rk4", "dopri5", "official")
TIME_SAMPLING = ("uniform", "logit_normal")

#: Presets shipped under config/model/.
PRESET_NAMES = ("paper", "large", "tiny", "sim")


@dataclass
class VisionEncoderConfig:
    """A frozen (or trainable) vision backbone from transformers.

    Attributes:
        kind: ``dinov3`` (DINOv3ViTModel) or ``siglip`` (SiglipVisionModel).
        pretrained: local directory / hub id / ``pkg:<package>/<dir>``; None = build from ``config``.
        config: transformers config kwargs (used when ``pretrained`` is None or weights are not loaded).
        trainable: train the backbone (False = frozen, the official setup; frozen outputs are cacheable).
        stem_trainable: depth encoder only: train the 1x1 conv stem (1 -> 3 channels) before it.
    """

    kind: str = "siglip"
    pretrained: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    trainable: bool = False
    stem_trainable: bool = True

    def validate(self, name: str) -> None:
        if self.kind not in VISION_KINDS:
            raise InputError(f"encoders.{name}.kind {self.kind!r} is not one of {VISION_KINDS}")
        if self.pretrained is None and not self.config:
            raise InputError(
                f"encoders.{name} needs `pretrained` (a path or hub id) or a `config` to build from"
            )


@dataclass
class TextEncoderConfig:
    """The instruction encoder.

    Attributes:
        kind: ``t5`` (T5EncoderModel) or ``bert`` (BertModel, e.g. the packaged all-MiniLM-L6-v2).
        pretrained / config: as for :class:`VisionEncoderConfig`.
        tokenizer: directory / hub id / ``pkg:...`` of the tokenizer files, ``byt5`` for the
            byte-level T5 tokenizer that needs no files, or None = same as ``pretrained``.
        max_tokens: instructions are padded / truncated to this many tokens (official 128).
        trainable: train the text backbone.
    """

    kind: str = "t5"
    pretrained: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    tokenizer: str | None = None
    max_tokens: int = 128
    trainable: bool = False

    def validate(self) -> None:
        if self.kind not in TEXT_KINDS:
            raise InputError(f"encoders.text.kind {self.kind!r} is not one of {TEXT_KINDS}")
        if self.pretrained is None and not self.config:
            raise InputError("encoders.text needs `pretrained` (a path or hub id) or a `config`")
        if self.tokenizer is None and self.pretrained is None:
            raise InputError(
                "encoders.text.tokenizer must be set (e.g. `byt5`) when there is no `pretrained`"
            )
        if self.max_tokens < 1:
            raise InputError(f"encoders.text.max_tokens must be >= 1, got {self.max_tokens}")


@dataclass
class EncodersConfig:
    dino: VisionEncoderConfig = field(default_factory=lambda: VisionEncoderConfig(kind="dinov3"))
    siglip: VisionEncoderConfig = field(default_factory=VisionEncoderConfig)
    depth: VisionEncoderConfig = field(default_factory=VisionEncoderConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)


@dataclass
class DecoderConfig:
    """diffusers' CogVideoXTransformer3DModel over the folded trace grid.

    Attributes:
        num_layers / num_heads / head_dim: transformer size (paper: 6 x 12 x 64).
        time_embed_dim: timestep embedding width (diffusers default 512).
        patch_size: spatial patch over the 20x20 grid (2 -> 10x10 patches per frame).
        steps_per_frame: trace steps folded into channels (2: 32 steps -> 16 frames of 6 channels).
        padding_tokens: keep the official learnable padding tokens for conditions shorter than
            the decoder's condition length (never active when lengths match; kept for weights).
        mask_text_padding: hide padded instruction tokens from attention (False = official).
        condition_tokens: the decoder's condition length (CogVideoX ``max_text_seq_length``); a
            shorter condition is repeated to fill it (the official rule), which gives the condition
            that many times more attention mass against the 1600 trace tokens; None = the
            condition's own length (paper: 576 + 128 = 704).
        vision_positions: add a fixed 2D sin-cos position table to the fused image tokens (no
            parameters). The official model has none (False): its decoder can tell image tokens
            apart only by content; small encoders trained from scratch learn much faster with it.
    """

    num_layers: int = 6
    num_heads: int = 12
    head_dim: int = 64
    time_embed_dim: int = 512
    patch_size: int = 2
    steps_per_frame: int = 2
    padding_tokens: bool = True
    mask_text_padding: bool = False
    condition_tokens: int | None = None
    vision_positions: bool = False


@dataclass
class FlowConfig:
    """Rectified flow: x_t = (1 - t) x0 + t noise, velocity target noise - x0 (t = 1 is noise).

    Attributes:
        timestep_scale: the decoder sees ``t * timestep_scale`` (official: 100 training timesteps).
        cond_dropout: probability of training a sample with the null condition (CFG); 0 = none.
        null_condition: ``text`` (instruction replaced by the null token) or ``all`` (every condition token).
        time_sampling: ``uniform`` (official) or ``logit_normal`` t during training.
    """

    timestep_scale: float = 100.0
    cond_dropout: float = 0.1
    null_condition: str = "text"
    time_sampling: str = "uniform"


@dataclass
class SamplerConfig:
    """Defaults of prediction (a checkpoint stores them; load_predictor may override)."""

    solver: str = "euler"
    steps: int = 100
    guidance: float = 1.0

    def validate(self) -> None:
        if self.solver not in SOLVERS:
            raise InputError(f"sampler.solver {self.solver!r} is not one of {SOLVERS}")
        if self.steps < 1:
            raise InputError(f"sampler.steps must be >= 1, got {self.steps}")
        if self.guidance < 0:
            raise InputError(f"sampler.guidance must be >= 0, got {self.guidance}")


@dataclass
class TraceGenConfig:
    """A complete model description (see the module docstring).

    Attributes:
        name: preset name (``paper``, ``large``, ``tiny``, ``sim`` or a user's).
        image_size_px: side of the square image every vision encoder sees (official 384).
        cond_dim: width of the fused condition tokens (official d_model 768).
        trace: the trace contract (grid, horizon L, increment statistics).
    """

    name: str = "custom"
    image_size_px: int = 384
    cond_dim: int = 768
    encoders: EncodersConfig = field(default_factory=EncodersConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    trace: TraceSpec = field(default_factory=TraceSpec)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for name in ("dino", "siglip", "depth"):
            getattr(self.encoders, name).validate(name)
        if self.encoders.depth.kind != "siglip":
            raise InputError("encoders.depth.kind must be siglip (the depth stem feeds a SigLIP)")
        if self.encoders.dino.kind != "dinov3":
            raise InputError("encoders.dino.kind must be dinov3")
        self.encoders.text.validate()
        self.sampler.validate()
        if self.flow.null_condition not in NULL_CONDITION_MODES:
            raise InputError(
                f"flow.null_condition {self.flow.null_condition!r} not in {NULL_CONDITION_MODES}"
            )
        if self.flow.time_sampling not in TIME_SAMPLING:
            raise InputError(f"flow.time_sampling {self.flow.time_sampling!r} not in {TIME_SAMPLING}")
        if not 0.0 <= self.flow.cond_dropout < 1.0:
            raise InputError(f"flow.cond_dropout must be in [0, 1), got {self.flow.cond_dropout}")
        spec, dec = self.trace, self.decoder
        if spec.horizon % dec.steps_per_frame:
            raise InputError(
                f"trace horizon {spec.horizon} is not divisible by "
                f"decoder.steps_per_frame {dec.steps_per_frame}"
            )
        if spec.grid_rows % dec.patch_size or spec.grid_cols % dec.patch_size:
            raise InputError(
                f"grid {spec.grid_rows}x{spec.grid_cols} is not divisible by "
                f"decoder.patch_size {dec.patch_size}"
            )
        if self.image_size_px < 16:
            raise InputError(f"image_size_px must be >= 16, got {self.image_size_px}")

    @property
    def num_frames(self) -> int:
        """Decoder frames: horizon / steps_per_frame (official 16)."""
        return self.trace.horizon // self.decoder.steps_per_frame

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["trace"] = self.trace.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TraceGenConfig:
        """Build from a nested dict (YAML / checkpoint JSON); unknown keys are an error."""
        data = dict(data)
        _check_keys(cls, data, "model config")
        enc = dict(data.pop("encoders", {}) or {})
        _check_keys(EncodersConfig, enc, "encoders")
        encoders = EncodersConfig(
            dino=_build(VisionEncoderConfig, {"kind": "dinov3", **(enc.get("dino") or {})}, "encoders.dino"),
            siglip=_build(VisionEncoderConfig, enc.get("siglip") or {}, "encoders.siglip"),
            depth=_build(VisionEncoderConfig, enc.get("depth") or {}, "encoders.depth"),
            text=_build(TextEncoderConfig, enc.get("text") or {}, "encoders.text"),
        )
        trace = data.pop("trace", None)
        return cls(
            encoders=encoders,
            decoder=_build(DecoderConfig, data.pop("decoder", {}) or {}, "decoder"),
            flow=_build(FlowConfig, data.pop("flow", {}) or {}, "flow"),
            sampler=_build(SamplerConfig, data.pop("sampler", {}) or {}, "sampler"),
            trace=TraceSpec.from_dict(trace) if trace else TraceSpec(),
            **data,
        )

    def replace(self, **changes: Any) -> TraceGenConfig:
        return dataclasses.replace(self, **changes)


def _check_keys(cls: type, data: dict[str, Any], where: str) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise InputError(f"unknown keys {sorted(unknown)} in {where}; known keys: {sorted(known)}")


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    _check_keys(cls, data, where)
    return cls(**data)


def preset_dir() -> Path:
    """``config/model`` of the installed or checked-out share directory."""
    from tracegen.resources import share_dir

    return share_dir() / "config" / "model"


def load_preset(name_or_path: str | Path) -> TraceGenConfig:
    """A preset by name (``paper``, ``large``, ``tiny``, ``sim``) or a YAML file path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = preset_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in preset_dir().glob("*.yaml")) if preset_dir().is_dir() else []
        raise InputError(f"no model preset {str(name_or_path)!r} (looked for {path}); available: {available}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"model preset {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"model preset {path} must be a mapping, got {type(data).__name__}")
    data.setdefault("name", path.stem)
    return TraceGenConfig.from_dict(data)
