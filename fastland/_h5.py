"""The one place fastland creates, opens, locks and repairs HDF5 files.

Every file fastland writes (run files, training files, experiment results) is
made by :func:`create_file` and read back through :func:`open_file`, so the
rules below hold for all of them:

- **Nothing is replaced unless asked.** A new file is created with
  ``O_EXCL``; an existing one raises ``FileExistsError`` naming the path,
  unless the caller passed ``overwrite=True`` (then it is removed first, and
  never while another process is writing it).
- **Old tools can read it.** Files are written with the HDF5 1.10 object
  formats (``libver=("v110", "v110")``): the oldest that still allows SWMR,
  and what Debian's ``h5dump``/``h5ls`` 1.10 understand. (HDF5 2.0's default
  "latest" writes attribute messages those tools reject with "error getting
  attribute information".)
- **Every file says what it is**: root attributes ``format`` (e.g.
  ``"fastland.run"``), ``format_version`` and ``fastland_version``.
- **A damaged file raises.** :func:`open_file` compares the file's size with
  the end-of-file address stored in its superblock (a truncated file is
  refused: HDF5 itself skips that check for SWMR readers and would return
  fill values), and :func:`check_chunks` checks that every chunk holding
  committed rows of a dataset exists and lies inside the file.
- **One writer per file.** Writers hold an advisory lock
  (:func:`lock_writer`); after a writer died, :func:`clear_status_flags`
  clears the "open for write" marks HDF5 left in the superblock, as
  ``h5clear -s`` does. A writer this process forgot to close is released
  when it is garbage collected (:class:`WriterHandle`).
- **One handle per file per process.** HDF5 cannot serve two SWMR read
  handles of one file in one process (reads fail with "can't insert
  duplicate key"), so :func:`open_file` shares one :class:`h5py.File` per
  file among its readers and closes it with the last one.

Small helpers for the layout every fastland file uses (dimension scales,
compact datasets, the stored landscape) live here too.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import sys
import threading
import weakref

import h5py
import numpy as np

__all__: list[str] = []  # private module

LIBVER = ("v110", "v110")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_M32 = 0xFFFFFFFF
_LOCK_OFFSET = 1 << 62  # one byte far past any data: never overlaps HDF5's own locking

# files this process writes (key -> path) and shared read handles (key -> [file, count])
_WRITERS: dict[tuple[int, int], str] = {}
_READERS: dict[tuple[int, int], list] = {}
_REGISTRY_LOCK = threading.Lock()


# ------------------------------------------------------------------------------- paths
class OutputExistsError(FileExistsError, ValueError):
    """A file fastland was asked to create exists already (and ``overwrite`` was not given).

    A FileExistsError, and a ValueError because it is a refused argument.
    """


def as_path(path, argname: str = "path") -> str:
    """Return ``path`` as a str, or raise a ValueError naming ``argname``."""
    try:
        return os.fsdecode(os.fspath(path))
    except TypeError:
        raise ValueError(f"{argname}: expected a file name, got {type(path).__name__}") from None


def _key(path_or_fd) -> tuple[int, int]:
    st = os.fstat(path_or_fd) if isinstance(path_or_fd, int) else os.stat(path_or_fd)
    return st.st_dev, st.st_ino


def check_new_path(path, *, overwrite: bool = False, argname: str = "path") -> str:
    """Check that ``path`` may be created: its folder exists and is writable, and it is new.

    Parameters
    ----------
    path : str or path-like
    overwrite : bool, default False
        Allow an existing regular file (the caller replaces it).
    argname : str
        Argument name used in error messages.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ValueError
        If the folder is missing or not writable, or ``path`` is a directory.
    """
    path = as_path(path, argname)
    if not isinstance(overwrite, bool):
        raise ValueError(f"overwrite: expected True or False, got {overwrite!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{argname}: the folder {folder!r} of {path!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{argname}: the folder {folder!r} is not writable; cannot create {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"{argname}: {path!r} is a directory, expected a file name")
    if os.path.lexists(path) and not overwrite:
        raise OutputExistsError(
            f"{argname}: {path!r} already exists; fastland never replaces a file unless asked "
            f"(pass overwrite=True, or --overwrite on the command line), or choose a new name"
        )
    return path


def existing_path(path, argname: str = "path", what: str = "file") -> str:
    """Return ``path`` if it names an existing regular file; clear errors otherwise."""
    path = as_path(path, argname)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{argname}: no {what} at {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"{argname}: {path!r} is a directory, expected a {what}")
    return path


# ------------------------------------------------------------------- superblock, recovery
def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


def lookup3(data: bytes) -> int:
    """Bob Jenkins' lookup3 hash (hashlittle, initval 0): HDF5's metadata checksum."""
    n = len(data)
    a = b = c = (0xDEADBEEF + n) & _M32
    i = 0
    while n > 12:
        a = (a + int.from_bytes(data[i : i + 4], "little")) & _M32
        b = (b + int.from_bytes(data[i + 4 : i + 8], "little")) & _M32
        c = (c + int.from_bytes(data[i + 8 : i + 12], "little")) & _M32
        a = (a - c) & _M32
        a ^= _rot(c, 4)
        c = (c + b) & _M32
        b = (b - a) & _M32
        b ^= _rot(a, 6)
        a = (a + c) & _M32
        c = (c - b) & _M32
        c ^= _rot(b, 8)
        b = (b + a) & _M32
        a = (a - c) & _M32
        a ^= _rot(c, 16)
        c = (c + b) & _M32
        b = (b - a) & _M32
        b ^= _rot(a, 19)
        a = (a + c) & _M32
        c = (c - b) & _M32
        c ^= _rot(b, 4)
        b = (b + a) & _M32
        n -= 12
        i += 12
    if n == 0:
        return c
    tail = data[i : i + n] + bytes(12 - n)
    a = (a + int.from_bytes(tail[0:4], "little")) & _M32
    b = (b + int.from_bytes(tail[4:8], "little")) & _M32
    c = (c + int.from_bytes(tail[8:12], "little")) & _M32
    c ^= b
    c = (c - _rot(b, 14)) & _M32
    a ^= c
    a = (a - _rot(c, 11)) & _M32
    b ^= a
    b = (b - _rot(a, 25)) & _M32
    c ^= b
    c = (c - _rot(b, 16)) & _M32
    a ^= c
    a = (a - _rot(c, 4)) & _M32
    b ^= a
    b = (b - _rot(a, 14)) & _M32
    c ^= b
    c = (c - _rot(b, 24)) & _M32
    return c


def _read_superblock(fh, path: str, argname: str) -> bytearray:
    """The 48-byte version 2/3 superblock (8-byte addresses) at the start of the file."""
    sb = bytearray(fh.read(48))
    if len(sb) < 8 or sb[:8] != _HDF5_SIGNATURE:
        raise ValueError(f"{argname}: {path!r} is not an HDF5 file (no HDF5 signature at its start)")
    if len(sb) < 48 or sb[8] not in (2, 3) or sb[9:11] != b"\x08\x08":
        raise ValueError(
            f"{argname}: {path!r} has an HDF5 superblock this reader does not know (version {sb[8]}); "
            f"it was not written by fastland"
        )
    if lookup3(bytes(sb[:44])) != int.from_bytes(sb[44:48], "little"):
        raise ValueError(f"{argname}: the superblock of {path!r} is damaged (checksum mismatch)")
    return sb


def superblock_info(path: str, argname: str = "path") -> dict | None:
    """Return the superblock's ``version``, ``open_for_write`` flag and stored ``eof`` address.

    None for superblock versions 0 and 1 (files not written by fastland;
    HDF5 checks their size itself when it opens them).
    """
    with open(path, "rb") as fh:
        head = fh.read(9)
        if len(head) < 8 or head[:8] != _HDF5_SIGNATURE:
            raise ValueError(f"{argname}: {path!r} is not an HDF5 file (no HDF5 signature at its start)")
        if len(head) == 9 and head[8] in (0, 1):
            return None
        fh.seek(0)
        sb = _read_superblock(fh, path, argname)
    return {"version": sb[8], "open_for_write": sb[11] != 0, "eof": int.from_bytes(sb[28:36], "little")}


def check_size(path: str, argname: str = "path") -> None:
    """Raise if the file is shorter than the end-of-file address its superblock stores (truncated).

    A live SWMR writer can briefly have allocated space it has not written
    yet, so a short file whose writer lock is held is re-checked a few times
    before it is called damaged.
    """
    import time

    for attempt in range(20):
        info = superblock_info(path, argname)
        if info is None:
            return
        size = os.path.getsize(path)
        if size >= info["eof"]:
            return
        if not (info["open_for_write"] and writer_alive(path)):
            break
        time.sleep(0.05 * (attempt + 1))
    raise ValueError(
        f"{argname}: {path!r} is damaged: it has {size} bytes but its HDF5 superblock says {info['eof']} "
        f"(the file was truncated, e.g. by an incomplete copy or a full disk); its data cannot be trusted"
    )


def clear_status_flags(path: str, argname: str = "path") -> bool:
    """Clear the "open for write" flags a dead writer left in the superblock (``h5clear -s``).

    Also raises the stored end-of-file address to the file's size, so space the
    dead writer used after its last flush is never handed out twice. Only call
    this while holding the writer lock. Returns whether anything was changed.
    """
    with open(path, "r+b") as fh:
        sb = _read_superblock(fh, path, argname)
        if sb[11] == 0:
            return False
        sb[11] = 0
        eof = int.from_bytes(sb[28:36], "little")
        size = os.fstat(fh.fileno()).st_size
        sb[28:36] = max(eof, size).to_bytes(8, "little")
        sb[44:48] = lookup3(bytes(sb[:44])).to_bytes(4, "little")
        fh.seek(0)
        fh.write(sb)
        fh.flush()
        os.fsync(fh.fileno())
    return True


# ------------------------------------------------------------------------------- locking
def _flock_struct(kind: int) -> bytes:
    # struct flock on 64-bit Linux: short type, short whence, off_t start, off_t len, pid_t pid
    return struct.pack("@hhqqi4x", kind, os.SEEK_SET, _LOCK_OFFSET, 1, 0)


def _ofd_locks() -> bool:
    import fcntl

    return getattr(fcntl, "F_OFD_SETLK", None) is not None and sys.platform.startswith("linux") and sys.maxsize > 2**32


def lock_writer(fd: int, path: str, argname: str = "path") -> bool:
    """Take the exclusive writer lock on ``fd``; False if the platform has no such locks.

    An open-file-description lock (Linux) belongs to this descriptor only and
    vanishes when the process dies, so a crashed writer never blocks a resume.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        return False
    try:
        if _ofd_locks():
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _flock_struct(fcntl.F_WRLCK))
        else:  # process-wide POSIX lock: weaker (any close of the file in this process drops it)
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _LOCK_OFFSET)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            if _key(fd) in _WRITERS:
                raise ValueError(
                    f"{argname}: {path} is still open for writing in this process (a Run that was not "
                    f"closed): call run.close() (or use `with fl.sample(...) as run:`), then retry"
                ) from None
            raise ValueError(
                f"{argname}: {path} is being written by another process (one writer per file); "
                f"read it with fastland.open_run"
            ) from None
        return False  # e.g. ENOLCK on a file system without locks
    return True


