"""The model zoo: torchvision, HuggingFace transformers and timm models with random weights and the
smallest inputs each allows. `all_cases()` lists them; ``default=True`` marks the representative
subset that `make test` runs (the rest runs under ``T2J_FULL=1`` / `make test-full`)."""

from __future__ import annotations

import functools
from typing import Any

import torch

from tests.model_zoo import CHECKS, Built, Case
from torch2jax import DataDependentShapeError


def _seeded(fn):
    @functools.wraps(fn)
    def build(*args: Any, **kwargs: Any) -> Built:
        torch.manual_seed(0)
        built = fn(*args, **kwargs)
        built.module.eval()
        return built

    return build


def _images(batch: int, size: int | tuple[int, int], channels: int = 3) -> torch.Tensor:
    height, width = (size, size) if isinstance(size, int) else size
    generator = torch.Generator().manual_seed(1)
    return torch.randn(batch, channels, height, width, generator=generator)


def _has_train_behaviour(module: torch.nn.Module) -> bool:
    kinds = (torch.nn.modules.batchnorm._NormBase, torch.nn.modules.dropout._DropoutNd)
    return any(
        isinstance(m, kinds) or type(m).__name__ in ("StochasticDepth", "DropPath")
        for m in module.modules()
    )


# --------------------------------------------------------------------------------------------------
# torchvision


