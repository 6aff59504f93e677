"""A student's WordPiece tokenizer as C99 a microcontroller firmware compiles in beside
``model_data.cc``: ``tokenizer.c`` / ``tokenizer.h``, no heap, the caller's output buffers.

``edt_tokenize(text, len, ids, mask, max_len)`` gives the ids and attention mask the Hugging Face
fast tokenizer of the same folder gives with ``padding="max_length", truncation=True``: the
runtime (``c_tokenizer_runtime.c``) follows its steps in its order, and the tables below are
generated here.

Unicode tables. Each is derived from Python's ``unicodedata`` and then checked, code point by
code point, against the ``tokenizers`` library the reference runs (its BertNormalizer and
BertPreTokenizer, one call over all assigned code points, about a second): that library's
Rust crates carry an older Unicode than Python's (a mark, format or punctuation character
added since is an ordinary letter to it, and an unassigned code point is kept), and the C must
give what it gives, so where the two disagree the library's answer is written and the count is
recorded (``CTokenizer.reconciled``). Only what changes an id is stored: runs of code points
with the same class bits (dropped by clean_text, whitespace, punctuation, non-spacing mark),
runs of lower-case deltas, and the decompositions that accent stripping leaves different, less
the mappings between characters no token of this vocabulary holds (``_Unused``: such a character
makes its word one [UNK] whatever it maps to). For BERT's vocabulary that is 7,979 bytes of
Unicode tables (25,663 with every mapping), against 384,122 of vocabulary.

Not expressed, and refused with one line (``refusal`` says why; a build then writes no C): a
tokenizer that is not WordPiece with BERT's normalizer and pre-tokenizer, an added token that is
not plain ASCII matched as written, and a vocabulary holding a spacing combining mark that NFD
would reorder (the runtime keeps marks in text order; ``_check_reordering``).

Vocabulary: a sorted array searched by halves (blob of token bytes, offsets, ids) or a byte trie
(label, first child, child count, id per node), whichever is smaller for this vocabulary; the
comment in ``tokenizer.c`` gives both sizes. For BERT's 30,522 tokens the sorted array is
384,122 bytes and the trie 520,136 (65,017 nodes of 8 bytes): the trie shares prefixes but pays
8 bytes for every one of them, where the sorted array pays 6 bytes per token. The runtime
searches the sorted array; a vocabulary whose trie would be smaller is written sorted all the
same and says so in that comment (none of BERT's vocabularies, pruned or not, is one: see
``benchmarks/c_tokenizer.py``).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from edgedistil.errors import ExportError
from edgedistil.files import write_atomic

C_FILE, H_FILE = "tokenizer.c", "tokenizer.h"
# Bits of a code point's class (the runtime's EDT_* names).
DROP, SPACE, PUNCT, MN = 1, 2, 4, 8
# BERT's ranges of CJK ideographs (the tokenizers library's is_chinese_char).
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
# The runtime's code (c_tokenizer_runtime.c) on a Cortex-M7, -Os: text + data of tokenizer.o
# less its tables, 1,435 to 1,439 bytes with arm-none-eabi-gcc 12.2 (benchmarks/c_tokenizer.py);
# with the tables, whose bytes the generator counts exactly, the tokenizer's flash.
CODE_BYTES = 1_440
HANGUL = range(0xAC00, 0xD7A4)  # decomposed by arithmetic in the runtime
MAX_CODE_POINT = 0x110000
SURROGATES = range(0xD800, 0xE000)
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclass(frozen=True, kw_only=True)
class WordPieceSpec:
    """What the C needs to know of a folder's tokenizer."""

    vocab: dict[str, int]
    lowercase: bool
    strip_accents: bool
    chinese: bool
    max_chars: int
    prefix: str
    unk: int
    cls: int
    sep: int
    pad: int
    specials: dict[str, int]  # matched in the raw text, before normalization