def writer_alive(path: str) -> bool:
    """Whether some process (this one included) holds the writer lock on ``path``."""
    try:
        key = _key(path)
    except OSError:
        return False
    if key in _WRITERS:
        return True
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return False
    if not _ofd_locks():  # pragma: no cover - no reliable query elsewhere
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        got = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, _flock_struct(fcntl.F_WRLCK))
    except OSError:
        return False
    finally:
        os.close(fd)
    return struct.unpack("@hhqqi4x", got)[0] != fcntl.F_UNLCK


# ------------------------------------------------------------------------------- writers
def _release(f: h5py.File, fd: int | None, key) -> None:
    """Close a writer's file and descriptor (drops the lock); safe to call twice."""
    try:
        if f.id.valid:
            f.close()
    finally:
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass
        with _REGISTRY_LOCK:
            _WRITERS.pop(key, None)


class WriterHandle:
    """An HDF5 file this process writes: the :class:`h5py.File`, its descriptor and lock.

    Closing it, or dropping the last reference to it, closes the file and
    releases the writer lock, so a forgotten handle never blocks a later
    writer in the same process.
    """

    def __init__(self, f: h5py.File, path: str, fd: int | None, locked: bool) -> None:
        self.file = f
        self.path = path
        self.locked = locked
        key = _key(fd) if fd is not None else _key(path)
        with _REGISTRY_LOCK:
            _WRITERS[key] = path
        self._finalizer = weakref.finalize(self, _release, f, fd, key)

    @property
    def closed(self) -> bool:
        """Whether the file has been closed."""
        return not self._finalizer.alive or not self.file.id.valid

    def close(self) -> None:
        """Flush and close the file and release the lock; idempotent."""
        self._finalizer()


