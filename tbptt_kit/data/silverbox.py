"""The Silverbox benchmark: an electronic Duffing oscillator, u (input) and y (output) in volts.

One record of N_SAMPLES samples at FS Hz (Wigren & Schoukens, ECC 2013). Two sources:

- "simulated" (the offline default): the normalised Duffing ODE fitted to the real record,
      y'' = G·u - W2·y - K3·y³ - C·y',
  driven by an excitation with the same layout and statistics as the measurement.
- "official": the measured record SNLS80mV, downloaded once and checked against its SHA-256
  (see official.py).

Both are cached as HDF5 records (datasets u0, y0 and the attribute fs) in cache_dir(), each
with its checksum and the parameters it was made from (see cache.py).
silverbox_split cuts a record into the standard train / valid / test parts.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..tooling.smoke import smoke_samples
from ..validation import check_paths, check_seed
from .cache import cache_dir, read_cached, signals_sha256, write_cached
from .hdf5 import remove_stale_temporaries
from .loaders import DataLoaders, create_dls
from .official import (
    OFFICIAL_SHA256,
    OFFICIAL_SIGNALS_SHA256,
    PLACED_FILES,
    check_sha256,
    download_record,
    parse_record,
    read_file,
    read_placed,
    record_in_zip,
)

__all__ = [
    "C",
    "FS",
    "G",
    "K3",
    "N_INIT",
    "N_SAMPLES",
    "OFFICIAL_URLS",
    "OFFICIAL_VERSION",
    "OUTPUT_NOISE",
    "SIM_VERSION",
    "SOURCES",
    "SPLIT",
    "SUBSTEPS",
    "TEST_NAMES",
    "W2",
    "create_dls_silverbox",
    "load_silverbox",
    "silverbox_on_disk",
    "silverbox_split",
    "simulate_silverbox",
]

FS = 1e7 / 2**14  # sampling frequency in Hz (about 610.35 Hz)
N_SAMPLES = 131072  # samples in one record

# The standard split, as used by the benchmark's own loader and by tsfast/identibench.
SPLIT = {
    "train": slice(40650, 90650),
    "valid": slice(90650, 105712),
    "multisine": slice(105712, 127400),
    "arrow_full": slice(100, 40575),
    "arrow_no_extrap": slice(100, 32100),
}
TEST_NAMES = ("multisine", "arrow_full", "arrow_no_extrap")
N_INIT = 50  # measured outputs a model may use to initialise its state on each test part

# Normalised ODE, fitted to the real train part by simulation error.
W2 = 1.843e5  # linear stiffness, s^-2 (resonance sqrt(W2) / 2π = 68.3 Hz)
C = 41.76  # damping, s^-1
K3 = 7.33e5  # cubic stiffness, V^-2 s^-2
G = 1.935e5  # input gain, s^-2 (DC gain G / W2 = 1.05)
SUBSTEPS = 4  # RK4 steps per sample
OUTPUT_NOISE = 0.3e-3  # V rms, the measurement's noise floor

# Bump a version when what is written to the cache changes; old files are then simply unused.
# 2: cache files carry their checksum and parameters.
SIM_VERSION = 2
OFFICIAL_VERSION = 2

OFFICIAL_URLS = (
    "https://www.nonlinearbenchmark.org/FILES/BENCHMARKS/SILVERBOX/SilverboxFiles.zip",
    "https://drive.usercontent.google.com/download"
    "?id=17iS-6oBUUgrmiAcrZoG9S5sOaljZnDSy&export=download&confirm=t",
)
SOURCES = ("simulated", "official")


# ---------------------------------------------------------------------------------------------
# The simulated record
# ---------------------------------------------------------------------------------------------


def simulate_silverbox(seed: int = 0, realism: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Simulate a whole Silverbox record: u, y in volts, float64, shape (N_SAMPLES,).

    The same seed always gives the same record. ``realism`` adds the signal generator's
    roll-off to the multisine lines. Takes under a second.
    """
    check_seed(seed)
    if not isinstance(realism, (bool, np.bool_)):
        raise TypeError(f"realism must be True or False, got {type(realism).__name__} {realism!r}")
    rng = np.random.default_rng(seed)
    u = np.concatenate([_arrow(rng), *(_multisine_block(rng, realism) for _ in range(10))])
    u = np.concatenate([u, np.zeros(N_SAMPLES - len(u))])
    y = _simulate_output(u) + OUTPUT_NOISE * rng.standard_normal(N_SAMPLES)
    return u, y


