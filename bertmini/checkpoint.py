"""Reading and writing Hugging Face BERT checkpoints, both ways.

bertmini names its modules after the ideas they teach (`attention_norm`, `ffn.up`);
Hugging Face names them after the original TensorFlow code
(`attention.output.LayerNorm`, `intermediate.dense`). `HF_NAMES` is the whole dictionary
between the two. Weights are read only from safetensors, or from `pytorch_model.bin`
with `torch.load(weights_only=True)`, which cannot run code hidden in a pickle.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import torch

from ._validate import check_tokenizer, target_dir, write_dir
from .config import BertConfig
from .pretrained import resolve


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: missing files, corrupt weights, mismatched
    shapes.
    """


# (bertmini name pattern, Hugging Face name). Applied left to right to save, right to
# left to load.
HF_NAMES = [
    (r"embeddings\.norm\.", "embeddings.LayerNorm."),
    (r"(layer\.\d+)\.attention\.query\.", r"\1.attention.self.query."),
    (r"(layer\.\d+)\.attention\.key\.", r"\1.attention.self.key."),
    (r"(layer\.\d+)\.attention\.value\.", r"\1.attention.self.value."),
    (r"(layer\.\d+)\.attention\.out\.", r"\1.attention.output.dense."),
    (r"(layer\.\d+)\.attention_norm\.", r"\1.attention.output.LayerNorm."),
    (r"(layer\.\d+)\.ffn\.up\.", r"\1.intermediate.dense."),
    (r"(layer\.\d+)\.ffn\.down\.", r"\1.output.dense."),
    (r"(layer\.\d+)\.ffn_norm\.", r"\1.output.LayerNorm."),
    (r"^mlm\.dense\.", "cls.predictions.transform.dense."),
    (r"^mlm\.norm\.", "cls.predictions.transform.LayerNorm."),
    (r"^mlm\.bias$", "cls.predictions.bias"),
    (r"^mlm\.decoder\.weight$", "cls.predictions.decoder.weight"),
    (r"^nsp\.", "cls.seq_relationship."),
]

HEAD_PREFIXES = ("mlm.", "nsp.", "classifier.", "qa_outputs.")


def to_hf_name(name: str) -> str:
    for pattern, replacement in HF_NAMES:
        name = re.sub(pattern, replacement, name)
    return name


def hf_to_bertmini_names(model: torch.nn.Module) -> dict[str, str]:
    """Map every Hugging Face key this model expects to the model's own parameter
    name.
    """
    return {to_hf_name(name): name for name in model.state_dict()}


def normalize_hf_key(key: str) -> str:
    """Old TF-converted checkpoints say gamma/beta for LayerNorm weight/bias."""
    key = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", key)
    return re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key)


def read_weights(directory: Path) -> dict[str, torch.Tensor]:
    """Load the state dict from model.safetensors, else pytorch_model.bin (weights
    only).
    """
    st, binary = directory / "model.safetensors", directory / "pytorch_model.bin"
    if st.exists():
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(st))
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise CheckpointError(
                f"{st} is corrupt or truncated ({e}); re-download or re-save it"
            ) from None
    if binary.exists():
        try:
            return torch.load(binary, map_location="cpu", weights_only=True)
        except Exception as e:
            raise CheckpointError(
                f"{binary} could not be read as plain weights ({type(e).__name__}: "
                f"{e}); bertmini only loads tensors (weights_only=True), never "
                "arbitrary pickled objects"
            ) from None
    raise CheckpointError(f"{directory} has no model.safetensors or pytorch_model.bin")


def load_pretrained(cls, name_or_path, **head_args):
    """Build `cls` from a checkpoint directory or name; see
    BertPreTrainedModel.from_pretrained.
    """
    directory = resolve(name_or_path)
    if directory.is_file():
        raise CheckpointError(
            f"{directory} is a file; pass the directory that holds config.json and the weights"
        )
    if not (directory / "config.json").exists():
        raise CheckpointError(
            f"{directory} has no config.json: is it a Hugging Face BERT directory?"
        )
    try:
        config = BertConfig.from_json_file(directory / "config.json")
    except (TypeError, ValueError) as e:
        raise CheckpointError(str(e)) from None
    weights = read_weights(directory)
    model = cls(config, **head_args)
    load_hf_state_dict(model, weights, source=str(name_or_path))
    model.eval()  # like transformers: a loaded model starts in inference mode
    return model


