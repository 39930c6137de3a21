"""The official Silverbox files: download, unzip, check and parse them, refusing bad input early.

SilverboxFiles.zip holds the measured record twice: SNLS80mV.csv and SNLS80mV.mat, each with
a known SHA-256. Every input is size-checked before it is read (a file's size on disk, a zip
member's declared size, a MAT file's size once decompressed), and read with a cap, so a
wrong or hostile file is refused without filling the memory.
"""

from __future__ import annotations

import hashlib
import io
import struct
import tempfile
import urllib.request
import zipfile
import zlib
from http.client import HTTPException
from pathlib import Path
from typing import BinaryIO

import numpy as np
import scipy.io

__all__ = [
    "MAX_DOWNLOAD_BYTES",
    "MAX_RECORD_BYTES",
    "OFFICIAL_SHA256",
    "PLACED_FILES",
    "check_sha256",
    "check_size",
    "download_record",
    "mat_inflated_size",
    "parse_record",
    "read_at_most",
    "read_file",
    "read_placed",
    "record_in_zip",
]

# SHA-256 of the measured record inside SilverboxFiles.zip, preferred name first.
OFFICIAL_SHA256 = {
    "SNLS80mV.csv": "ae62d5a91230c10f76e6dd02c8a4fac3c9d4d8a95fbf50e87cb0c4885003e0f1",
    "SNLS80mV.mat": "5c7413a52255af0cb4e2f93fb6903beb92b08965ba1e6ad0a6ffedfed8477ed4",
}
# SHA-256 of the record's samples as the kit parses and caches them (``cache.signals_sha256``
# of u0, y0 in float64): a cache file is trusted by this content, shipped here, never by the
# checksums stored in the file itself, which whoever writes the file can forge.
OFFICIAL_SIGNALS_SHA256 = {
    "SNLS80mV.csv": "50d3d9782dd0fb8cd4c57cadbcbe66f245c9517f69fcbd5efeb9d7ec5049f89c",
}
# Largest CSV or MAT file (or zip member) taken for a record: several times the size of either
# official file, so anything larger is refused unread. Downloads are capped the same way.
MAX_RECORD_BYTES = 16 * 2**20
MAX_DOWNLOAD_BYTES = 64 * 2**20


def download_record(addresses: list[str]) -> tuple[str, bytes, str]:
    """(name, bytes, address) of the record in SilverboxFiles.zip from the first address that
    serves a zip holding it. Raises ConnectionError listing why each address failed.

    The zip goes to an anonymous temporary file, which the system removes even if the
    process is killed.
    """
    failures = []
    for address in addresses:
        try:
            with tempfile.TemporaryFile() as zip_file:
                request = urllib.request.Request(address, headers={"User-Agent": "tbptt-kit"})
                with urllib.request.urlopen(request, timeout=60) as response:
                    while chunk := response.read(1 << 20):
                        zip_file.write(chunk)
                        if zip_file.tell() > MAX_DOWNLOAD_BYTES:
                            raise ValueError(f"more than {MAX_DOWNLOAD_BYTES:,} bytes")
                return (*record_in_zip(zip_file, address), address)
        except (OSError, HTTPException, ValueError) as err:
            # Unreachable, refused, too big, or not the zip (e.g. an HTML page): try the next.
            failures.append(f"  {address}: {err}")
    raise ConnectionError(
        "could not download the official Silverbox record:\n"
        + "\n".join(failures)
        + "\nDownload SilverboxFiles.zip yourself and call load_silverbox('official', path=...)."
    )


def record_in_zip(zip_file: str | Path | BinaryIO, shown_as: str) -> tuple[str, bytes]:
    """(name, bytes) of SNLS80mV.csv, or else SNLS80mV.mat, found anywhere inside the zip
    ``zip_file`` (a path or an open binary file); ``shown_as`` names it in errors."""
    try:
        with zipfile.ZipFile(zip_file) as archive:
            members = archive.infolist()
            for wanted in OFFICIAL_SHA256:
                for member in members:
                    if Path(member.filename).name == wanted:
                        what = f"{member.filename} in {shown_as}"
                        check_size(member.file_size, what)
                        with archive.open(member) as stream:
                            return wanted, read_at_most(stream, what)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
        raise ValueError(f"{shown_as} is not a readable zip file ({err})") from err
    names = [member.filename for member in members]
    raise ValueError(f"{shown_as} holds no {' or '.join(OFFICIAL_SHA256)}; it holds {names}")


