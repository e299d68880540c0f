"""CPU thread settings shared by the benchmarks: which thread counts to run (``--threads``) and setting
minidl and PyTorch to them, so both libraries are timed at the same count or each at its own default.

``torch`` is passed in (the module, or None where it is not installed or not wanted) so that a benchmark
that runs minidl alone never imports it.
"""
import minidl


def thread_modes(value, program):
    """--threads: 'both' (each library's default, then one thread), 'default', or a number for both.
    Returns the modes to run: None stands for each library's default."""
    if value == "both":
        return [None, 1]
    if value == "default":
        return [None]
    try:
        n = int(value)
    except ValueError:
        raise SystemExit(f"{program}: --threads expects 'both', 'default' or a positive int, got {value!r}") from None
    if n < 1:
        raise SystemExit(f"{program}: --threads expects a positive int, got {n}")
    return [n]


def default_threads(torch):
    """(minidl's, PyTorch's) thread count as each library sets it when nobody asks (PyTorch's None without it)."""
    return minidl.get_num_threads(), torch.get_num_threads() if torch is not None else None


def set_cpu_threads(mode, defaults, torch):
    """Each library at its own default (mode None) or both at ``mode`` threads; returns a label."""
    ours, theirs = defaults if mode is None else (mode, mode)
    minidl.set_num_threads(ours)
    if torch is not None:
        torch.set_num_threads(theirs)
    label = "default threads" if mode is None else f"{mode} thread(s)"
    return f"{label}: minidl {ours}" + (f", PyTorch {theirs}" if torch is not None else "")
