"""Which recipe leaves the "frequencies only" plateau? One run per call, measured as it trains.

Chapter 5's recipe comparison comes from these runs (results in pretraining_recipes/).
Every run: WikiText-2 (the offline training articles), a WordPiece vocabulary learned
from them, 2 layers of hidden size 128, batch 32; every `--every` steps the strict
masked accuracy (every chosen token shown as [MASK]) on 256 windows of 128 tokens of
the held-out articles, with the real context and with the visible tokens shuffled.
Each result file records the run's arguments under "args": the five recipe runs used
2,000 pieces and --threads 1; the vocabulary runs (vocab*.json) used 2,000, 4,000 or
8,000 pieces and 2 threads, the default. A run writes its file at every point, so a run
stopped early keeps the points it reached. The ALiBi run of the comparison:

    python benchmarks/pretraining_recipes.py --tag alibi_4heads_mask40 --alibi 1 \
        --heads 4 --mask 0.4 --lr 1e-3 --drop 0 --steps 4000 --threads 1
"""

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

from bertmini import BertConfig, BertForMaskedLM
from bertmini.heads import BertForPreTraining
from bertmini.pretraining import (
    HELD_OUT_SPLIT,
    IGNORE_INDEX,
    OFFLINE_TRAIN_SPLIT,
    MLMCollator,
    PretrainingCollator,
    load_documents,
    make_nsp_pairs,
    train_tokenizer,
)
from bertmini.tokenizer import Tokenizer

LABELS = {  # the runs chapter 5 compares, in its order
    "bert": "BERT: 15% masking, 2 heads",
    "mask40": "40% masking, no dropout",
    "preln_mask40": "pre-LN, 40% masking, lr 2e-3",
    "heads4_mask40": "4 heads, 40% masking",
    "alibi_4heads_mask40": "ALiBi, 4 heads, 40% masking",
}


# The vocabulary sizes compared with the "alibi" recipe for 1,000 steps (chapter 5,
# section 5.1, and the docstring of small_bert_config):
#   python benchmarks/pretraining_recipes.py --tag vocab4000_alibi --vocab 4000 \
#       --alibi 1 --heads 4 --mask 0.4 --lr 1e-3 --drop 0 --steps 1000 --every 250
VOCABULARY_RUNS = ["vocab2000_alibi", "vocab4000_alibi", "vocab8000_alibi"]