@dataclass(frozen=True, kw_only=True)
class CTokenizer:
    c_path: Path
    h_path: Path
    vocab_layout: str  # what the runtime searches: "sorted" (the trie is measured, not written)
    table_bytes: dict[str, int]  # table name -> bytes of its static data
    sorted_bytes: int
    trie_bytes: int
    reconciled: int  # code points where the tokenizers library's Unicode differs from Python's
    sequence_length: int

    @property
    def unicode_bytes(self) -> int:
        return sum(v for k, v in self.table_bytes.items() if not k.startswith("edt_vocab"))

    @property
    def vocab_bytes(self) -> int:
        return sum(v for k, v in self.table_bytes.items() if k.startswith("edt_vocab"))

    @property
    def flash_bytes(self) -> int:
        """What it adds to a firmware's flash: its tables, counted, and its code, measured."""
        return sum(self.table_bytes.values()) + CODE_BYTES


@dataclass
class _Source:
    """C definitions and the bytes of each table, in order."""

    lines: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)

    def array(self, ctype: str, name: str, values: Iterable[int], width: int) -> None:
        items = list(values)
        if not items:
            raise ExportError(f"C tokenizer: table {name} came out empty")
        self.sizes[name] = len(items) * width
        body = _wrap(str(v) for v in items)
        self.lines.append(f"static const {ctype} {name}[{len(items)}] = {{\n{body}\n}};")

    def define(self, name: str, value: int | str) -> None:
        self.lines.append(f"#define {name} {value}")


def _wrap(items: Iterable[str], width: int = 96) -> str:
    lines, line = [], "    "
    for item in items:
        if len(line) + len(item) + 2 > width:
            lines.append(line.rstrip())
            line = "    "
        line += item + ", "
    lines.append(line.rstrip())
    return "\n".join(lines)


def refusal(directory: Path) -> str | None:
    """Why the C tokenizer cannot express the folder's tokenizer (not WordPiece, not BERT's
    normalizer and pre-tokenizer, an added token it cannot match), or None when it can: a build
    writes no C tokenizer then, and the firmware tokenizes as it did before."""
    try:
        read_spec(directory)
    except ExportError as exc:
        return str(exc)
    return None


def _refusal(directory: Path, spec: dict[str, Any]) -> str | None:
    model = spec.get("model") or {}
    if model.get("type") != "WordPiece":
        return (
            f"{directory}: the tokenizer is {model.get('type') or 'unknown'}, and the C tokenizer "
            "writes only WordPiece (BERT's); a BPE or unigram student has no C tokenizer"
        )
    normalizer = spec.get("normalizer") or {}
    pre = spec.get("pre_tokenizer") or {}
    why = None
    if normalizer.get("type") != "BertNormalizer":
        why = f"its normalizer is {normalizer.get('type')}, not BertNormalizer"
    elif not normalizer.get("clean_text", False):
        why = "its BertNormalizer has clean_text off"
    elif pre.get("type") != "BertPreTokenizer":
        why = f"its pre-tokenizer is {pre.get('type')}, not BertPreTokenizer"
    if why:
        return (
            f"{directory}: the C tokenizer cannot express this WordPiece tokenizer: {why} "
            "(it writes BERT's BertNormalizer + BertPreTokenizer + WordPiece)"
        )
    return None


def read_spec(directory: Path) -> WordPieceSpec:
    """The folder's tokenizer as the C can express it; anything else is one ExportError line."""
    from edgedistil.tokens import load_backend

    backend = load_backend(directory, error=ExportError)
    if backend is None:
        raise ExportError(f"{directory}: no tokenizer (tokenizer.json or vocab.txt) to write as C")
    spec: dict[str, Any] = json.loads(backend.to_str())
    if why := _refusal(directory, spec):
        raise ExportError(why)
    model = spec["model"]
    _check_reordering(directory, spec, model["vocab"])
    normalizer = spec.get("normalizer") or {}
    lowercase = bool(normalizer.get("lowercase", False))
    strip = normalizer.get("strip_accents")
    config = tokenizer_config(directory)
    vocab: dict[str, int] = model["vocab"]
    specials = _specials(directory, spec, vocab)
    names = {k: special_name(config, k, d) for k, d in _SPECIAL_DEFAULTS.items()}
    ids = {k: _id_of(directory, vocab, specials, name) for k, name in names.items()}
    return WordPieceSpec(
        vocab=vocab,
        lowercase=lowercase,
        strip_accents=lowercase if strip is None else bool(strip),
        chinese=bool(normalizer.get("handle_chinese_chars", False)),
        max_chars=int(model.get("max_input_chars_per_word", 100)),
        prefix=str(model.get("continuing_subword_prefix", "##")),
        specials=specials,
        **ids,
    )