def _stamp(f: h5py.File, kind: str, format_version: int) -> None:
    from . import __version__

    f.attrs["format"] = kind
    f.attrs["format_version"] = np.int64(format_version)
    f.attrs["fastland_version"] = __version__


def create_file(
    path,
    *,
    kind: str,
    format_version: int,
    overwrite: bool = False,
    lock: bool = False,
    argname: str = "path",
    rdcc_nbytes: int | None = None,
) -> WriterHandle:
    """Create a new fastland HDF5 file, never replacing one unless asked.

    Parameters
    ----------
    path : str or path-like
    kind : str
        Stored as the root attribute ``format``, e.g. ``"fastland.run"``.
    format_version : int
        Stored as ``format_version``; readers refuse newer versions.
    overwrite : bool, default False
        Replace an existing file (refused while another process writes it).
    lock : bool, default False
        Take the writer lock (files written over a long time, such as runs).
    argname : str
        Argument name used in error messages.
    rdcc_nbytes : int, optional
        Raw-data chunk cache size of the file (h5py's default when None).

    Returns
    -------
    WriterHandle
        Close it (or let it be collected) to release the file.
    """
    path = check_new_path(path, overwrite=overwrite, argname=argname)
    if overwrite and os.path.lexists(path):
        if writer_alive(path):
            raise ValueError(f"{argname}: {path!r} is being written (by this or another process); cannot overwrite")
        os.unlink(path)
    try:  # O_EXCL: fails if the file exists, so nothing existing is ever truncated
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise OutputExistsError(
            f"{argname}: {path!r} was created by someone else meanwhile; choose a new name"
        ) from None
    except OSError as exc:
        raise ValueError(f"{argname}: cannot create {path!r}: {exc.strerror}") from None
    f = None
    try:
        locked = lock_writer(fd, path, argname) if lock else False
        kw = {} if rdcc_nbytes is None else {"rdcc_nbytes": rdcc_nbytes}
        f = h5py.File(path, "w", libver=LIBVER, **kw)
        _stamp(f, kind, format_version)
        handle = WriterHandle(f, path, fd, locked)
    except BaseException:
        if f is not None:
            f.close()
        os.close(fd)
        os.unlink(path)
        raise
    return handle