def collect() -> None:
    """Gather the runs into the file the package ships for chapter 5."""
    here = Path(__file__).parent / "pretraining_recipes"
    runs = []
    for tag, label in LABELS.items():
        run = json.loads((here / f"{tag}.json").read_text())
        runs.append({"tag": tag, "label": label, **run})
    vocabulary = [
        {"tag": tag, **json.loads((here / f"{tag}.json").read_text())}
        for tag in VOCABULARY_RUNS
    ]
    out = Path(__file__).parents[1] / "bertmini" / "small_bert_recipes.json"
    out.write_text(
        json.dumps(
            {
                "script": "benchmarks/pretraining_recipes.py",
                "runs": runs,
                "vocabulary": vocabulary,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {out}")


if "--collect" in sys.argv:
    collect()
    sys.exit()
p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=2000)
p.add_argument("--lr", type=float, default=2e-3)
p.add_argument("--warmup", type=float, default=0.06)
p.add_argument("--bs", type=int, default=32)
p.add_argument("--T", type=int, default=128)
p.add_argument("--mask", type=float, default=0.15)
p.add_argument("--nsp", type=int, default=0)
p.add_argument("--drop", type=float, default=0.1)
p.add_argument("--layers", type=int, default=2)
p.add_argument("--hidden", type=int, default=128)
p.add_argument("--heads", type=int, default=2)
p.add_argument("--vocab", type=int, default=2000)
p.add_argument("--every", type=int, default=250)
p.add_argument("--sched", default="linear")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--tag", default="run")
p.add_argument("--preln", type=int, default=0)
p.add_argument("--wd", type=float, default=0.01)
p.add_argument("--alibi", type=int, default=0)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
docs = load_documents(OFFLINE_TRAIN_SPLIT)
held = load_documents(HELD_OUT_SPLIT)
tokdir = Path(__file__).parent / "pretraining_recipes" / f".tokenizer{a.vocab}"
if tokdir.exists():
    tok = Tokenizer.from_pretrained(tokdir)
else:
    tok = train_tokenizer(docs, a.vocab)
    tok.save_pretrained(tokdir)


def chunks(documents, T):
    out = []
    for d in documents:
        ids = []
        for para in d["paragraphs"]:
            ids += tok.encode(para, add_special_tokens=False)
        n = T - 2
        for i in range(0, len(ids) - n // 2, n):
            out.append(
                {"input_ids": [tok.cls_token_id] + ids[i : i + n] + [tok.sep_token_id]}
            )
    return out


if a.nsp:
    train = make_nsp_pairs(docs, tok, max_length=a.T, seed=0)
    for e in train:
        e.pop("doc_a", None)
        e.pop("doc_b", None)
    collate = PretrainingCollator(tok, mlm_probability=a.mask, max_length=a.T, seed=0)
else:
    train = chunks(docs, a.T)
    collate = MLMCollator(tok, mlm_probability=a.mask, max_length=a.T, seed=0)
ev = chunks(held, 128)[:256]
g = torch.Generator().manual_seed(123)
evcol = MLMCollator(tok, mlm_probability=0.15, max_length=128, seed=1)
evb = evcol(ev)
evb["input_ids"] = evb["input_ids"].masked_fill(
    evb["labels"] != IGNORE_INDEX, tok.mask_token_id
)
# shuffled context: permute the visible ordinary tokens within each row
special = torch.isin(
    evb["input_ids"], torch.tensor(sorted(tok.special_token_ids | {tok.mask_token_id}))
)
shuf = evb["input_ids"].clone()
for r in range(len(shuf)):
    pos = (~special[r]).nonzero().flatten()
    perm = pos[torch.randperm(len(pos), generator=g)]
    shuf[r, pos] = evb["input_ids"][r, perm]
labels = evb["labels"]
tgt = labels[labels != IGNORE_INDEX]
base = torch.bincount(tgt).max().item() / len(tgt)

cfg = BertConfig(
    vocab_size=tok.vocab_size,
    hidden_size=a.hidden,
    num_hidden_layers=a.layers,
    num_attention_heads=a.heads,
    intermediate_size=4 * a.hidden,
    max_position_embeddings=max(a.T, 128),
    hidden_dropout_prob=a.drop,
    attention_probs_dropout_prob=a.drop,
    pre_layer_norm=bool(a.preln),
    alibi=bool(a.alibi),
)
model = (BertForPreTraining if a.nsp else BertForMaskedLM)(cfg)


@torch.no_grad()
def evaluate():
    model.eval()
    res = []
    for ids in (evb["input_ids"], shuf):
        hits = 0
        for i in range(0, len(ids), 64):
            out = model(
                input_ids=ids[i : i + 64],
                attention_mask=evb["attention_mask"][i : i + 64],
                labels=labels[i : i + 64],
            )
            lg = out.prediction_logits if a.nsp else out.logits
            l = labels[i : i + 64]
            hits += (lg.argmax(-1) == l[l != IGNORE_INDEX]).sum().item()
        res.append(hits / len(tgt))
    model.train()
    return res


decay = [p_ for n, p_ in model.named_parameters() if p_.dim() >= 2]
nodecay = [p_ for n, p_ in model.named_parameters() if p_.dim() < 2]
opt = torch.optim.AdamW(
    [{"params": decay, "weight_decay": a.wd}, {"params": nodecay, "weight_decay": 0.0}],
    lr=a.lr,
    betas=(0.9, 0.98) if a.sched == "onecycle" else (0.9, 0.999),
)
W = int(a.warmup * a.steps)


def lr_at(s):
    if s < W:
        return (s + 1) / W
    return max(0.0, (a.steps - s) / max(1, a.steps - W))


sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
rng = random.Random(0)
order = []
t0 = time.perf_counter()
losses = []
log = {"args": vars(a), "base": base, "points": []}
for step in range(a.steps):
    if not order:
        order = list(range(len(train)))
        rng.shuffle(order)
    idx = [order.pop() for _ in range(min(a.bs, len(order)))]
    b = collate([train[i] for i in idx])
    out = model(**b)
    loss = out.loss
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    losses.append(out.mlm_loss.item() if a.nsp else loss.item())
    if (step + 1) % a.every == 0 or step + 1 == a.steps:
        acc, sacc = evaluate()
        el = time.perf_counter() - t0
        ml = sum(losses[-50:]) / len(losses[-50:])
        log["points"].append(
            {"step": step + 1, "time": el, "loss": ml, "acc": acc, "shuf": sacc}
        )
        print(
            f"{a.tag} step {step + 1} t {el:.0f}s loss {ml:.3f} acc {acc:.3f} ({acc / base:.2f}x) shuf {sacc:.3f} gap {100 * (acc - sacc):+.1f}",
            flush=True,
        )
        (Path(__file__).parent / "pretraining_recipes" / f"{a.tag}.json").write_text(
            json.dumps(log)
        )