def _arrow(rng: np.random.Generator) -> np.ndarray:
    """86 zeros, then 40,400 samples of noise low-passed at 200 Hz with a rising amplitude."""
    n = 40400
    noise = rng.standard_normal(n)
    f = np.fft.rfftfreq(n, d=1 / FS)  # Hz
    lowpass = 1 / np.sqrt(1 + (f / 200) ** 18)
    shaped = np.fft.irfft(np.fft.rfft(noise) * lowpass, n=n)
    shaped /= shaped.std()  # back to unit variance
    return np.concatenate([np.zeros(86), shaped * 0.0386 * np.linspace(0, 1, n)])


def _multisine_block(rng: np.random.Generator, realism: bool) -> np.ndarray:
    """100 zeros, the last 400 samples of a period (a lead-in), then one 8192-sample period.

    The period is an odd random-phase multisine: lines 1, 3, ..., 2681 of an 8192-point grid
    (up to about 200 Hz), scaled to 22.3 mV rms.
    """
    n = 8192
    lines = np.arange(1, 2682, 2)
    amplitude = np.ones(len(lines))
    if realism:
        f = lines * FS / n  # Hz
        amplitude = np.sinc(f / FS) ** 1.3 / np.sqrt(1 + (f / 203.6) ** 25)
    spectrum = np.zeros(n // 2 + 1, dtype=complex)
    spectrum[lines] = amplitude * np.exp(2j * np.pi * rng.uniform(size=len(lines)))
    period = np.fft.irfft(spectrum, n=n)
    period *= 22.3e-3 / np.sqrt(np.mean(period**2))
    return np.concatenate([np.zeros(100), period[-400:], period])


def _simulate_output(u: np.ndarray) -> np.ndarray:
    """Integrate the Duffing ODE from rest: classic RK4, SUBSTEPS steps per sample, the input
    linearly interpolated between samples. u, y in volts, shape (n,).

    A plain loop on Python floats (numpy scalars would make it about three times slower);
    under a second for a whole record.
    """

    def accel(y: float, v: float, u: float) -> float:
        return G * u - W2 * y - K3 * y * y * y - C * v

    h = 1 / (SUBSTEPS * FS)  # step in seconds
    u_list = u.tolist() + [float(u[-1])]
    y = v = 0.0  # position (V) and velocity (V/s)
    out = []
    for n in range(len(u)):
        out.append(y)
        u_step = (u_list[n + 1] - u_list[n]) / SUBSTEPS  # input change over one step
        for j in range(SUBSTEPS):
            u_start = u_list[n] + j * u_step
            u_mid, u_end = u_start + u_step / 2, u_start + u_step
            k1y, k1v = v, accel(y, v, u_start)
            k2y, k2v = v + h / 2 * k1v, accel(y + h / 2 * k1y, v + h / 2 * k1v, u_mid)
            k3y, k3v = v + h / 2 * k2v, accel(y + h / 2 * k2y, v + h / 2 * k2v, u_mid)
            k4y, k4v = v + h * k3v, accel(y + h * k3y, v + h * k3v, u_end)
            y += h / 6 * (k1y + 2 * k2y + 2 * k3y + k4y)
            v += h / 6 * (k1v + 2 * k2v + 2 * k3v + k4v)
    return np.array(out)


# ---------------------------------------------------------------------------------------------
# Loading (simulated or official) with an HDF5 cache
# ---------------------------------------------------------------------------------------------


def load_silverbox(
    source: str = "simulated",
    seed: int = 0,
    path: str | Path | None = None,
    url: str | None = None,
    cache: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The whole Silverbox record: u, y in volts, float64, shape (N_SAMPLES,), DC offsets kept.

    source="simulated": simulate_silverbox(seed), generated once and cached.
    source="official": the measured record, from ``path`` if given (SilverboxFiles.zip,
    SNLS80mV.csv or SNLS80mV.mat), else from the cache, else from one of PLACED_FILES put in
    the cache folder by hand, else downloaded (``url`` first, then OFFICIAL_URLS). The cache
    only ever holds a record whose SHA-256 matched.
    ``cache`` is the cache folder; None means cache_dir(). A cache file that does not match
    what was asked for is rebuilt, with a warning; where the folder cannot be written, the
    record is returned uncached, with a warning.
    """
    _check_load_arguments(source, seed, path, url, cache)
    folder = Path(cache) if cache is not None else cache_dir()
    remove_stale_temporaries(folder)
    if source == "simulated":
        return _load_simulated(int(seed), folder)
    file = folder / f"silverbox_official_v{OFFICIAL_VERSION}.h5"
    if path is not None:
        return _load_official_file(Path(path), file)
    record = _read_cache(file, {"source": "official", "version": OFFICIAL_VERSION})
    if record is None and (placed := read_placed(folder)) is not None:  # a lecturer's copy
        record = _verify_and_cache(*placed, file)
    if record is None:
        name, data, address = download_record([*([url] if url else []), *OFFICIAL_URLS])
        record = _verify_and_cache(name, data, address, file)
    return record


def _check_load_arguments(source, seed, path, url, cache) -> None:
    """Raise a ValueError or TypeError, naming the argument, for what ``load_silverbox`` cannot use."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    check_seed(seed)
    check_paths(path=path, cache=cache)
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise ValueError(f"url must be an http:// or https:// address, got {url!r}")
    if source == "simulated" and (path is not None or url is not None):
        raise ValueError("path and url apply only to source='official'")


def _load_simulated(seed: int, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The simulated record of ``seed``: from the cache, else simulated and cached."""
    file = folder / f"silverbox_sim_seed{seed}_v{SIM_VERSION}.h5"
    params = {"source": "simulated", "seed": seed, "version": SIM_VERSION}
    record = _read_cache(file, params)
    if record is None:
        record = simulate_silverbox(seed)
        write_cached(file, {"u0": record[0], "y0": record[1]}, FS, params)
    return record


def silverbox_on_disk(cache: str | Path | None = None) -> str:
    """ "official" when the measured record is in the data folder (``cache`` or cache_dir()),
    cached or as one of PLACED_FILES, else "simulated". Never reads or downloads a record."""
    folder = Path(cache) if cache is not None else cache_dir()
    names = [f"silverbox_official_v{OFFICIAL_VERSION}.h5", *PLACED_FILES]
    return "official" if any((folder / n).is_file() for n in names) else "simulated"


def _read_cache(file: Path, params: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """u, y from the cache file made from ``params``, or None when there is none or it cannot
    be trusted (then with a warning: the caller rebuilds it). An official record must also
    name a file whose SHA-256 is the official one."""
    try:
        cached = read_cached(file, ["u0", "y0"], FS, params)
        if cached is None:
            return None
        signals, attrs = cached
        if params["source"] == "official":
            expected = OFFICIAL_SHA256.get(attrs.get("file"))
            if expected is None or attrs.get("file_sha256") != expected:
                raise ValueError(f"{file} was not made from an official record file")
            if not is_official(signals):  # by the content checksums shipped in the kit
                raise ValueError(f"the samples in {file} are not the official record's")
    except ValueError as err:
        warnings.warn(f"rebuilding a damaged or mismatched cache file: {err}", stacklevel=3)
        return None
    return signals["u0"].astype(np.float64), signals["y0"].astype(np.float64)


def _load_official_file(path: Path, cache_file: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the record from a file the user has: a zip is checked and cached; a loose .csv or
    .mat is used as given (not checked, not cached)."""
    if not path.is_file():
        raise FileNotFoundError(f"path: no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".zip":
        name, data = record_in_zip(path, str(path))
        return _verify_and_cache(name, data, str(path), cache_file)
    if suffix in (".csv", ".mat"):
        return parse_record(str(path), read_file(path), N_SAMPLES)
    raise ValueError(f"path must be SilverboxFiles.zip, SNLS80mV.csv or SNLS80mV.mat, got {path}")


def _verify_and_cache(
    name: str, data: bytes, origin: str, cache_file: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Check the record's SHA-256, then parse it and write it to the cache."""
    sha256 = check_sha256(name, data, origin)
    u, y = parse_record(name, data, N_SAMPLES)
    params = {"source": "official", "version": OFFICIAL_VERSION, "file": name}
    if is_official({"u0": u, "y0": y}):  # only what a later read can verify is cached
        write_cached(cache_file, {"u0": u, "y0": y}, FS, {**params, "file_sha256": sha256})
    return u, y


def is_official(signals: dict) -> bool:
    """Whether u0, y0 are the official record's samples, by the checksums shipped in the kit."""
    return signals_sha256(signals) in OFFICIAL_SIGNALS_SHA256.values()


# ---------------------------------------------------------------------------------------------
# The standard split
# ---------------------------------------------------------------------------------------------


def silverbox_split(u: np.ndarray, y: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The five standard parts of a whole record: name -> (u, y), each of shape (len,)."""
    if len(u) != N_SAMPLES or len(y) != N_SAMPLES:
        raise ValueError(
            f"u and y must hold the whole record ({N_SAMPLES} samples), got {len(u)} and {len(y)}"
        )
    return {name: (u[part], y[part]) for name, part in SPLIT.items()}


# ---------------------------------------------------------------------------------------------
# DataLoaders
# ---------------------------------------------------------------------------------------------


def create_dls_silverbox(
    bs: int = 16,
    win_sz: int = 500,
    stp_sz: int = 10,
    sub_seq_len: int | None = None,
    source: str = "simulated",
    seed: int = 0,
    path: str | Path | None = None,
    **kwargs,
) -> DataLoaders:
    """Loaders for the Silverbox with the standard split (signals in volts).

    Train windows of ``win_sz`` samples every ``stp_sz`` samples, shuffled each epoch;
    validation windows back to back, in order; the three test records whole
    (``dls.test``: multisine, arrow_full, arrow_no_extrap). ``sub_seq_len`` hands each
    batch of windows out as sub-windows for truncated BPTT. ``source``: "simulated"
    (offline, the default) or "official" (see ``load_silverbox``). Other keyword
    arguments go to ``create_dls``. In smoke mode (TBPTT_KIT_SMOKE=1) train and valid
    are cut to a few thousand samples.
    """
    parts = silverbox_split(*load_silverbox(source, seed=seed, path=path))
    keep = {name: smoke_samples(len(parts[name][0])) for name in ("train", "valid")}
    dls = create_dls(
        train=[tuple(x[: keep["train"]] for x in parts["train"])],
        valid=[tuple(x[: keep["valid"]] for x in parts["valid"])],
        test={name: parts[name] for name in TEST_NAMES},
        bs=bs,
        win_sz=win_sz,
        stp_sz=stp_sz,
        sub_seq_len=sub_seq_len,
        seed=seed,
        **kwargs,
    )
    dls.fs, dls.signal_unit, dls.units = FS, "V", ("mV", 1e3)  # volts, scored in millivolts
    return dls
