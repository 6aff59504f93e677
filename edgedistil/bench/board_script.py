#!/usr/bin/env python3
"""edgedistil's on-board benchmark: one file, copied to a board and run there on its own.

It needs the Python standard library, numpy and the runtime of the artifact: onnxruntime for
``.onnx``; ai_edge_litert, else tflite_runtime, for ``.tflite``. It imports nothing from
edgedistil. The host tokenises the text and ships the token ids as ``.npy`` files beside this
script (``input_ids.npy``, ``attention_mask.npy``, ``token_type_ids.npy``, one row per
sentence). The model's own input names, dtypes and shapes decide what is fed.

    python3 board_script.py --model model.onnx --inputs . --runs 100 --warmup 10 --threads 4

Text mode (``--text FILE --tokenizer DIR --length N``): the board tokenises the sentences
itself and feeds its own ids, timing tokenisation per sentence apart from inference (the
result's ``tokenize``). It uses Hugging Face's ``tokenizers`` when the board has it, else the
WordPiece written below (BERT's tokenizer in plain Python, the same ids as the fast
BertTokenizer). It returns a sha256 per sentence of its ids, which the host compares with its
own. A tokenizer neither can run is reported as ``"measured": false`` with the reason, and the
shipped ids are fed instead.

It prints ONE JSON object on stdout (and writes it to ``--output`` when given): ``"ok": true``
with the timings, memory and board facts, or ``"ok": false`` with ``error`` (and ``install``
when a package is missing), and then exits non-zero. It runs on Python 3.8 and later, because
older boards still ship it: no ``X | Y`` types, no ``match``, no 3.9+ library calls.
"""

# ruff: noqa: UP006, UP007, UP035, UP045
# (typing.List/Dict/Optional on purpose: this file must parse and run on Python 3.8.)

import argparse
import hashlib
import importlib
import importlib.util
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import unicodedata
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

SCHEMA = 1
EXIT_FAILED = 1
EXIT_MISSING = 3  # a package is missing on the board: the host reports what to install
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
# Names exporters give the same three inputs (torch.onnx, TF signatures, older graphs).
ALIASES = {
    "input_ids": ("input_ids", "ids", "input_word_ids", "input"),
    "attention_mask": ("attention_mask", "mask", "input_mask"),
    "token_type_ids": ("token_type_ids", "segment_ids", "input_type_ids", "type_ids"),
}
RUNTIMES = {
    ".onnx": (("onnxruntime", "onnxruntime"),),
    ".tflite": (("ai_edge_litert", "ai-edge-litert"), ("tflite_runtime", "tflite-runtime")),
}
Feed = Dict[str, Any]


class BoardError(Exception):
    """A failure to report as ``{"ok": false, ...}``; ``install`` names the missing packages."""

    def __init__(self, message: str, install: Optional[str] = None) -> None:
        super().__init__(message)
        self.install = install


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time one ONNX or LiteRT model on this board.")
    parser.add_argument("--model", required=True, help="an .onnx or .tflite file")
    parser.add_argument("--inputs", default=".", help="directory of input_ids.npy and friends")
    parser.add_argument("--runs", type=int, default=100, help="timed runs")
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs after the first")
    parser.add_argument("--threads", type=int, default=1, help="runtime threads")
    parser.add_argument("--cpus", default="", help="pin to these CPUs, e.g. 0-3 or 0,2")
    parser.add_argument("--timeout", type=float, default=0.0, help="give up after S seconds")
    parser.add_argument("--output", default="", help="also write the JSON object to this file")
    parser.add_argument(
        "--save-outputs",
        default="",
        help="after timing, run each input row once more and save the model's outputs here "
        "(.npz keyed by output name, rows in order): what this board's kernels compute",
    )
    parser.add_argument("--text", default="", help="tokenise these sentences here (one a line)")
    parser.add_argument("--tokenizer", default=".", help="directory of the tokenizer's files")
    parser.add_argument("--length", type=int, default=128, help="pad or cut the ids to this")
    parser.add_argument(
        "--tokenize-with",
        choices=("auto", "tokenizers", "builtin"),
        default="auto",
        help="auto: Hugging Face's tokenizers when installed, else the builtin WordPiece",
    )
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        result = benchmark(args)
        code = 0
    except BoardError as exc:
        result = {"schema": SCHEMA, "ok": False, "error": str(exc), "install": exc.install}
        code = EXIT_MISSING if exc.install else EXIT_FAILED
    except Exception as exc:  # the runtime's own errors: report them as data, not a traceback
        message = type(exc).__name__ + ": " + " ".join(str(exc).split())
        result = {"schema": SCHEMA, "ok": False, "error": message[:2000], "install": None}
        code = EXIT_FAILED
    emit(result, args.output)
    return code