def open_append(path, *, kind: str, max_version: int, argname: str = "path", rdcc_nbytes: int = 0) -> WriterHandle:
    """Reopen an existing fastland file as its only writer (repairing a dead writer's flags).

    Validates the file (HDF5 signature, size, ``format``) before writing a
    byte. Raises ValueError when another process writes or reads it.
    """
    path = existing_path(path, argname)
    check_size(path, argname)
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError as exc:
        raise ValueError(f"{argname}: cannot open {path!r} for appending: {exc.strerror}") from None
    f = None
    try:
        locked = lock_writer(fd, path, argname)
        info = superblock_info(path, argname)
        if info is not None and info["open_for_write"]:
            if not locked:
                raise ValueError(
                    f"{argname}: {path!r} is marked open for writing and this platform cannot tell whether "
                    f"its writer is still alive; if none is, run `h5clear -s {path}` and retry"
                )
            # validate read-only before the repair writes to the superblock
            _check_kind_readonly(path, kind, max_version, argname)
            clear_status_flags(path, argname)  # we hold the lock, so its last writer is dead
        f = _open_rw(path, argname, rdcc_nbytes)
        check_kind(f, path, kind, max_version, argname)
        handle = WriterHandle(f, path, fd, locked)
    except BaseException:
        if f is not None:
            f.close()
        os.close(fd)
        raise
    return handle


def _open_rw(path: str, argname: str, rdcc_nbytes: int) -> h5py.File:
    try:
        return h5py.File(path, "r+", libver=LIBVER, rdcc_nbytes=rdcc_nbytes)
    except OSError as exc:
        if "unable to lock file" in str(exc):
            raise ValueError(
                f"{argname}: {path!r} is open in another process (a reader such as fastland.open_run, h5py "
                f"or xarray holds HDF5's file lock); close it there, then resume"
            ) from None
        raise ValueError(f"{argname}: cannot open {path!r} for writing: {exc}") from None


def _check_kind_readonly(path: str, kind: str, max_version: int, argname: str) -> None:
    try:
        f = h5py.File(path, "r", swmr=True)
    except OSError as exc:
        raise ValueError(f"{argname}: cannot read {path!r}: {exc}") from None
    with f:
        check_kind(f, path, kind, max_version, argname)