def load_hf_state_dict(
    model: torch.nn.Module, weights: dict[str, torch.Tensor], source: str = "weights"
) -> None:
    """Copy Hugging Face-named `weights` into `model`, checking every shape before
    touching anything.
    """
    wanted = hf_to_bertmini_names(model)  # HF key -> our key
    has_prefix = any(k.startswith("bert.") for k in wanted)
    state: dict[str, torch.Tensor] = {}
    for key, tensor in weights.items():
        key = normalize_hf_key(key)
        if has_prefix and not key.startswith(
            ("bert.", "cls.", "classifier.", "qa_outputs.")
        ):
            key = "bert." + key  # a base BertModel checkpoint loaded into a task model
        elif not has_prefix and key.startswith("bert."):
            key = key[len("bert.") :]  # a task checkpoint loaded into a base BertModel
        if key == "cls.predictions.decoder.bias":
            key = "cls.predictions.bias"  # the same tensor under its other name
        if key in wanted:
            state[wanted[key]] = tensor
    own = model.state_dict()
    for name, tensor in state.items():
        if name.startswith("classifier.") and tensor.shape[:1] != own[name].shape[:1]:
            # The one mismatch a user causes on purpose: other classes than trained
            n, k = own[name].shape[0], tensor.shape[0]
            raise CheckpointError(
                f"{source}: num_labels={n} (or an id2label of {n} names) disagrees "
                f"with the checkpoint's {k} classes; leave num_labels/id2label out to "
                f"use its trained {k}-class head. For a new {n}-class head on its "
                f"encoder, build {type(model).__name__}(config, num_labels={n}) and "
                "load the encoder into it: model.bert.load_state_dict("
                "BertModel.from_pretrained(...).state_dict())"
            )
        if tuple(tensor.shape) != tuple(own[name].shape):
            raise CheckpointError(
                f"{source}: {to_hf_name(name)} has shape {tuple(tensor.shape)} but the model built from "
                f"the config expects {tuple(own[name].shape)}; config.json does not match these weights"
            )
    tied = {"mlm.decoder.weight"}
    missing = [n for n in own if n not in state and n not in tied]
    missing_body = [n for n in missing if not n.startswith(HEAD_PREFIXES)]
    if missing_body:
        raise CheckpointError(
            f"{source} lacks {len(missing_body)} encoder weights, e.g. "
            f"{to_hf_name(missing_body[0])}; it is not a complete BERT checkpoint"
        )
    with torch.no_grad():
        for name, tensor in state.items():
            own[name].copy_(tensor)
    if missing:
        warnings.warn(
            f"{type(model).__name__}: {len(missing)} weights are new and randomly initialised "
            f"(not in {source}): {', '.join(sorted(to_hf_name(n) for n in missing))}. "
            "Train the model before using its predictions.",
            stacklevel=3,
        )


def hf_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights under Hugging Face's names, tied copies dropped."""
    out = {}
    for name, tensor in model.state_dict().items():
        if name == "mlm.decoder.weight":
            continue  # tied to the word embeddings; transformers re-ties it on load
        out[to_hf_name(name)] = tensor.detach().contiguous()
    return out


HF_ARCHITECTURES = {
    "BertModel": "BertModel",
    "BertForMaskedLM": "BertForMaskedLM",
    "BertForPreTraining": "BertForPreTraining",
    "BertForSequenceClassification": "BertForSequenceClassification",
    "BertForQuestionAnswering": "BertForQuestionAnswering",
    "BertForTokenClassification": "BertForTokenClassification",
}


def save_pretrained(
    model: torch.nn.Module, directory: str | Path, tokenizer=None
) -> Path:
    """Write config.json + model.safetensors (and the tokenizer's files, if given)
    atomically.

    Everything is written into a hidden temporary sibling that then replaces `directory`
    as a whole (see `_validate.write_dir`): a crash at any byte leaves the previous
    checkpoint, complete, or the new one. Files of `directory` that are not rewritten (a
    README) are kept.
    """
    from safetensors.torch import save_file

    directory = target_dir("directory", directory)
    if not hasattr(model, "config") or not hasattr(model.config, "to_dict"):
        raise TypeError(
            f"save_pretrained needs a bertmini model with a .config, got {type(model).__name__}"
        )
    if tokenizer is not None:
        # checked now, not halfway through writing (a str has no write_files)
        check_tokenizer(tokenizer)
    config = model.config.to_dict()
    config["architectures"] = [
        HF_ARCHITECTURES.get(type(model).__name__, type(model).__name__)
    ]
    weights = {k: v.cpu() for k, v in hf_state_dict(model).items()}

    def write(tmp: Path) -> None:
        with open(tmp / "config.json", "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)
        save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        if tokenizer is not None:
            tokenizer.write_files(tmp)

    return write_dir(directory, write)