def vocab_lines(directory: Path, vocab: dict[str, int]) -> list[str]:
    """Tokens by id, for a vocabulary file whose line n is token n (onnxruntime-extensions'
    BertTokenizer, MediaPipe's): ids with a gap, or a token that is empty or holds a line
    break, would shift every later id, so they are one ExportError."""
    ordered = sorted(vocab, key=vocab.__getitem__)
    bad = [t for t in ordered if not t or "\n" in t or "\r" in t]
    if bad or [vocab[t] for t in ordered] != list(range(len(ordered))):
        what = f"token {bad[0]!r}" if bad else "ids that are not 0..N-1"
        raise ExportError(
            f"{directory}: the vocabulary has {what}; a vocabulary file numbered by its lines "
            "cannot give these ids"
        )
    return ordered


_SPECIAL_DEFAULTS = {"unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]"}


def _check_reordering(directory: Path, spec: dict[str, Any], vocab: dict[str, int]) -> None:
    """NFD puts combining marks in canonical order; the runtime keeps them in text order. With
    the non-spacing marks dropped, only the marks that survive stripping (25 spacing marks with
    a combining class, U+1D165 and its kin) could move, and a word holding one that no token
    holds is one [UNK] in either order. A vocabulary that holds one is refused: the C would not
    give its ids."""
    normalizer = spec.get("normalizer") or {}
    strip = normalizer.get("strip_accents")
    if not (normalizer.get("lowercase") if strip is None else strip):
        return  # no NFD, no reordering
    alphabet = {ch for token in vocab for ch in token}
    held = sorted(
        ch for ch in alphabet if unicodedata.combining(ch) and unicodedata.category(ch) != "Mn"
    )
    if held:
        names = ", ".join(f"U+{ord(ch):04X}" for ch in held)
        raise ExportError(
            f"{directory}: the vocabulary holds combining marks that NFD reorders ({names}); "
            "the C tokenizer keeps marks in text order, so it cannot give this tokenizer's ids"
        )


def tokenizer_config(directory: Path) -> dict[str, Any]:
    path = directory / "tokenizer_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError as exc:
        raise ExportError(f"{path}: not valid JSON ({exc})") from None
    return config if isinstance(config, dict) else {}


def special_name(config: dict[str, Any], key: str, default: str) -> str:
    value = config.get(f"{key}_token", default)
    if isinstance(value, dict):  # older transformers save special tokens as AddedToken objects
        value = value.get("content", default)
    return str(value)


def _specials(directory: Path, spec: dict[str, Any], vocab: dict[str, int]) -> dict[str, int]:
    """The added tokens, matched in the raw text; a folder with only vocab.txt gets BERT's five,
    which transformers adds to such a tokenizer."""
    added = spec.get("added_tokens") or [
        {"content": t, "id": vocab[t], "normalized": False} for t in BERT_SPECIALS if t in vocab
    ]
    for token in added:
        flags = [k for k in ("lstrip", "rstrip", "single_word", "normalized") if token.get(k)]
        if flags or not token["content"].isascii() or not token["content"]:
            what = ", ".join(flags) or "non-ASCII text"
            raise ExportError(
                f"{directory}: added token {token['content']!r} has {what}; "
                "the C tokenizer matches only ASCII added tokens spelled exactly in the raw text"
            )
    return {token["content"]: int(token["id"]) for token in added}


def _id_of(directory: Path, vocab: dict[str, int], specials: dict[str, int], name: str) -> int:
    found = specials.get(name, vocab.get(name))
    if found is None:
        raise ExportError(f"{directory}: the tokenizer has no {name} token, which the C needs")
    return found