def check_kind(f: h5py.File, path: str, kind: str, max_version: int, argname: str = "path") -> int:
    """Check the root ``format`` and ``format_version`` attributes; return the version."""
    found = f.attrs.get("format")
    if isinstance(found, bytes):
        found = found.decode()
    if found != kind:
        what = "no format attribute" if found is None else f"format={found!r}"
        name = kind.replace(".", " ")  # "fastland.run" -> "fastland run"
        raise ValueError(f"{argname}: {path!r} is not a {name} file ({what})")
    version = int(f.attrs.get("format_version", -1))
    if version > max_version:
        raise ValueError(
            f"{argname}: {path!r} has {kind} format {version}; this fastland reads up to {max_version}: "
            f"upgrade fastland"
        )
    return version


# ------------------------------------------------------------------------------- readers
class ReaderHandle:
    """A read-only view of a fastland file; the :class:`h5py.File` is shared per file in a process.

    Attributes
    ----------
    file : h5py.File
    path : str
    swmr : bool
        Whether the file was opened in SWMR mode (it may still grow).
    """

    def __init__(self, entry: list, key, path: str) -> None:
        self.file = entry[0]
        self.swmr = entry[2]
        self.path = path
        self._datasets = entry[3]
        self._finalizer = weakref.finalize(self, _drop_reader, key)

    def dataset(self, name: str) -> h5py.Dataset:
        """The one :class:`h5py.Dataset` object of ``name`` in this process.

        SWMR reads fail ("can't insert duplicate key") once two open objects of
        one dataset exist and either is refreshed, so readers share them.
        """
        with _REGISTRY_LOCK:
            ds = self._datasets.get(name)
            if ds is None or not ds.id.valid:
                ds = self._datasets[name] = self.file[name]
        return ds

    @property
    def closed(self) -> bool:
        """Whether this handle has been closed."""
        return not self._finalizer.alive

    def close(self) -> None:
        """Release this handle (the file closes with the last handle); idempotent."""
        self._finalizer()


def _drop_reader(key) -> None:
    with _REGISTRY_LOCK:
        entry = _READERS.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del _READERS[key]
            if entry[0].id.valid:
                entry[0].close()


def open_file(path, *, kind: str, max_version: int, argname: str = "path", what: str = "file") -> ReaderHandle:
    """Open a fastland file read-only, also while another process writes it (SWMR).

    The file is validated first: an HDF5 signature, a size no smaller than
    its superblock's end-of-file address (not truncated), and the expected
    ``format``. A file another tool opened without SWMR in this process
    (e.g. ArviZ through h5netcdf) is shared in that mode.

    Raises
    ------
    FileNotFoundError, ValueError
        Naming the path and what is wrong with it.
    """
    path = existing_path(path, argname, what)
    check_size(path, argname)
    key = _key(path)
    with _REGISTRY_LOCK:
        entry = _READERS.get(key)
        if entry is not None and not entry[0].id.valid:
            del _READERS[key]
            entry = None
        if entry is None:
            f, swmr = _open_readonly(path, argname, what)
            try:
                check_kind(f, path, kind, max_version, argname)
            except BaseException:
                f.close()
                raise
            entry = [f, 0, swmr, {}]
            _READERS[key] = entry
        entry[1] += 1
    return ReaderHandle(entry, key, path)


def _open_readonly(path: str, argname: str, what: str) -> tuple[h5py.File, bool]:
    try:
        return h5py.File(path, "r", swmr=True), True
    except OSError as exc:
        msg = str(exc)
    if "SWMR read access flag not the same" in msg:
        # this process has the file open without SWMR already (xarray, ArviZ): join that handle
        try:
            return h5py.File(path, "r"), False
        except OSError as exc:
            msg = str(exc)
    if "already open for write" in msg:
        raise ValueError(
            f"{argname}: cannot read {path!r} yet: a writer has it open but has not switched to SWMR "
            f"mode (or died before it did; resume the run to repair it)"
        )
    if "signature" in msg:
        raise ValueError(f"{argname}: {path!r} is not an HDF5 {what}")
    raise ValueError(f"{argname}: cannot read {path!r}: {msg}")