# Smallest input sizes where a model's default 32x32 is too small (or kwargs the builder needs
# to accept a small input).
_TV_SIZES = {"alexnet": 64, "inception_v3": 75, "googlenet": 32, "squeezenet1_0": 32}
_TV_KWARGS: dict[str, dict[str, Any]] = {
    "vit_b_16": {"image_size": 32},
    "vit_b_32": {"image_size": 32},
    "vit_l_16": {"image_size": 32},
    "vit_l_32": {"image_size": 32},
    "vit_h_14": {"image_size": 28},
    "maxvit_t": {"input_size": (224, 224)},
    "inception_v3": {"aux_logits": False, "init_weights": True},
    "googlenet": {"aux_logits": False, "init_weights": True},
}
_TV_INPUT = {"maxvit_t": 224, "vit_h_14": 28}
_TV_XFAIL: dict[str, dict[str, str]] = {}
# Looser tolerances, each with the measurement that shows the difference is float32 round-off.
_TV_TOLERANCE: dict[str, dict[str, tuple[float, str]]] = {
    "regnet_x_400mf": {
        "train": (
            2e-4,
            "training-mode batch norm over 8 values per channel in the last stage amplifies "
            "float32 round-off: PyTorch's own float32 output is 6.5e-5 from its float64 one, and "
            "in float64 both libraries agree to 3e-13",
        )
    },
    "r3d_18": {
        "grad": (
            1e-2,
            "one ReLU input of 131072 in layer1 is 7e-9 in PyTorch and -2e-7 here (round-off of "
            "values of size 2), so it falls on the other side of the kink and that element's "
            "gradient is dropped; every other parameter agrees to 2e-6",
        )
    },
    "regnet_x_3_2gf": {
        "train": (
            2e-4,
            "float32 round-off: against PyTorch float64, PyTorch's own float32 result is 8.8e-5 "
            "off and torch2jax's 8.8e-5; in float64 the two agree to 4e-13",
        )
    },
    "regnet_y_1_6gf": {
        "train": (
            2e-4,
            "float32 round-off: against PyTorch float64, PyTorch's own float32 result is 9.7e-5 "
            "off and torch2jax's 7.0e-5; in float64 the two agree to 3e-13",
        )
    },
    "regnet_x_16gf": {
        "train": (
            2e-4,
            "float32 round-off: against PyTorch float64, PyTorch's own float32 result is 8.0e-5 "
            "off and torch2jax's 8.3e-5; in float64 the two agree to 2e-13",
        )
    },
    "regnet_y_32gf": {
        "train": (
            2e-4,
            "float32 round-off: against PyTorch float64, PyTorch's own float32 result is 8.9e-5 "
            "off and torch2jax's 8.2e-5; in float64 the two agree to 3e-13",
        )
    },
    # Its float64 copy does not fit next to PyTorch's on a 24 GiB machine, so the measure of
    # float32 round-off is how far PyTorch's own result moves when the input moves by one ulp.
    "regnet_y_128gf": {
        "grad": (
            5e-2,
            "PyTorch's own float32 gradient moves by 4.0e-2 when the input moves by one ulp "
            "(torch2jax's differs from it by 2.2e-3)",
        ),
        "train": (
            5e-4,
            "PyTorch's own float32 training-mode result moves by 2.0e-4 when the input moves by "
            "one ulp (torch2jax's differs from it by 2.4e-4)",
        ),
    },
}
# Checks compared in float64, where PyTorch's own float32 result is further from its float64 one
# than the tolerance (measured with `python -m tests.zoo_float64 NAME CHECK`), so a float32
# comparison would measure PyTorch's round-off; each reason gives the numbers.
_TV_FLOAT64: dict[str, dict[str, str]] = {
    "vgg19_bn": {
        "grad": "PyTorch's float32 gradient is 2.0e-2 from its float64 one, torch2jax's 1.7e-6; "
        "in float64 the two agree to 6e-15",
    },
    "regnet_y_1_6gf": {
        "grad": "PyTorch's float32 gradient is 1.3e-1 from its float64 one, torch2jax's 1.5e-6; "
        "in float64 the two agree to 5e-15",
    },
    "resnet101": {
        "train": "training-mode batch norm over 8 values a channel (2x2 maps, batch 2): "
        "PyTorch's float32 result is 4.8e-4 from its float64 one, torch2jax's 6.4e-4; in float64 "
        "they agree to 1e-12",
    },
    "wide_resnet101_2": {
        "train": "training-mode batch norm over 8 values a channel (2x2 maps, batch 2): "
        "PyTorch's float32 result is 4.4e-4 from its float64 one, torch2jax's 4.7e-4; in float64 "
        "they agree to 1e-12",
    },
    "resnet152": {
        "train": "training-mode batch norm over 8 values a channel (2x2 maps, batch 2) through "
        "152 layers: PyTorch's float32 result is 1.9e-3 from its float64 one, torch2jax's "
        "1.9e-3; in float64 they agree to 6e-12",
    },
    "resnext101_32x8d": {
        "train": "training-mode batch norm over 8 values a channel (2x2 maps, batch 2): "
        "PyTorch's float32 result is 3.8e-4 from its float64 one, torch2jax's 4.6e-4; in "
        "float64 they agree to 1e-12",
    },
    "resnext101_64x4d": {
        "train": "training-mode batch norm over 8 values a channel (2x2 maps, batch 2): "
        "PyTorch's float32 result is 3.1e-4 from its float64 one, torch2jax's 3.3e-4; in "
        "float64 they agree to 8e-13",
    },
    "regnet_x_32gf": {
        "train": "training-mode batch norm in the last stage: PyTorch's float32 result is "
        "1.35e-4 from its float64 one, torch2jax's 1.34e-4; in float64 they agree to 4e-13",
    },
    "s3d": {
        "grad": "PyTorch's float32 gradient is 2.1e-3 from its float64 one, torch2jax's 3.5e-3; "
        "in float64 the two agree to 6e-16",
    },
    "inception_v3": {
        "train": "training-mode batch norm over 1x1 maps at the 75 px minimum: PyTorch's float32 "
        "result is 2.1e-1 from its float64 one, torch2jax's 2.6e-1; in float64 they agree "
        "to 6e-9",
    },
}


def _float64_note(checks: dict[str, str]) -> str:
    return " ".join(f"{check} in float64: {why}." for check, why in checks.items())


# squeezenet1_1: torchvision's builder path and ceil_mode pooling at the cost of 20 s (the
# batch-norm/hardswish/squeeze-excite path is timm's mobilenetv3_small_050 in the default set).
_TV_DEFAULT = {"squeezenet1_1"}