def emit(result: Dict[str, Any], output: str) -> None:
    text = json.dumps(result, sort_keys=True)
    if output:
        temporary = output + ".tmp"
        with open(temporary, "w") as fh:
            fh.write(text + "\n")
        os.replace(temporary, output)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def benchmark(args: argparse.Namespace) -> Dict[str, Any]:
    suffix = os.path.splitext(args.model)[1].lower()
    if suffix not in RUNTIMES:
        raise BoardError(f"{args.model}: not an .onnx or .tflite file")
    if args.runs < 1 or args.warmup < 0 or args.threads < 1:
        raise BoardError("--runs and --threads must be at least 1, --warmup at least 0")
    module, package = find_runtime(suffix)
    start_watchdog(args.timeout)
    cpus = pin(args.cpus)
    np = importlib.import_module("numpy")
    arrays, tokenized = choose_inputs(np, args)
    before = memory()
    started = time.perf_counter()
    runtime = importlib.import_module(module)
    import_ms = (time.perf_counter() - started) * 1000.0
    started = time.perf_counter()
    opener = open_onnx if suffix == ".onnx" else open_litert
    run, specs, version, fetch = opener(runtime, module, args.model, args.threads)
    load_ms = (time.perf_counter() - started) * 1000.0
    feeds = build_feeds(np, specs, arrays)
    first_ms, latencies = time_runs(run, feeds, args.warmup, args.runs)
    after = memory()
    if args.save_outputs:
        save_outputs(np, fetch, feeds, args.save_outputs)
    signal_off()
    result = {
        "schema": SCHEMA,
        "ok": True,
        "model": os.path.basename(args.model),
        "model_bytes": os.path.getsize(args.model),
        "runtime": {"name": package, "module": module, "version": version},
        "threads": args.threads,
        "cpus": cpus,
        "runs": args.runs,
        "warmup": args.warmup,
        "inputs": {s["name"]: {"shape": s["shape"], "dtype": s["dtype"]} for s in specs},
        "rows": len(feeds),
        "import_ms": import_ms,
        "load_ms": load_ms,
        "first_inference_ms": first_ms,
        "latency_ms": summarize(latencies),
        "memory": memory_result(before, after),
        "board": board_facts(cpus),
    }
    if tokenized is not None:
        result["tokenize"] = tokenized
    return result


def choose_inputs(
    np: Any, args: argparse.Namespace
) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
    """With --text, the ids this board's tokenizer makes (else the shipped ones, and why);
    without it, the shipped ids and no tokenisation report."""
    if not args.text:
        return load_inputs(np, args.inputs), None
    if args.length < 2:
        raise BoardError("--length must be at least 2 ([CLS] and [SEP])")
    arrays, report = tokenize_text(np, args)
    return (arrays if arrays is not None else load_inputs(np, args.inputs)), report


# ---- the runtime ----


def find_runtime(suffix: str) -> Tuple[str, str]:
    """The first runtime for this format that is installed; else say what to install."""
    missing = [] if importlib.util.find_spec("numpy") else ["numpy"]
    found = [(m, p) for m, p in RUNTIMES[suffix] if importlib.util.find_spec(m)]
    if not found:
        missing.append(RUNTIMES[suffix][0][1])
    if missing:
        alternative = " (or tflite-runtime)" if suffix == ".tflite" and not found else ""
        python = sys.executable or "python3"
        install = f"{python} -m pip install {' '.join(missing)}{alternative}"
        names = ", ".join(missing) + alternative
        where = f"Python {platform.python_version()} at {python}"
        raise BoardError(f"missing on this board: {names}; {where}", install=install)
    return found[0]


Opened = Tuple[Callable[[Feed], Any], List[Dict[str, Any]], str, Callable[[Feed], Dict[str, Any]]]