# ---------------------------------------------------------------------------- integrity
def check_chunks(ds: h5py.Dataset, rows: int, path: str, argname: str = "path") -> None:
    """Check that the chunks holding the first ``rows`` entries along axis 1 exist inside the file.

    Cheap (reads chunk addresses, not data): a run file whose chunks were cut
    off or never written reads as fill values, which must never be returned
    as draws. Datasets of shape (chain, draw, ...) chunked one chain per chunk.
    """
    if rows == 0 or ds.chunks is None:
        return
    size = os.path.getsize(path)
    need = int(np.prod([-(-n // c) for n, c in zip((ds.shape[0], rows, *ds.shape[2:]), ds.chunks, strict=True)]))
    # Count allocated chunks and check their byte ranges. Chunk coordinates are not used:
    # HDF5 2.0 reports them wrongly for datasets with an unlimited middle axis.
    seen = 0
    beyond = 0

    def visit(info):
        nonlocal seen, beyond
        seen += 1
        if info.byte_offset is None or info.byte_offset + info.size > size:
            beyond += 1

    ds.id.chunk_iter(visit)
    if beyond or seen < need:
        where = f"{beyond} chunks lie beyond the end of the file" if beyond else f"{need - seen} chunks are missing"
        raise ValueError(
            f"{argname}: {path!r} is damaged: {ds.name} claims {rows} rows but {where}; its data cannot be trusted"
        )


# ------------------------------------------------------------------------------- layout
def create_scale(group: h5py.Group, name: str, size: int | None, chunk: int | None = None) -> h5py.Dataset:
    """Make an int64 coordinate 0..size-1 a dimension scale; resizable if ``size`` is None."""
    if size is None:
        ds = group.create_dataset(name, shape=(0,), maxshape=(None,), chunks=(chunk,), dtype=np.int64)
    else:
        ds = group.create_dataset(name, data=np.arange(size, dtype=np.int64))
    ds.make_scale(name)
    return ds


def attach(ds: h5py.Dataset, *scales: h5py.Dataset) -> h5py.Dataset:
    """Attach one dimension scale per axis of ``ds``; returns ``ds``."""
    for axis, scale in enumerate(scales):
        ds.dims[axis].attach_scale(scale)
    return ds


def compact_dataset(group: h5py.Group, name: str, data) -> h5py.Dataset:
    """Store a small int64 dataset in its object header, so SWMR readers see updates on refresh."""
    data = np.asarray(data, dtype=np.int64)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    space = h5py.h5s.create(h5py.h5s.SCALAR) if data.ndim == 0 else h5py.h5s.create_simple(data.shape)
    dsid = h5py.h5d.create(group.id, name.encode(), h5py.h5t.STD_I64LE, space, dcpl=dcpl)
    ds = h5py.Dataset(dsid)
    ds[()] = data
    return ds


def write_landscape(group: h5py.Group, land) -> None:
    """Store a Landscape (model spec, X, y, weight decay, dtype) in ``group`` with named dimensions.

    ``land`` is a :class:`~fastland.Landscape` or a dict with the keys
    :func:`landscape_data` returns.
    """
    if not isinstance(land, dict):
        land = {
            "model": land.net.spec(),
            "X": land.data.X,
            "y": land.data.y,
            "weight_decay": land.weight_decay,
            "dtype": land.dtype.name,
        }
    X, y = np.asarray(land["X"]), np.asarray(land["y"])
    group.attrs["model"] = json.dumps(land["model"])
    group.attrs["weight_decay"] = float(land["weight_decay"])
    group.attrs["dtype"] = str(land["dtype"])
    point = create_scale(group, "point", X.shape[0])
    attach(group.create_dataset("X", data=X), point, create_scale(group, "feature", X.shape[1]))
    ys = [point]
    if y.ndim == 2:
        ys.append(create_scale(group, "target", y.shape[1]))
    attach(group.create_dataset("y", data=y), *ys)


def landscape_data(group: h5py.Group) -> dict:
    """Model spec, X, y, weight_decay and dtype stored by :func:`write_landscape`."""
    return {
        "model": json.loads(group.attrs["model"]),
        "X": group["X"][()],
        "y": group["y"][()],
        "weight_decay": float(group.attrs["weight_decay"]),
        "dtype": str(group.attrs["dtype"]),
    }


def read_landscape(group: h5py.Group):
    """Rebuild the :class:`~fastland.Landscape` stored by :func:`write_landscape`."""
    from .data import Dataset
    from .landscape import Landscape
    from .model import MLP

    d = landscape_data(group)
    return Landscape(
        MLP.from_spec(d["model"]), Dataset(d["X"], d["y"]), weight_decay=d["weight_decay"], dtype=d["dtype"]
    )