@_seeded
def _torchvision_classifier(name: str) -> Built:
    import torchvision

    module = torchvision.models.get_model(name, weights=None, **_TV_KWARGS.get(name, {}))
    size = _TV_INPUT.get(name, _TV_SIZES.get(name, 32))
    fixed_size = name.startswith(("vit_", "maxvit"))  # built for one input size
    train_args = None if fixed_size else (_images(2, max(size, 64)),)
    return Built(module, (_images(2, size),), train_args=train_args)


def torchvision_classification_cases() -> list[Case]:
    import torchvision

    cases = []
    for name in torchvision.models.list_models(module=torchvision.models):
        cases.append(
            Case(
                name,
                "torchvision classification",
                functools.partial(_torchvision_classifier, name),
                default=name in _TV_DEFAULT,
                xfail=_TV_XFAIL.get(name, {}),
                tolerance=_TV_TOLERANCE.get(name, {}),
                float64=tuple(_TV_FLOAT64.get(name, {})),
                note=_float64_note(_TV_FLOAT64.get(name, {})),
            )
        )
    return cases


# The dilated ResNet backbones (output stride 8) at 32 px with random weights amplify float32
# round-off through 100+ layers, and the ASPP pooling branch normalizes a batch of two 1x1 maps in
# training mode. Measured on deeplabv3_resnet101 against PyTorch float64: gradients, PyTorch's own
# float32 is 6.2e-2 off and torch2jax's 2.5e-2; training-mode outputs 7.4e-4 and 9.7e-4, running
# statistics 4.6e-4 and 5.2e-4. The FCN heads and ResNet-50 share the backbone.
_RESNET_BACKBONE_GRAD = (
    "the dilated ResNet-101 backbone at 32 px: PyTorch's float32 gradient is 6.2e-2 from its "
    "float64 one, torch2jax's 2.5e-2 (deeplabv3_resnet101)"
)
_RESNET_BACKBONE_TRAIN = (
    "the dilated ResNet backbone and ASPP batch norm over two 1x1 maps: PyTorch's float32 "
    "outputs are 7.4e-4 from its float64 ones, torch2jax's 9.7e-4 (deeplabv3_resnet101)"
)
_SEGMENTATION_FLOAT64: dict[str, dict[str, str]] = {
    "deeplabv3_resnet101": {"grad": _RESNET_BACKBONE_GRAD, "train": _RESNET_BACKBONE_TRAIN},
    "fcn_resnet101": {"grad": _RESNET_BACKBONE_GRAD, "train": _RESNET_BACKBONE_TRAIN},
    "deeplabv3_resnet50": {"train": _RESNET_BACKBONE_TRAIN},
}


@_seeded
def _torchvision_segmentation(name: str) -> Built:
    import torchvision

    module = torchvision.models.get_model(
        name, weights=None, weights_backbone=None, num_classes=3, aux_loss=False
    )
    return Built(module, (_images(2, 32),), train_args=(_images(2, 64),))


@_seeded
def _torchvision_video(name: str) -> Built:
    import torchvision

    # S3D ends in a fixed (2, 7, 7) average pool over 1/8 of the frames and 1/32 of the pixels;
    # the MViTs are built for one input size.
    frames = {"mvit_v1_b": 16, "mvit_v2_s": 16, "s3d": 16}.get(name, 4)
    size = {"mvit_v1_b": 224, "mvit_v2_s": 224, "s3d": 224}.get(name, 32)
    batch = 1 if size == 224 else 2
    module = torchvision.models.get_model(name, weights=None)
    clip = torch.randn(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(1))
    return Built(module, (clip,))


# RAFT's feature and context encoders put a bias before every instance norm, whose gradient is 0
# in exact arithmetic: both libraries return round-off there, against the model's gradient scale
# (PyTorch cannot run RAFT in float64: it builds its sampling grid in float32).
_RAFT_TOLERANCE: dict[str, dict[str, tuple[float, str]]] = {
    "raft_large": {
        "grad": (
            1e-1,
            "the worst parameters are conv biases before instance norm (gradient 0 in exact "
            "arithmetic, round-off of 5e-5 of the model's largest gradient here); PyTorch's own "
            "gradient moves by 8.4e-3 when the input moves by one ulp",
        )
    }
}