def open_onnx(ort: Any, module: str, path: str, threads: int) -> Opened:
    """run(feed) for timing, the inputs' specs, the runtime's version, and fetch(feed): the
    outputs by name (kept out of the timed run, where LiteRT would copy them for nothing)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1  # a BERT graph is a chain: parallel branches buy nothing
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    dtypes = {"tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(float)": "float32"}
    specs = []
    for item in session.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else None for d in item.shape]
        specs.append({"name": item.name, "shape": shape, "dtype": dtypes.get(item.type, item.type)})

    def run(feed: Feed) -> Any:
        return session.run(None, feed)

    names = [item.name for item in session.get_outputs()]

    def fetch(feed: Feed) -> Dict[str, Any]:
        outputs = session.run(None, feed)
        return {name: outputs[i] for i, name in enumerate(names)}

    return run, specs, str(ort.__version__), fetch


def open_litert(runtime: Any, module: str, path: str, threads: int) -> Opened:
    interpreter_module = importlib.import_module(module + ".interpreter")
    interpreter = interpreter_module.Interpreter(model_path=path, num_threads=threads)
    details = interpreter.get_input_details()
    specs = []
    for item in details:
        signature = item.get("shape_signature", item["shape"])
        shape = [int(d) if int(d) > 0 else None for d in signature]
        specs.append({"name": item["name"], "shape": shape, "dtype": item["dtype"].__name__})
    indices = {item["name"]: item["index"] for item in details}
    state: Dict[str, Any] = {
        "shape": None
    }  # resize once, when the first feed shows the dynamic sizes

    def run(feed: Feed) -> Any:
        shapes = tuple(feed[name].shape for name in indices)
        if state["shape"] != shapes:
            for name, index in indices.items():
                interpreter.resize_tensor_input(index, list(feed[name].shape))
            interpreter.allocate_tensors()
            state["shape"] = shapes
        for name, index in indices.items():
            interpreter.set_tensor(index, feed[name])
        interpreter.invoke()

    def fetch(feed: Feed) -> Dict[str, Any]:
        run(feed)
        outputs = interpreter.get_output_details()
        return {item["name"]: interpreter.get_tensor(item["index"]) for item in outputs}

    interpreter.allocate_tensors()
    version = getattr(runtime, "__version__", None) or "unknown"
    return run, specs, str(version), fetch


def save_outputs(
    np: Any, fetch: Callable[[Feed], Dict[str, Any]], feeds: List[Feed], path: str
) -> None:
    """Every feed's outputs, joined along the batch axis, as one .npz (renamed into place)."""
    parts = [fetch(feed) for feed in feeds]
    joined = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    temporary = path + ".tmp.npz"
    np.savez(temporary, **joined)
    os.replace(temporary, path)


# ---- inputs ----


def load_inputs(np: Any, directory: str) -> Dict[str, Any]:
    arrays = {}
    for name in INPUT_NAMES:
        path = os.path.join(directory, name + ".npy")
        if os.path.isfile(path):
            arrays[name] = np.load(path, allow_pickle=False)
    if "input_ids" not in arrays:
        raise BoardError(f"no input_ids.npy in {directory}: the host ships the token ids")
    if arrays["input_ids"].ndim != 2 or arrays["input_ids"].shape[0] < 1:
        raise BoardError("input_ids.npy must be 2-D, one row per sentence")
    if "attention_mask" not in arrays:
        arrays["attention_mask"] = (arrays["input_ids"] != 0).astype("int64")
    if "token_type_ids" not in arrays:
        arrays["token_type_ids"] = np.zeros_like(arrays["input_ids"])
    return arrays


def match_input(name: str, count: int) -> str:
    """Which shipped array feeds the model input ``name`` (exporters vary the names)."""
    key = name.lower().split(":")[0]
    if key.startswith("serving_default_"):
        key = key[len("serving_default_") :]
    for array, aliases in ALIASES.items():
        if key in aliases:
            return array
    for array, aliases in ALIASES.items():
        if any(alias in key for alias in aliases[:2]):
            return array
    if count == 1:
        return "input_ids"  # a model with one input takes the token ids
    known = ", ".join(INPUT_NAMES)
    raise BoardError(f"model input {name!r} matches none of {known}; rename it at export")