def _python_bits(cp: int, strip: bool) -> int:
    """The class bits Python's unicodedata gives (BERT's rules on Unicode's categories)."""
    char = chr(cp)
    category = unicodedata.category(char)
    bits = 0
    if char not in "\t\n\r" and (cp in (0, 0xFFFD) or category in ("Cc", "Cf", "Co", "Cs")):
        bits |= DROP  # an unassigned code point (Cn) is kept, as the tokenizers library keeps it
    if char.isspace() and cp not in range(0x1C, 0x20):  # Python's isspace, less 4 separators
        bits |= SPACE  # that Unicode's White_Space (Rust's is_whitespace) does not hold
    if category.startswith("P") or (char.isascii() and not char.isalnum() and 33 <= cp <= 126):
        bits |= PUNCT
    if strip and category == "Mn":
        bits |= MN
    return bits


@dataclass(frozen=True)
class _Probe:
    """The tokenizers library's own answer for one code point at a time."""

    clean: Callable[[str], str]
    strip: Callable[[str], str]
    lower: Callable[[str], str]
    pretok: Callable[[str], list[tuple[str, Any]]]

    @classmethod
    def make(cls) -> _Probe:
        from tokenizers import normalizers, pre_tokenizers

        def bert(**kw: bool) -> Callable[[str], str]:
            options = {"clean_text": False, "handle_chinese_chars": False}
            options |= {"strip_accents": False, "lowercase": False} | kw
            return normalizers.BertNormalizer(**options).normalize_str

        return cls(
            clean=bert(clean_text=True),
            strip=bert(strip_accents=True),
            lower=normalizers.Lowercase().normalize_str,
            pretok=pre_tokenizers.BertPreTokenizer().pre_tokenize_str,
        )

    def bits(self, cp: int, strip: bool) -> int:
        char = chr(cp)
        cleaned = self.clean(char)
        bits = DROP if cleaned == "" else (SPACE if cleaned == " " else 0)
        words = [w for w, _ in self.pretok("a" + char + "a")]
        if words == ["a", char, "a"]:
            bits |= PUNCT
        if words == ["a", "a"]:
            bits |= SPACE
        if strip and not bits & DROP and self.strip(char) == "":
            bits |= MN
        return bits


def _assigned(cp: int) -> bool:
    return cp not in SURROGATES and unicodedata.category(chr(cp)) != "Cn"


def class_runs(strip: bool, probe: _Probe) -> tuple[list[int], int]:
    """(first code point << 4) | bits for each run of equal bits, and the code points where the
    tokenizers library's bits differ from Python's (its answer kept)."""
    runs: list[int] = []
    reconciled, last = 0, -1
    for cp in range(MAX_CODE_POINT):
        bits = _python_bits(cp, strip) if cp not in SURROGATES else DROP
        if _assigned(cp) or cp == 0xFFFD:
            probed = probe.bits(cp, strip)
            reconciled += probed != bits
            bits = probed
        if bits != last:
            runs.append(cp << 4 | bits)
            last = bits
    return runs, reconciled


def strip_table(probe: _Probe, bits_of: Callable[[int], int]) -> tuple[dict[int, str], int]:
    """Code point -> what NFD + dropping non-spacing marks leaves, where that is not itself
    (marks, dropped whole by their MN bit, and Hangul, done by arithmetic, left out)."""
    table: dict[int, str] = {}
    reconciled = 0
    for cp in range(MAX_CODE_POINT):
        if not _assigned(cp) or cp in HANGUL or bits_of(cp) & (MN | DROP):
            continue
        char = chr(cp)
        python = "".join(
            c for c in unicodedata.normalize("NFD", char) if unicodedata.category(c) != "Mn"
        )
        probed = probe.strip(char)
        reconciled += probed != python
        if probed != char:
            table[cp] = probed
    return table, reconciled


def lower_table(probe: _Probe) -> tuple[dict[int, str], int]:
    """Code point -> its lower case, where that is not itself (Rust's char::to_lowercase)."""
    table: dict[int, str] = {}
    reconciled = 0
    for cp in range(MAX_CODE_POINT):
        if cp in SURROGATES:
            continue
        char = chr(cp)
        probed = probe.lower(char)
        reconciled += probed != char.lower()
        if probed != char:
            table[cp] = probed
    return table, reconciled