@_seeded
def _raft(name: str) -> Built:
    import torchvision

    module = torchvision.models.get_model(name, weights=None)
    # The smallest input RAFT accepts: its correlation pyramid halves the 1/8-scale feature maps
    # three times and needs at least 2 values left, so 16 features = 128 pixels a side.
    size = 128
    return Built(module, (_images(1, size), _images(1, size) * 0.5), {"num_flow_updates": 2})


# How much to widen each detector's classifier weights (default 30; see _spread_class_scores).
_SCORE_SPREAD = {
    "retinanet_resnet50_fpn": 3.0,
    "retinanet_resnet50_fpn_v2": 3.0,
    "ssd300_vgg16": 0.1,
}


def _spread_class_scores(module: torch.nn.Module, factor: float) -> None:
    """Random initial classifiers score every box nearly alike, and which of two near-equal
    scores survives top-k and NMS is round-off; widening the classifiers' weights spreads the
    scores so that both libraries keep the same boxes. Not so wide that scores saturate at
    exactly 1.0: then top-k picks among ties."""
    with torch.no_grad():
        for name, sub in module.named_modules():
            final = "cls" in name.split(".")[-1] or "classification_head.module_list" in name
            if final and isinstance(sub, (torch.nn.Conv2d, torch.nn.Linear)):
                sub.weight.mul_(factor)


@_seeded
def _detection(name: str) -> Built:
    import torchvision

    kwargs: dict[str, Any] = {"weights": None, "weights_backbone": None, "num_classes": 5}
    if not name.startswith("ssd"):
        kwargs.update(min_size=64, max_size=64)
    module = torchvision.models.get_model(name, **kwargs)
    _spread_class_scores(module, _SCORE_SPREAD.get(name, 30.0))
    size = {"ssd300_vgg16": 300, "ssdlite320_mobilenet_v3_large": 320}.get(name, 64)
    images = [_images(1, size)[0]]
    return Built(module, (images,))


def torchvision_other_cases() -> list[Case]:
    import torchvision

    models = torchvision.models
    cases = [
        Case(
            name,
            "torchvision segmentation",
            functools.partial(_torchvision_segmentation, name),
            float64=tuple(_SEGMENTATION_FLOAT64.get(name, {})),
            note=_float64_note(_SEGMENTATION_FLOAT64.get(name, {})),
        )
        for name in models.list_models(module=models.segmentation)
    ]
    cases += [
        Case(
            name,
            "torchvision video",
            functools.partial(_torchvision_video, name),
            tolerance=_TV_TOLERANCE.get(name, {}),
            float64=tuple(_TV_FLOAT64.get(name, {})),
            note=_float64_note(_TV_FLOAT64.get(name, {})),
        )
        for name in models.list_models(module=models.video)
    ]
    cases += [
        Case(
            name,
            "torchvision optical flow",
            functools.partial(_raft, name),
            tolerance=_RAFT_TOLERANCE.get(name, {}),
        )
        for name in models.list_models(module=models.optical_flow)
    ]
    cases += [
        Case(
            name,
            "torchvision detection (eval)",
            functools.partial(_detection, name),
            checks=("eager", "jit"),
            jit_raises=DataDependentShapeError,
            float64=("eager",),
            note=(
                "jit: boxes after score thresholding and NMS have data-dependent counts. eager "
                "in float64: in float32 which boxes survive the score threshold, top-k and NMS, "
                "and the integer pixel bounds of each mask, flip on round-off, and PyTorch's own "
                "float32 detections differ from its float64 ones (maskrcnn_resnet50_fpn keeps "
                "other boxes; in float64 torch2jax agrees with PyTorch to 3e-8)."
            ),
        )
        for name in models.list_models(module=models.detection)
    ]
    return cases


# --------------------------------------------------------------------------------------------------
# HuggingFace transformers (tiny configs, dropout probabilities 0 so training mode is checkable)