def build_feeds(np: Any, specs: List[Dict[str, Any]], arrays: Dict[str, Any]) -> List[Feed]:
    """One feed per batch of rows, each shaped and typed as the model declares."""
    shape = specs[0]["shape"]
    batch = shape[0] if shape and shape[0] else 1
    rows = arrays["input_ids"].shape[0]
    if rows < batch:  # a model with a fixed batch larger than the text: repeat the rows
        arrays = {k: np.resize(v, (batch, v.shape[1])) for k, v in arrays.items()}
        rows = batch
    feeds = []
    for start in range(0, max(rows - batch + 1, 1), batch):
        feed = {}
        for spec in specs:
            source = arrays[match_input(spec["name"], len(specs))]
            block = source[start : start + batch]
            length = spec["shape"][1] if len(spec["shape"]) > 1 else None
            feed[spec["name"]] = np.ascontiguousarray(fit(np, block, length), dtype=spec["dtype"])
        feeds.append(feed)
    return feeds


def fit(np: Any, block: Any, length: Optional[int]) -> Any:
    """Pad with zeros ([PAD], mask 0) or cut to a model's fixed sequence length."""
    if length is None or block.shape[1] == length:
        return block
    if block.shape[1] > length:
        return block[:, :length]
    return np.pad(block, ((0, 0), (0, length - block.shape[1])))


# ---- text mode: the board tokenises the text itself ----

PAD_TOKENS = ("[PAD]", "<pad>")
# The CJK ideograph blocks Hugging Face's BertNormalizer puts spaces around (tokenizers'
# is_chinese_char, block for block; 0x2B820-0x2B91F is left out there too).
CJK = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
# Categories tokenizers' clean_text drops (is_other less "not assigned": an unassigned code
# point is kept, so a newer emoji survives on both sides).
DROPPED = ("Cc", "Cf", "Co", "Cs")
BERT_WHITESPACE_NOT = "\x1c\x1d\x1e\x1f"  # str.isspace() says yes, Unicode's White_Space no


def is_whitespace(char: str) -> bool:
    return char.isspace() and char not in BERT_WHITESPACE_NOT