def lower_runs(table: dict[int, str]) -> tuple[list[int], list[int], list[int]]:
    """Runs of code points, one apart or two apart, that move by the same delta:
    (first | (stride - 1) << 21 | count << 22, delta), and [cp, a, b] for a two-code-point one."""
    single = sorted((cp, ord(v) - cp) for cp, v in table.items() if len(v) == 1)
    multi = [x for cp, v in sorted(table.items()) if len(v) > 1 for x in (cp, *map(ord, v))]
    if any(len(v) > 2 for v in table.values()):
        raise ExportError("C tokenizer: a lower case of more than two code points")
    keys: list[int] = []
    deltas: list[int] = []
    i = 0
    while i < len(single):
        first, delta = single[i]
        stride, count = 1, 1
        if i + 1 < len(single) and single[i + 1][1] == delta and single[i + 1][0] - first <= 2:
            stride = single[i + 1][0] - first
        while (
            i + count < len(single)
            and count < 1023
            and single[i + count] == (first + count * stride, delta)
        ):
            count += 1
        keys.append(first | (stride - 1) << 21 | count << 22)
        deltas.append(delta)
        i += count
    return keys, deltas, multi


def vocab_sizes(vocab: dict[str, int]) -> tuple[int, int]:
    """Bytes of the sorted array (blob + uint32 offsets + ids) and of a byte trie (per node:
    uint8 label, uint32 first child, uint8 child count, id) for this vocabulary."""
    id_width = _id_width(vocab)
    blobs = [t.encode("utf-8") for t in vocab]
    sorted_bytes = sum(map(len, blobs)) + 4 * (len(blobs) + 1) + id_width * len(blobs)
    prefixes = {b[:i] for b in blobs for i in range(1, len(b) + 1)}
    trie_bytes = (len(prefixes) + 1) * (1 + 4 + 1 + id_width)
    return sorted_bytes, trie_bytes


def _id_width(vocab: dict[str, int]) -> int:
    return 2 if max(vocab.values(), default=0) < 0xFFFF else 4


def _vocab_arrays(src: _Source, vocab: dict[str, int]) -> None:
    entries = sorted((t.encode("utf-8"), i) for t, i in vocab.items())
    offsets = [0]
    for token, _ in entries:
        offsets.append(offsets[-1] + len(token))
    src.define("EDT_VOCAB_SIZE", len(entries))
    src.array("uint8_t", "edt_vocab_blob", (b for t, _ in entries for b in t), 1)
    src.array("uint32_t", "edt_vocab_offsets", offsets, 4)
    width = _id_width(vocab)
    src.array(
        "uint16_t" if width == 2 else "uint32_t", "edt_vocab_ids", (i for _, i in entries), width
    )


def _c_string(text: str) -> str:
    return '"' + "".join(f"\\{b:03o}" for b in text.encode("utf-8")) + '"'


def _unicode_arrays(src: _Source, spec: WordPieceSpec) -> int:
    """The Unicode tables this tokenizer needs; returns the code points reconciled."""
    probe = _Probe.make()
    runs, reconciled = class_runs(spec.strip_accents, probe)
    src.array("uint32_t", "edt_class_runs", runs, 4)
    if spec.chinese:
        src.array("uint32_t", "edt_cjk", (x for r in CJK_RANGES for x in r), 4)
    starts = [r >> 4 for r in runs]
    lowers: dict[int, str] = {}
    if spec.lowercase:
        lowers, count = lower_table(probe)
        reconciled += count
    strips: dict[int, str] = {}
    if spec.strip_accents:
        strips, count = strip_table(probe, lambda cp: _bits_at(runs, starts, cp))
        reconciled += count
    unused = _Unused(spec.vocab, lambda cp: _bits_at(runs, starts, cp), lowers)
    if spec.strip_accents:
        _strip_arrays(src, {cp: v for cp, v in strips.items() if not unused(cp, v)})
    if spec.lowercase:
        keys, deltas, multi = lower_runs({cp: v for cp, v in lowers.items() if not unused(cp, v)})
        src.array("uint32_t", "edt_lower_runs", keys or [0], 4)  # count 0: matches nothing
        src.array("int32_t", "edt_lower_deltas", deltas or [0], 4)
        src.array("uint32_t", "edt_lower_multi", multi or [0xFFFFFFFF, 0, 0], 4)
    return reconciled


