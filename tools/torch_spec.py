"""Which PyTorch build `make install` asks pip for: the CPU-only one wherever possible.

    python3 tools/torch_spec.py 2.13.0    # prints pip's arguments, e.g.
    torch==2.13.0+cpu --extra-index-url https://download.pytorch.org/whl/cpu

On Linux and Windows, torch from the default index (PyPI) is the CUDA build, which pulls
several GB of NVIDIA libraries. PyTorch's CPU index has the same version as ``+cpu``: when
that index answers and lists the version, ask for it there (PyPI stays the index for
everything else). When it does not answer (a machine that reaches only PyPI or a mirror of
it), ask for the plain version: it still installs. On macOS the default build has no CUDA.

TBPTT_KIT_TORCH_CPU_INDEX names another CPU index (a mirror; the tests use a local one).
"""

from __future__ import annotations

import os
import platform
import sys
import urllib.request

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def cpu_index_lists(version: str, index: str, timeout: float = 10.0) -> bool:
    """Does ``index`` (a PEP 503 simple index) answer and list torch ``version``+cpu?"""
    try:
        with urllib.request.urlopen(f"{index.rstrip('/')}/torch/", timeout=timeout) as page:
            listing = page.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return False
    return f"torch-{version}+cpu-" in listing or f"torch-{version}%2Bcpu-" in listing


def torch_spec(version: str, system: str | None = None, index: str | None = None) -> list[str]:
    """pip's arguments for torch ``version``: the CPU-only build when it can be had."""
    system = system or platform.system()
    index = index or os.environ.get("TBPTT_KIT_TORCH_CPU_INDEX") or CPU_INDEX
    if system in ("Linux", "Windows") and cpu_index_lists(version, index):
        return [f"torch=={version}+cpu", "--extra-index-url", index]
    return [f"torch=={version}"]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: torch_spec.py VERSION   (e.g. 2.13.0)")
    print(" ".join(torch_spec(sys.argv[1])))