_TINY = {
    "vocab_size": 99,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "max_position_embeddings": 64,
}
_DECODER = {
    **_TINY,
    "num_key_value_heads": 2,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
}

# transformers runs experts through grouped_mm when compiling, and PyTorch checks its operands'
# strides for 16-byte alignment before torch2jax sees the call: expert sizes multiples of 16 (as in
# every released mixture-of-experts model).
_MOE = {**_DECODER, "intermediate_size": 32}

_HF: dict[str, tuple[str, str, dict[str, Any], str]] = {
    # name: (config class, model class, config kwargs, input kind)
    "bert": ("BertConfig", "BertForMaskedLM", _TINY, "text"),
    "roberta": ("RobertaConfig", "RobertaForMaskedLM", {**_TINY, "pad_token_id": 1}, "text"),
    "distilbert": (
        "DistilBertConfig",
        "DistilBertForMaskedLM",
        {
            "vocab_size": 99,
            "dim": 32,
            "n_layers": 2,
            "n_heads": 4,
            "hidden_dim": 37,
            "max_position_embeddings": 64,
        },
        "text",
    ),
    "albert": ("AlbertConfig", "AlbertForMaskedLM", {**_TINY, "embedding_size": 16}, "text"),
    "electra": ("ElectraConfig", "ElectraForMaskedLM", {**_TINY, "embedding_size": 16}, "text"),
    "deberta-v2": (
        "DebertaV2Config",
        "DebertaV2ForMaskedLM",
        {
            **_TINY,
            "relative_attention": True,
            "pos_att_type": ["p2c", "c2p"],
            "max_relative_positions": 16,
        },
        "text",
    ),
    "gpt2": (
        "GPT2Config",
        "GPT2LMHeadModel",
        {"vocab_size": 99, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64},
        "text",
    ),
    "gpt-neox": ("GPTNeoXConfig", "GPTNeoXForCausalLM", _TINY, "text"),
    "opt": (
        "OPTConfig",
        "OPTForCausalLM",
        {**_TINY, "ffn_dim": 37, "word_embed_proj_dim": 32, "pad_token_id": 1},
        "text",
    ),
    "bloom": (
        "BloomConfig",
        "BloomForCausalLM",
        {"vocab_size": 99, "hidden_size": 32, "n_layer": 2, "n_head": 4},
        "text",
    ),
    "llama": ("LlamaConfig", "LlamaForCausalLM", _DECODER, "text"),
    "mistral": ("MistralConfig", "MistralForCausalLM", {**_DECODER, "sliding_window": 4}, "text"),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", _DECODER, "text"),
    "gemma": ("GemmaConfig", "GemmaForCausalLM", {**_DECODER, "head_dim": 8}, "text"),
    "phi": ("PhiConfig", "PhiForCausalLM", _DECODER, "text"),
    "falcon": (
        "FalconConfig",
        "FalconForCausalLM",
        {**_TINY, "new_decoder_architecture": True, "num_kv_heads": 2},
        "text",
    ),
    "mixtral": (
        "MixtralConfig",
        "MixtralForCausalLM",
        {**_MOE, "num_local_experts": 4, "num_experts_per_tok": 2},
        "text",
    ),
    "qwen2-moe": (
        "Qwen2MoeConfig",
        "Qwen2MoeForCausalLM",
        {
            **_DECODER,
            "num_experts": 4,
            "num_experts_per_tok": 2,
            "moe_intermediate_size": 16,
            "shared_expert_intermediate_size": 24,
        },
        "text",
    ),
    "t5": (
        "T5Config",
        "T5ForConditionalGeneration",
        {
            "vocab_size": 99,
            "d_model": 32,
            "d_kv": 8,
            "d_ff": 37,
            "num_layers": 2,
            "num_heads": 4,
            "relative_attention_num_buckets": 8,
            "decoder_start_token_id": 0,
        },
        "seq2seq",
    ),
    "bart": (
        "BartConfig",
        "BartForConditionalGeneration",
        {
            "vocab_size": 99,
            "d_model": 32,
            "encoder_layers": 2,
            "decoder_layers": 2,
            "encoder_attention_heads": 4,
            "decoder_attention_heads": 4,
            "encoder_ffn_dim": 37,
            "decoder_ffn_dim": 37,
            "max_position_embeddings": 64,
        },
        "seq2seq",
    ),
    "whisper": (
        "WhisperConfig",
        "WhisperForConditionalGeneration",
        {
            "vocab_size": 99,
            "d_model": 32,
            "encoder_layers": 2,
            "decoder_layers": 2,
            "encoder_attention_heads": 4,
            "decoder_attention_heads": 4,
            "encoder_ffn_dim": 37,
            "decoder_ffn_dim": 37,
            "num_mel_bins": 8,
            "max_source_positions": 8,
            "max_target_positions": 32,
            "decoder_start_token_id": 1,
            "pad_token_id": 0,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "suppress_tokens": [],
            "begin_suppress_tokens": [],
        },
        "speech2seq",
    ),
    "vit": (
        "ViTConfig",
        "ViTForImageClassification",
        {**_TINY, "image_size": 16, "patch_size": 4, "num_labels": 3},
        "image",
    ),
    "clip": ("CLIPConfig", "CLIPModel", {}, "text+image"),
    "wav2vec2": (
        "Wav2Vec2Config",
        "Wav2Vec2ForCTC",
        {
            **_TINY,
            "conv_dim": (16, 16),
            "conv_stride": (5, 2),
            "conv_kernel": (10, 3),
            "num_conv_pos_embeddings": 8,
            "num_conv_pos_embedding_groups": 2,
            "mask_time_prob": 0.0,
            "feat_extract_norm": "group",
            "do_stable_layer_norm": False,
        },
        "audio",
    ),
}
# t5 (65 s) stays in the full run: bert, gpt2 and llama cover its attention paths more cheaply.
_HF_DEFAULT = {"bert", "gpt2", "llama", "mixtral", "wav2vec2"}