class _Unused:
    """Whether a mapping X -> S changes no id for this vocabulary, so its table can leave it out.

    A character that no token holds makes its whole word one [UNK]. So when X, S and their lower
    cases are all such characters and none is whitespace or punctuation (which would move a word
    boundary), X -> S and X -> X give the same [UNK]: leaving the entry out changes nothing.
    """

    def __init__(
        self, vocab: dict[str, int], bits_of: Callable[[int], int], lowers: dict[int, str]
    ):
        self.alphabet = {ch for token in vocab for ch in token}
        self.bits_of = bits_of
        self.lowers = lowers

    def __call__(self, cp: int, result: str) -> bool:
        chars = {chr(cp), *result}
        chars |= {c for ch in list(chars) for c in self.lowers.get(ord(ch), ch)}
        return not any(
            ch in self.alphabet or self.bits_of(ord(ch)) & (SPACE | PUNCT) for ch in chars
        )


def _strip_arrays(src: _Source, table: dict[int, str]) -> None:
    """A BMP character that strips to one BMP character (most of them): two uint16 tables; the
    rest: uint32 keys, (pool offset << 3 | length) and a uint32 pool. An empty table holds one
    entry that matches nothing a lookup can reach."""
    small = {
        k: ord(v) for k, v in table.items() if k < 0x10000 and len(v) == 1 and ord(v) < 0x10000
    }
    rest = {k: v for k, v in table.items() if k not in small}
    src.array("uint16_t", "edt_strip16_keys", small or [0xFFFF], 2)
    src.array("uint16_t", "edt_strip16_vals", small.values() or [0xFFFF], 2)
    pool: list[int] = []
    vals = []
    for text in rest.values():
        vals.append(len(pool) << 3 | len(text))
        pool.extend(map(ord, text))
    if len(pool) >= 1 << 13 or any(len(t) > 7 for t in rest.values()):
        raise ExportError("C tokenizer: the accent-stripping table outgrew its 16-bit entries")
    src.array("uint32_t", "edt_strip_keys", rest or [0xFFFFFFFF], 4)
    src.array("uint16_t", "edt_strip_vals", vals or [0], 2)
    src.array("uint32_t", "edt_strip_pool", pool or [0], 4)


def _bits_at(runs: list[int], starts: list[int], cp: int) -> int:
    import bisect

    return runs[bisect.bisect_right(starts, cp) - 1] & 15


def _defines(src: _Source, spec: WordPieceSpec) -> None:
    for name, value in (
        ("EDT_DROP", DROP),
        ("EDT_SPACE", SPACE),
        ("EDT_PUNCT", PUNCT),
        ("EDT_MN", MN),
        ("EDT_LOWERCASE", int(spec.lowercase)),
        ("EDT_STRIP_ACCENTS", int(spec.strip_accents)),
        ("EDT_CHINESE", int(spec.chinese)),
        ("EDT_MAX_CHARS", spec.max_chars),
        ("EDT_PREFIX", _c_string(spec.prefix)),
        ("EDT_PREFIX_LEN", len(spec.prefix.encode("utf-8"))),
        ("EDT_UNK", spec.unk),
        ("EDT_CLS", spec.cls),
        ("EDT_SEP", spec.sep),
        ("EDT_PAD", spec.pad),
        ("EDT_SPECIAL_COUNT", len(spec.specials)),
    ):
        src.define(name, value)
    texts = ", ".join(_c_string(t) for t in spec.specials)
    src.lines.append(f"static const char *const edt_special_text[] = {{{texts}}};")
    src.sizes["edt_special_text"] = sum(4 + len(t.encode("utf-8")) + 1 for t in spec.specials)
    src.array("int32_t", "edt_special_ids", spec.specials.values(), 4)