def is_punctuation(char: str) -> bool:
    """ASCII punctuation (symbols such as $ + < = > ^ ` | ~ included) or a Unicode P* char."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def is_cjk(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in CJK)


class WordPiece:
    """BERT's tokenizer as Hugging Face's fast BertTokenizer runs it, in plain Python.

    Added tokens ([CLS], [MASK] ... written in the text) are matched on the raw text first; each
    piece between them is normalized (clean_text, CJK spacing, accent stripping, lower-casing,
    in that order), split on whitespace and punctuation, and cut into the longest vocabulary
    pieces from the left (``##`` before a piece inside a word); a word that cannot be cut, or
    longer than ``max_chars``, is one [UNK]. Then [CLS] ... [SEP], truncated and padded.
    """

    def __init__(self, vocab: Dict[str, int], config: Dict[str, Any]) -> None:
        self.vocab = vocab
        self.config = config
        self.unk = vocab[config["unk_token"]]
        self.prefix = config["prefix"]
        self.max_chars = config["max_chars"]
        added = config["added"]  # content -> (id, lstrip, rstrip)
        self.added = added
        self.split = None
        if added:
            ordered = sorted(added, key=len, reverse=True)  # leftmost, then longest
            self.split = re.compile("|".join(re.escape(a) for a in ordered))

    def normalize(self, text: str) -> str:
        config = self.config
        if config["clean"]:
            kept = []
            for char in text:
                if char in "\x00\ufffd" or (
                    char not in "\t\n\r" and unicodedata.category(char) in DROPPED
                ):
                    continue
                kept.append(" " if is_whitespace(char) else char)
            text = "".join(kept)
        if config["chinese"]:
            text = "".join(" " + c + " " if is_cjk(c) else c for c in text)
        if config["strip_accents"]:
            decomposed = unicodedata.normalize("NFD", text)
            text = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
        if config["lowercase"]:
            # Char by char, as Rust's to_lowercase: no final-sigma rule (str.lower has one).
            text = text.lower() if "\u03a3" not in text else "".join(c.lower() for c in text)
        return text

    def words(self, text: str) -> List[str]:
        """BertPreTokenizer: split on whitespace (dropped) and punctuation (kept, alone)."""
        words: List[str] = []
        current: List[str] = []
        for char in text:
            if is_whitespace(char) or is_punctuation(char):
                if current:
                    words.append("".join(current))
                    current = []
                if not is_whitespace(char):
                    words.append(char)
            else:
                current.append(char)
        if current:
            words.append("".join(current))
        return words

    def word_ids(self, word: str) -> List[int]:
        if len(word) > self.max_chars:
            return [self.unk]
        ids = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                found = self.vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return [self.unk]
            ids.append(found)
            start = end
        return ids

    def pieces(self, text: str) -> List[Tuple[str, bool]]:
        """The text cut at the added tokens: (piece, is an added token)."""
        if self.split is None:
            return [(text, False)]
        out: List[Tuple[str, bool]] = []
        done = 0
        for match in self.split.finditer(text):
            start, end = match.span()
            _, lstrip, rstrip = self.added[match.group()]
            before = text[done:start]
            while lstrip and before and is_whitespace(before[-1]):
                before = before[:-1]
            out.append((before, False))
            out.append((match.group(), True))
            done = end
            if rstrip:
                while done < len(text) and is_whitespace(text[done]):
                    done += 1
        out.append((text[done:], False))
        return [(p, added) for p, added in out if p]

    def ids(self, text: str) -> List[int]:
        ids: List[int] = []
        for piece, added in self.pieces(text):
            if added:
                ids.append(self.added[piece][0])
                continue
            for word in self.words(self.normalize(piece)):
                ids.extend(self.word_ids(word))
        return ids

    def encode(self, text: str, length: int) -> Tuple[List[int], List[int]]:
        """ids and attention mask, [CLS] text [SEP] cut or padded to ``length``."""
        config = self.config
        ids = [config["cls"]] + self.ids(text)[: max(length - 2, 0)] + [config["sep"]]
        mask = [1] * len(ids)
        padding = length - len(ids)
        return ids + [config["pad"]] * padding, mask + [0] * padding


class Unsupported(Exception):
    """A tokenizer the builtin WordPiece cannot run exactly: the reason, for the result."""


def load_wordpiece(directory: str) -> WordPiece:
    """The builtin WordPiece from tokenizer.json, else vocab.txt (+ tokenizer_config.json)."""
    path = os.path.join(directory, "tokenizer.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            return wordpiece_from_json(json.load(fh))
    path = os.path.join(directory, "vocab.txt")
    if not os.path.isfile(path):
        raise Unsupported("neither tokenizer.json nor vocab.txt, which WordPiece needs")
    with open(path, encoding="utf-8") as fh:
        tokens = fh.read().split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    # As tokenizers reads it: every line counts, trailing whitespace trimmed, the last of a
    # repeated token wins.
    vocab = {token.rstrip(): index for index, token in enumerate(tokens)}
    config = read_json(os.path.join(directory, "tokenizer_config.json"))
    lowercase = bool(config.get("do_lower_case", True))
    strip = config.get("strip_accents")
    specials = [t for t in ("[UNK]", "[SEP]", "[CLS]", "[PAD]", "[MASK]") if t in vocab]
    return WordPiece(
        vocab,
        {
            "unk_token": "[UNK]",
            "prefix": "##",
            "max_chars": 100,
            "clean": True,
            "chinese": bool(config.get("tokenize_chinese_chars", True)),
            "strip_accents": lowercase if strip is None else bool(strip),
            "lowercase": lowercase,
            "added": {t: (vocab[t], False, False) for t in specials},
            **special_ids(vocab, "[CLS]", "[SEP]"),
        },
    )


def read_json(path: str) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def special_ids(vocab: Dict[str, int], cls: str, sep: str) -> Dict[str, int]:
    missing = [t for t in (cls, sep) if t not in vocab]
    if missing:
        raise Unsupported("the vocabulary has no " + " or ".join(missing))
    pad = next((vocab[t] for t in PAD_TOKENS if t in vocab), 0)
    return {"cls": vocab[cls], "sep": vocab[sep], "pad": pad}


def wordpiece_from_json(data: Dict[str, Any]) -> WordPiece:
    model = data.get("model") or {}
    if model.get("type") != "WordPiece":
        raise Unsupported(f"a {model.get('type') or 'unknown'} tokenizer, not WordPiece")
    normalizer = data.get("normalizer") or {}
    if normalizer.get("type") != "BertNormalizer":
        raise Unsupported(f"normalizer {normalizer.get('type')}, not BertNormalizer")
    if (data.get("pre_tokenizer") or {}).get("type") != "BertPreTokenizer":
        raise Unsupported("a pre-tokenizer other than BertPreTokenizer")
    added = {}
    for token in data.get("added_tokens") or []:
        if token.get("normalized") or token.get("single_word"):
            raise Unsupported(f"added token {token.get('content')!r} is normalized or single_word")
        added[token["content"]] = (token["id"], bool(token["lstrip"]), bool(token["rstrip"]))
    vocab = model["vocab"]
    lowercase = bool(normalizer.get("lowercase", True))
    strip = normalizer.get("strip_accents")
    cls, sep = template_specials(data.get("post_processor") or {})
    return WordPiece(
        vocab,
        {
            "unk_token": model.get("unk_token", "[UNK]"),
            "prefix": model.get("continuing_subword_prefix", "##"),
            "max_chars": int(model.get("max_input_chars_per_word", 100)),
            "clean": bool(normalizer.get("clean_text", True)),
            "chinese": bool(normalizer.get("handle_chinese_chars", True)),
            "strip_accents": lowercase if strip is None else bool(strip),
            "lowercase": lowercase,
            "added": added,
            **special_ids(vocab, cls, sep),
        },
    )


def template_specials(processor: Dict[str, Any]) -> Tuple[str, str]:
    """[CLS] and [SEP] of a BertProcessing, or a TemplateProcessing that is ``CLS $A SEP``."""
    kind = processor.get("type")
    if kind == "BertProcessing":
        return processor["cls"][0], processor["sep"][0]
    single = processor.get("single") or []
    if kind == "TemplateProcessing" and len(single) == 3 and "Sequence" in single[1]:
        first, last = single[0].get("SpecialToken"), single[2].get("SpecialToken")
        if first and last:
            return first["id"], last["id"]
    raise Unsupported(f"post-processor {kind}, not [CLS] text [SEP]")


def tokenize_text(
    np: Any, args: argparse.Namespace
) -> Tuple[Optional[Dict[str, Any]], Dict[str, Any]]:
    """The board's own token arrays for ``--text`` and what tokenising cost, timed per sentence;
    (None, a report saying why) when no tokenizer this board has can run these files."""
    sentences = read_sentences(args.text)
    started = time.perf_counter()
    try:
        encode, kind = open_tokenizer(args.tokenizer, args.tokenize_with, args.length)
    except Unsupported as exc:
        return None, {"measured": False, "reason": str(exc)}
    load_ms = (time.perf_counter() - started) * 1000.0
    rows, times = time_tokenizer(encode, sentences, args.runs)
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    mask = np.array([r[1] for r in rows], dtype=np.int64)
    arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    report = {
        "measured": True,
        "tokenizer": kind,
        "load_ms": load_ms,
        "sentences": len(sentences),
        "samples": len(times),
        "latency_ms": summarize(times),
        "digests": [digest(np, ids[i], mask[i]) for i in range(len(ids))],
    }
    return arrays, report


def digest(np: Any, ids: Any, mask: Any) -> str:
    """sha256 of one sentence's ids then mask as little-endian int32: the host checks it."""
    data = np.asarray(ids, dtype="<i4").tobytes() + np.asarray(mask, dtype="<i4").tobytes()
    return hashlib.sha256(data).hexdigest()


def read_sentences(path: str) -> List[str]:
    """One sentence a line; a ``.jsonl`` file (what the host writes) one JSON string a line,
    so a sentence keeps any character it has (lines end at "\\n" alone: str.splitlines would
    also cut at U+2028 or U+0085, which JSON leaves unescaped)."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [line for line in fh.read().split("\n") if line.strip()]
        if path.endswith(".jsonl"):
            lines = [json.loads(line) for line in lines]
    except (OSError, ValueError) as exc:
        raise BoardError(f"--text {path}: cannot be read: {exc}") from None
    if not all(isinstance(line, str) for line in lines):
        raise BoardError(f"--text {path}: every line of a .jsonl text must be a JSON string")
    if not lines:
        raise BoardError(f"--text {path}: no sentences; one a line")
    return lines


def open_tokenizer(directory: str, choice: str, length: int) -> Tuple[Callable[[str], Any], str]:
    """encode(text) -> (ids, mask) padded to ``length``, and which tokenizer it is."""
    if choice == "tokenizers" or (choice == "auto" and importlib.util.find_spec("tokenizers")):
        return open_hf_tokenizer(directory, length), "tokenizers"
    try:
        wordpiece = load_wordpiece(directory)
    except Unsupported as exc:
        if choice == "builtin":
            raise
        raise Unsupported(
            f"no tokenizers package on this board and {exc}; install tokenizers there "
            "(pip install tokenizers) to time it"
        ) from None

    def encode(text: str) -> Tuple[List[int], List[int]]:
        return wordpiece.encode(text, length)

    return encode, "builtin-wordpiece"


def open_hf_tokenizer(directory: str, length: int) -> Callable[[str], Any]:
    """Hugging Face's tokenizers, read as the host reads the same files."""
    if not importlib.util.find_spec("tokenizers"):
        raise Unsupported("the tokenizers package is not installed on this board")
    tokenizers = importlib.import_module("tokenizers")
    if os.path.isfile(os.path.join(directory, "tokenizer.json")):
        tokenizer = tokenizers.Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
    elif os.path.isfile(os.path.join(directory, "vocab.txt")):
        config = read_json(os.path.join(directory, "tokenizer_config.json"))
        tokenizer = tokenizers.BertWordPieceTokenizer(
            os.path.join(directory, "vocab.txt"),
            lowercase=bool(config.get("do_lower_case", True)),
            strip_accents=config.get("strip_accents"),
            handle_chinese_chars=bool(config.get("tokenize_chinese_chars", True)),
        )
    else:
        raise Unsupported(f"no tokenizer.json or vocab.txt in {directory}")
    pad = next((i for t in PAD_TOKENS for i in [tokenizer.token_to_id(t)] if i is not None), 0)
    tokenizer.enable_truncation(max_length=length)
    tokenizer.enable_padding(length=length, pad_id=pad)

    def encode(text: str) -> Tuple[List[int], List[int]]:
        encoded = tokenizer.encode(text)
        return encoded.ids, encoded.attention_mask

    return encode


def time_tokenizer(
    encode: Callable[[str], Any], sentences: List[str], runs: int
) -> Tuple[List[Any], List[float]]:
    """The rows of a first, untimed pass (they are fed), then per-sentence times over as many
    passes as make ``runs`` samples, like the inference timings."""
    rows = [encode(s) for s in sentences]
    times = []
    for _ in range(max(1, -(-runs // len(sentences)))):
        for sentence in sentences:
            started = time.perf_counter()
            encode(sentence)
            times.append((time.perf_counter() - started) * 1000.0)
    return rows, times


# ---- timing ----


def time_runs(
    run: Callable[[Feed], Any], feeds: List[Feed], warmup: int, runs: int
) -> Tuple[float, List[float]]:
    started = time.perf_counter()
    run(feeds[0])
    first_ms = (time.perf_counter() - started) * 1000.0
    for i in range(warmup):
        run(feeds[i % len(feeds)])
    latencies = []
    for i in range(runs):
        feed = feeds[i % len(feeds)]
        started = time.perf_counter()
        run(feed)
        latencies.append((time.perf_counter() - started) * 1000.0)
    return first_ms, latencies


def percentile(ordered: List[float], q: float) -> float:
    """Linear interpolation between closest ranks, as numpy's default."""
    rank = (len(ordered) - 1) * q / 100.0
    low = int(math.floor(rank))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: List[float]) -> Dict[str, float]:
    ordered = sorted(values)
    mean = sum(ordered) / len(ordered)
    variance = sum((v - mean) ** 2 for v in ordered) / len(ordered)
    summary = {"min": ordered[0], "mean": mean, "max": ordered[-1], "std": math.sqrt(variance)}
    for q in (50, 90, 95, 99):
        summary[f"p{q}"] = percentile(ordered, q)
    return summary


def start_watchdog(seconds: float) -> None:
    """End a run that outlives its time, between two inferences (SIGALRM, where there is one)."""
    if seconds <= 0 or not hasattr(signal, "SIGALRM"):
        return

    def expire(signum: int, frame: Any) -> None:
        raise BoardError(
            f"timed out after {seconds:g} s (--timeout); fewer --runs or a faster board"
        )

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(int(math.ceil(seconds)))


def signal_off() -> None:
    if hasattr(signal, "SIGALRM"):
        signal.alarm(0)


# ---- memory ----


def memory() -> Dict[str, Optional[int]]:
    """Resident and peak resident bytes: /proc/self/status, else getrusage (peak only)."""
    values: Dict[str, Optional[int]] = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if "VmHWM" in values:
        return {"rss": values.get("VmRSS"), "peak": values["VmHWM"]}
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # ru_maxrss is KiB on Linux and bytes on macOS.
        return {"rss": None, "peak": peak if sys.platform == "darwin" else peak * 1024}
    except (ImportError, OSError):
        return {"rss": None, "peak": None}


def memory_result(
    before: Dict[str, Optional[int]], after: Dict[str, Optional[int]]
) -> Dict[str, Any]:
    start = before["rss"] if before["rss"] is not None else before["peak"]
    peak = after["peak"]
    return {
        "peak_rss_bytes": peak,
        "rss_before_load_bytes": start,
        "rss_after_bytes": after["rss"],
        "peak_rss_growth_bytes": peak - start if peak is not None and start is not None else None,
        "source": "/proc/self/status" if after["rss"] is not None else "getrusage",
    }


# ---- the board ----


def pin(cpus: str) -> Optional[List[int]]:
    """Restrict this process (and the runtime's threads, which inherit it) to ``cpus``."""
    if not cpus:
        return None
    chosen: Set[int] = set()
    for part in cpus.split(","):
        low, _, high = part.partition("-")
        chosen.update(range(int(low), int(high or low) + 1))
    if not hasattr(os, "sched_setaffinity"):
        raise BoardError("--cpus needs Linux (os.sched_setaffinity); run without pinning")
    try:
        os.sched_setaffinity(0, chosen)
    except OSError as exc:
        raise BoardError(f"cannot pin to CPUs {cpus}: {exc.strerror}") from None
    return sorted(chosen)


def board_facts(cpus: Optional[List[int]]) -> Dict[str, Any]:
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_model": cpu_model(),
        "device_model": read_text("/proc/device-tree/model"),
        "cores": os.cpu_count(),
        "cpus_allowed": len(allowed) if allowed is not None else None,
        "kernel": platform.release(),
        "machine": platform.machine(),
        "system": platform.system(),
        "python": platform.python_version(),
        "throttling": throttling(allowed),
    }


def read_text(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace").strip("\x00 \n") or None
    except OSError:
        return None


def cpu_model() -> Optional[str]:
    """The CPU's name: x86 says ``model name``, ARM boards ``Hardware``/``Model`` or part ids."""
    text = read_text("/proc/cpuinfo") or ""
    fields: Dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
        if fields.get(key):
            return fields[key]
    if fields.get("CPU part"):
        return f"ARM implementer {fields.get('CPU implementer')} part {fields['CPU part']}"
    return platform.processor() or None


def throttling(cpus: Optional[List[int]]) -> Dict[str, Any]:
    """Whether the board ran slower than it can: vcgencmd on a Raspberry Pi, else cpufreq.

    Read right after the timed runs, while the clocks still show the load. ``throttled`` is
    None when the board shows neither.
    """
    raspberry = vcgencmd_throttled()
    if raspberry is not None:
        return raspberry
    rows = []
    for cpu in cpus if cpus is not None else range(os.cpu_count() or 1):
        base = f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/"
        values = [
            read_text(base + n)
            for n in ("scaling_cur_freq", "scaling_max_freq", "cpuinfo_max_freq")
        ]
        if all(v is not None and v.isdigit() for v in values):
            rows.append([int(v) for v in values if v is not None])
    if not rows:
        return {"throttled": None, "source": None, "detail": "no vcgencmd, no cpufreq in /sys"}
    top = max(r[0] for r in rows)
    capped = any(r[1] < r[2] for r in rows)  # a thermal or power cap lowers scaling_max_freq
    # The fastest core we ran on, just after the busy loop, should sit at its maximum: on an
    # ARM board (no turbo) anything below it is throttling. On x86 with turbo this reads high.
    slow = top < max(r[2] for r in rows)
    ceiling, peak = min(r[1] for r in rows) // 1000, max(r[2] for r in rows) // 1000
    detail = f"cur {top // 1000} MHz, scaling max {ceiling} MHz, cpuinfo max {peak} MHz"
    return {"throttled": capped or slow, "source": "cpufreq", "detail": detail}


def vcgencmd_throttled() -> Optional[Dict[str, Any]]:
    tool = shutil.which("vcgencmd")
    if tool is None:
        return None
    try:
        out = subprocess.run([tool, "get_throttled"], capture_output=True, text=True, timeout=5)
        bits = int(out.stdout.strip().split("=")[-1], 16)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    # Bits 0-3: under-voltage, frequency capped, throttled, soft temperature limit, right now.
    return {"throttled": bool(bits & 0xF), "source": "vcgencmd get_throttled", "detail": hex(bits)}


if __name__ == "__main__":
    sys.exit(main())