def _zero_dropout(config: Any) -> None:
    """Every dropout probability in a config (and its sub-configs) set to 0."""
    for key, value in list(vars(config).items()):
        if isinstance(value, float) and ("dropout" in key or "pdrop" in key or key == "layerdrop"):
            setattr(config, key, 0.0)
        elif hasattr(value, "to_dict") and hasattr(value, "model_type"):
            _zero_dropout(value)


def _tokens(batch: int, length: int, seed: int = 2) -> torch.Tensor:
    return torch.randint(3, 99, (batch, length), generator=torch.Generator().manual_seed(seed))


def _padded_mask(batch: int, length: int) -> torch.Tensor:
    """Full rows, except the last row, which is right-padded to half its length."""
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[-1, length // 2 :] = 0
    return mask


def _hf_config(name: str) -> Any:
    import transformers

    config_class, _, kwargs, _ = _HF[name]
    if name == "clip":
        config = transformers.CLIPConfig(
            text_config={**_TINY, "max_position_embeddings": 16, "projection_dim": 16},
            vision_config={**_TINY, "image_size": 16, "patch_size": 4, "projection_dim": 16},
            projection_dim=16,
        )
    else:
        config = getattr(transformers, config_class)(**kwargs)
    _zero_dropout(config)
    return config


@_seeded
def _huggingface(name: str) -> Built:
    import transformers

    _, model_class, _, inputs = _HF[name]
    config = _hf_config(name)
    module = getattr(transformers, model_class)(config)
    length = 8
    if inputs == "text":
        kwargs = {"input_ids": _tokens(2, length), "attention_mask": _padded_mask(2, length)}
        if name not in ("bert", "roberta", "distilbert", "albert", "electra", "deberta-v2"):
            kwargs["use_cache"] = False
    elif inputs == "seq2seq":
        kwargs = {
            "input_ids": _tokens(2, length),
            "attention_mask": _padded_mask(2, length),
            "decoder_input_ids": _tokens(2, 5, seed=3),
            "use_cache": False,
        }
    elif inputs == "speech2seq":
        features = torch.randn(2, 8, 16, generator=torch.Generator().manual_seed(1))
        kwargs = {
            "input_features": features,
            "decoder_input_ids": _tokens(2, 5, seed=3),
            "use_cache": False,
        }
    elif inputs == "image":
        kwargs = {"pixel_values": _images(2, 16)}
    elif inputs == "text+image":
        kwargs = {
            "input_ids": _tokens(2, length),
            "attention_mask": _padded_mask(2, length),
            "pixel_values": _images(2, 16),
        }
    else:  # audio
        values = torch.randn(2, 400, generator=torch.Generator().manual_seed(1))
        kwargs = {"input_values": values, "attention_mask": _padded_mask(2, 400)}
    return Built(module, (), kwargs)


def _missing_lowering(op: Any) -> bool:
    from torch2jax import registry

    return registry.aten_lowering(op) is None


def _hf_xfail(name: str) -> dict[str, str]:
    """Strict expected failures while a piece another issue builds is missing (they turn into
    passes, and the xfail into an error to remove it, once that piece lands)."""
    import importlib.util

    if name == "bloom" and importlib.util.find_spec("torch2jax.autograd") is None:
        reason = "needs torch.autograd.Function support (Bloom's GeLUFunction; autograd issue 4)"
        return dict.fromkeys(CHECKS, reason)
    if name in ("mixtral", "qwen2-moe") and _missing_lowering(torch.ops.aten.histc.default):
        # In eval mode transformers routes tokens to experts with histc + grouped_mm.
        reason = "needs the aten.histc lowering (transformers' grouped_mm experts; OpInfo issue 3)"
        return dict.fromkeys(("eager", "jit", "grad"), reason)
    return {}


def huggingface_cases() -> list[Case]:
    return [
        Case(
            name,
            "transformers",
            functools.partial(_huggingface, name),
            default=name in _HF_DEFAULT,
            xfail=_hf_xfail(name),
            note="padded attention_mask"
            if _HF[name][3] in ("text", "seq2seq", "text+image", "audio")
            else "",
        )
        for name in _HF
    ]


# --------------------------------------------------------------------------------------------------
# timm

_TIMM: dict[str, tuple[dict[str, Any], int]] = {
    "resnet18": ({}, 32),
    "resnet50d": ({}, 32),
    "efficientnet_b0": ({}, 32),
    "mobilenetv3_small_050": ({}, 32),
    "convnext_atto": ({}, 32),
    "vit_tiny_patch16_224": ({"img_size": 32}, 32),
    "deit_tiny_distilled_patch16_224": ({"img_size": 32}, 32),
    "regnetx_002": ({}, 32),
    "mixer_s16_224": ({"img_size": 32}, 32),
    "swin_tiny_patch4_window7_224": ({"img_size": 56, "window_size": 7}, 56),
    "densenet121": ({}, 32),
    "ghostnet_050": ({}, 32),
}
# resnet18 starts each residual block's last batch norm at weight 0, so its ReLUs meet exact kinks
# (the gradient bug tests/test_kink_gradients.py pins down showed first here).
_TIMM_DEFAULT = {"resnet18", "mobilenetv3_small_050"}


@_seeded
def _timm(name: str) -> Built:
    import timm

    kwargs, size = _TIMM[name]
    module = timm.create_model(name, pretrained=False, num_classes=10, **kwargs)
    fixed_size = "img_size" in kwargs  # vision transformers take only the size they were built for
    train_args = None if fixed_size else (_images(2, max(size, 64)),)
    return Built(module, (_images(2, size),), train_args=train_args)


def timm_cases() -> list[Case]:
    return [
        Case(f"timm/{name}", "timm", functools.partial(_timm, name), default=name in _TIMM_DEFAULT)
        for name in _TIMM
    ]


# --------------------------------------------------------------------------------------------------


@functools.cache
def all_cases() -> list[Case]:
    return (
        torchvision_classification_cases()
        + torchvision_other_cases()
        + huggingface_cases()
        + timm_cases()
    )


def train_applies(case: Case, built: Built) -> bool:
    return "train" in case.checks and _has_train_behaviour(built.module)


__all__ = ["CHECKS", "all_cases", "train_applies"]