def write_c_tokenizer(directory: Path, out: Path, sequence_length: int) -> CTokenizer:
    """``tokenizer.c`` / ``tokenizer.h`` in ``out`` for the tokenizer of the model folder
    ``directory``, padding and truncating to ``sequence_length`` by default."""
    if sequence_length < 2:
        raise ExportError(
            f"C tokenizer: sequence length {sequence_length}; it needs at least 2 ([CLS], [SEP])"
        )
    spec = read_spec(directory)
    src = _Source()
    _defines(src, spec)
    reconciled = _unicode_arrays(src, spec)
    _vocab_arrays(src, spec.vocab)
    sorted_bytes, trie_bytes = vocab_sizes(spec.vocab)
    header = _c_header(directory, sequence_length)
    c_text = "\n".join(
        [
            _c_banner(directory, src.sizes, sorted_bytes, trie_bytes, reconciled),
            f'#include "{H_FILE}"',
            "#include <stddef.h>",
            "#include <stdint.h>",
            "",
            *src.lines,
            "",
            _runtime(),
        ]
    )
    out.mkdir(parents=True, exist_ok=True)
    c_path, h_path = out / C_FILE, out / H_FILE
    write_atomic(h_path, header.encode("utf-8"))
    write_atomic(c_path, c_text.encode("utf-8"))
    return CTokenizer(
        c_path=c_path,
        h_path=h_path,
        vocab_layout="sorted",
        table_bytes=dict(src.sizes),
        sorted_bytes=sorted_bytes,
        trie_bytes=trie_bytes,
        reconciled=reconciled,
        sequence_length=sequence_length,
    )


def _runtime() -> str:
    return (resources.files("edgedistil.export") / "c_tokenizer_runtime.c").read_text("utf-8")


def _c_banner(
    directory: Path, sizes: dict[str, int], sorted_bytes: int, trie_bytes: int, reconciled: int
) -> str:
    unicode_bytes = sum(v for k, v in sizes.items() if not k.startswith("edt_vocab"))
    kept = "sorted array" if sorted_bytes <= trie_bytes else "sorted array (the trie is smaller)"
    table_lines = "\n".join(f" *   {k}: {v:,} bytes" for k, v in sizes.items())
    return f"""/* Generated by edgedistil {_version()} from the tokenizer of {directory.name}.
 * Do not edit: edgedistil/export/c_tokenizer.py writes the Hugging Face fast tokenizer of
 * that folder as C99.
 *
 * Vocabulary: {kept}, {sorted_bytes:,} bytes; a byte trie would take {trie_bytes:,} bytes.
 * Unicode tables: {unicode_bytes:,} bytes; {reconciled:,} code points where the tokenizers
 * library's Unicode differs from Python {_python_unicode()}'s take the library's answer.
{table_lines}
 */"""


def _c_header(directory: Path, sequence_length: int) -> str:
    return f"""/* Generated by edgedistil {_version()} from the tokenizer of {directory.name}.
 * Do not edit: edgedistil/export/c_tokenizer.py writes it beside tokenizer.c. */
#ifndef EDGEDISTIL_TOKENIZER_H
#define EDGEDISTIL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

/* The profile's sequence length: the model's input_ids and attention_mask hold this many. */
#define EDT_SEQ_LEN {sequence_length}

/* Tokenizes len bytes of UTF-8 text (not NUL-terminated; invalid bytes are read as U+FFFD,
 * as Python's bytes.decode("utf-8", errors="replace") reads them) into max_len ids,
 * [CLS] ... [SEP] then [PAD], and the attention mask (1 on real tokens, 0 on padding).
 * ids and mask each hold max_len int32_t (EDT_SEQ_LEN for the model); nothing is allocated.
 * Returns the count of real tokens, [CLS] and [SEP] included (0 when max_len < 2). */
size_t edt_tokenize(const char *text, size_t len, int32_t *ids, int32_t *mask, size_t max_len);

#endif
"""


def _version() -> str:
    from edgedistil import __version__

    return __version__


def _python_unicode() -> str:
    return str(unicodedata.unidata_version)
