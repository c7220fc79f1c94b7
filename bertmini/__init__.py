"""bertmini: BERT from the math up, in readable PyTorch.

The encoder matches Hugging Face's `BertModel` to 1e-5 in fp32 and reads and writes its
checkpoints. Heavy libraries (transformers, matplotlib, bertviz) are never imported
here.
"""

from .config import BertConfig
from .device import autocast, get_device, seed_everything
from .heads import (
    BertForMaskedLM,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
)
from .model import BertModel
from .outputs import BertModelOutput
from .token_classification import BertForTokenClassification
from .tokenizer import Tokenizer

__version__ = "0.1.0"

__all__ = [
    "BertConfig",
    "BertModel",
    "BertModelOutput",
    "BertForMaskedLM",
    "BertForPreTraining",
    "BertForSequenceClassification",
    "BertForQuestionAnswering",
    "BertForTokenClassification",
    "Tokenizer",
    "get_device",
    "autocast",
    "seed_everything",
]