# Files a lecturer may put in the data folder ($TBPTT_KIT_DATA) for a class without internet.
PLACED_FILES = ("SilverboxFiles.zip", "SNLS80mV.csv", "SNLS80mV.mat")


def read_placed(folder: Path) -> tuple[str, bytes, str] | None:
    """(name, bytes, path) of the first of PLACED_FILES found in ``folder``, unchecked; None."""
    for placed in (folder / name for name in PLACED_FILES):
        if placed.is_file():
            if placed.suffix == ".zip":
                return (*record_in_zip(placed, str(placed)), str(placed))
            return placed.name, read_file(placed), str(placed)
    return None


def read_file(path: Path) -> bytes:
    """The bytes of the file ``path``, refused unread when it is too large to be a record."""
    check_size(path.stat().st_size, str(path))
    with open(path, "rb") as f:
        return read_at_most(f, str(path))


def check_size(n_bytes: int, what: str) -> None:
    """Refuse (ValueError) an input of ``n_bytes`` bytes, too large to be a record."""
    if n_bytes > MAX_RECORD_BYTES:
        raise ValueError(
            f"{what} is {n_bytes:,} bytes or more; a Silverbox record file is never more than "
            f"{MAX_RECORD_BYTES:,} bytes (MAX_RECORD_BYTES), so this is not one"
        )


def read_at_most(stream: BinaryIO, what: str) -> bytes:
    """All bytes of ``stream``, refused once more than MAX_RECORD_BYTES arrive."""
    data = stream.read(MAX_RECORD_BYTES + 1)
    check_size(len(data), what)
    return data


def check_sha256(name: str, data: bytes, origin: str) -> str:
    """The SHA-256 (hex) of ``data``; ValueError unless it is the official one for ``name``."""
    expected, actual = OFFICIAL_SHA256[name], hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ValueError(
            f"{name} from {origin} is not the official record: "
            f"SHA-256 expected {expected}, got {actual}"
        )
    return actual


def parse_record(name: str, data: bytes, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """u (V1), y (V2) in volts, float64, shape (n_samples,), from the bytes of SNLS80mV.csv
    (header "V1","V2", then "u,y," lines) or SNLS80mV.mat (MATLAB v5, V1 and V2 of shape
    (1, n_samples)). ValueError naming ``name`` for anything else."""
    try:
        if name.lower().endswith(".csv"):
            if data.count(b"\n") > n_samples + 16:  # checked before parsing: cheap, no copy
                raise ValueError(f"more than {n_samples} lines")
            text = io.StringIO(data.decode("ascii"))
            table = np.loadtxt(text, delimiter=",", skiprows=1, usecols=(0, 1), ndmin=2)
            u, y = table[:, 0], table[:, 1]
        else:
            check_size(mat_inflated_size(data), f"{name} once decompressed")
            variables = scipy.io.loadmat(io.BytesIO(data), variable_names=["V1", "V2"])
            u, y = variables["V1"].ravel(), variables["V2"].ravel()
    except (ValueError, KeyError, UnicodeDecodeError, zlib.error, struct.error) as err:
        raise ValueError(f"{name} is not a Silverbox record ({err})") from err
    except scipy.io.matlab.MatReadError as err:
        raise ValueError(f"{name} is not a Silverbox record ({err})") from err
    if len(u) != n_samples or len(y) != n_samples:
        raise ValueError(f"{name} holds {len(u)} and {len(y)} samples, expected {n_samples}")
    if not (np.isfinite(u).all() and np.isfinite(y).all()):
        raise ValueError(f"{name} holds NaN or Inf values")
    return u.astype(np.float64), y.astype(np.float64)


def mat_inflated_size(data: bytes) -> int:
    """Size in bytes of the MATLAB v5 file ``data`` with its compressed variables inflated,
    counted only up to just over MAX_RECORD_BYTES: a small file must not inflate to gigabytes.

    A v5 file is a 128-byte header, then elements: a type and a size (two 4-byte ints in the
    header's byte order), then the body. Type 15 is a zlib-compressed variable.
    """
    order = "<" if data[126:128] == b"IM" else ">"
    total = pos = 128
    while pos + 8 <= len(data) and total <= MAX_RECORD_BYTES:
        kind, size = struct.unpack(order + "II", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + size]
        if kind == 15:
            body = zlib.decompressobj().decompress(body, MAX_RECORD_BYTES + 1)
        total += 8 + len(body)
        pos += 8 + size
    return total
