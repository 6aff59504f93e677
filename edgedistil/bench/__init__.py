"""Benchmarks on the device: the artifact timed where it will live.

    run.py           the stages: boards, token inputs, run everywhere, store, compare
    base.py          the Runner interface and its registry; what every runner shares
    local.py         this host        ssh.py   Linux boards        adb.py   Android devices
    board_script.py  the one file that runs on a board (stdlib + numpy + the runtime)
    litert_tool.py   LiteRT's benchmark_model, for Android devices without Python
    inputs.py        text -> token ids on the host     fleet.py   boards, run in parallel
    results.py       JSON beside the artifact, history, comparison     stats.py   percentiles

Nothing heavy is imported here: numpy, tokenizers and the runtimes load inside the functions
that need them, so ``edgedistil --help`` stays fast.
"""
