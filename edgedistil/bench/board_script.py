#!/usr/bin/env python3
"""edgedistil's on-board benchmark: one file, copied to a board and run there on its own.

It needs the Python standard library, numpy and the runtime of the artifact: onnxruntime for
``.onnx``; ai_edge_litert, else tflite_runtime, for ``.tflite``. It imports nothing from
edgedistil and has no tokenizer: the host tokenises the text and ships the token ids as ``.npy``
files beside this script (``input_ids.npy``, ``attention_mask.npy``, ``token_type_ids.npy``, one
row per sentence). The model's own input names, dtypes and shapes decide what is fed.

    python3 board_script.py --model model.onnx --inputs . --runs 100 --warmup 10 --threads 4

It prints ONE JSON object on stdout (and writes it to ``--output`` when given): ``"ok": true``
with the timings, memory and board facts, or ``"ok": false`` with ``error`` (and ``install``
when a package is missing), and then exits non-zero. It runs on Python 3.8 and later, because
older boards still ship it: no ``X | Y`` types, no ``match``, no 3.9+ library calls.
"""

# ruff: noqa: UP006, UP007, UP035, UP045
# (typing.List/Dict/Optional on purpose: this file must parse and run on Python 3.8.)

import argparse
import importlib
import importlib.util
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
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
    arrays = load_inputs(np, args.inputs)
    before = memory()
    started = time.perf_counter()
    runtime = importlib.import_module(module)
    import_ms = (time.perf_counter() - started) * 1000.0
    started = time.perf_counter()
    opener = open_onnx if suffix == ".onnx" else open_litert
    run, specs, version = opener(runtime, module, args.model, args.threads)
    load_ms = (time.perf_counter() - started) * 1000.0
    feeds = build_feeds(np, specs, arrays)
    first_ms, latencies = time_runs(run, feeds, args.warmup, args.runs)
    after = memory()
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
    return result


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


def open_onnx(
    ort: Any, module: str, path: str, threads: int
) -> Tuple[Callable[[Feed], Any], List[Dict[str, Any]], str]:
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

    return run, specs, str(ort.__version__)


def open_litert(
    runtime: Any, module: str, path: str, threads: int
) -> Tuple[Callable[[Feed], Any], List[Dict[str, Any]], str]:
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

    interpreter.allocate_tensors()
    version = getattr(runtime, "__version__", None) or "unknown"
    return run, specs, str(version)


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
