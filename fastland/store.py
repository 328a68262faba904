"""Run files: MCMC draws streamed block by block to HDF5 (or kept in memory).

A *run* is what :func:`fastland.sample` produces: the draws of many parallel
chains, their losses and per-draw statistics, the sampler settings, the
landscape that was sampled, and the state needed to resume. Two storage
backends share one interface (as in emcee): :class:`HDF5Backend` streams to a
file, :class:`MemoryBackend` keeps everything in RAM. :class:`Run` is the
user-facing view of either; :func:`open_run` opens a run file read-only.

File layout
-----------
One HDF5 file per run, readable without fastland (h5py, xarray, ArviZ)::

    /                  attributes: format = "fastland.run", format_version,
                       fastland_version, settings (the sampler settings as JSON,
                       authoritative) and each string or numeric setting again
                       as a plain attribute for other tools
    /posterior         w (chain, draw, param), loss (chain, draw);
                       dimension scales chain, draw, param
    /sample_stats      one (chain, draw) dataset per statistic ("accepted", ...);
                       dimension scales chain, draw
    /landscape         X (point, feature), y (point[, target]); attributes
                       model (the MLP spec as JSON), weight_decay, dtype
    /state             n_draws: the committed draw counter (scalar int64);
                       one (slot, ...) dataset per resume-state array
                       (position, rng, step_size, ...), double-buffered in two
                       slots; slot_stamp (slot, stamp_field): per slot, the
                       n_draws and the sequence number of the state it holds

Each group holds its own dimension-scale datasets, so every variable has named
dimensions with coordinates: ``xarray.open_dataset(path, group="posterior",
engine="h5netcdf")`` and ``arviz.from_netcdf(path)`` open the file as an
InferenceData with groups posterior, sample_stats, landscape and state. The
draw axis is resizable (unlimited) and chunked, one chain per chunk; chunks
hold ``chunk_draws`` draws (by default about 256 KiB of one chain's draws, or
64 KiB with compression). Optional "gzip" or "lzf" compression (lzf is
readable only through h5py; prefer gzip for other tools).

What a crash loses
------------------
:meth:`HDF5Backend.append` writes a block in this order: grow the draw-indexed
datasets and the ``draw`` scales, write the draws, losses and statistics and
the new state (into the spare state slot), flush; stamp the spare slot with
the new draw count and the next sequence number, flush; write the draw counter
``state/n_draws``, flush. Readers use only the first ``n_draws`` draws and,
of the slots stamped with ``n_draws``, the one with the higher sequence number.
A crash at any point therefore loses at most the block in flight: the
committed draws and their matching resume state are never overwritten, and
the state can never get ahead of the counter. A block of zero draws updates
the state alone (the sampler saves warm-up progress that way).
Reopening with ``HDF5Backend.open(path, "a")`` trims datasets that are longer
than the counter and continues from it. The flushes hand the data to the
operating system; they do not ``fsync``, so a power failure can lose more.

Reading a live run from a second process
----------------------------------------
The writer works in HDF5's SWMR mode (single writer, multiple readers):
:func:`open_run` opens the file with ``swmr=True`` and every read first
refreshes the counter, so ``run.draws`` grows while the writer appends and
never shows a partly written block. Other tools must ask for SWMR too, while
the writer is alive and after a writer crash (until the run is resumed and
closed cleanly)::

    h5py.File(path, "r", swmr=True)
    xarray.open_dataset(path, group="posterior", engine="h5netcdf",
                        driver_kwds={"swmr": True})
    arviz.from_netcdf(h5py.File(path, "r", swmr=True))

A plain open fails with "file is already open for write" in those cases. Such
readers see the datasets' full extent, which after a crash can include one
complete but uncommitted block beyond ``n_draws``. A process that writes a run
cannot also open it with :func:`open_run` (HDF5 refuses a second handle with a
different SWMR mode in one process); use the writer's own :class:`Run`.

Only one process may write a run: the writer holds an advisory lock on the
file, and a second writer (``open(path, "a")`` or ``fl.sample(...,
resume=True)``) gets a ValueError. After a writer died, the lock is gone but
HDF5's "file is open for write" flags remain in the superblock; reopening for
append clears them (what ``h5clear -s`` does) once the lock proves that no
writer is alive. Reopening for append also needs every reader closed: an HDF5
reader holds a shared file lock that a writer cannot take while it lasts (a
ValueError says so). Readers that open after the writer has started are fine.

Memory
------
Appending holds no more than the block being written: draws go straight from
the caller's arrays to the file. Uncompressed datasets bypass HDF5's chunk
cache (each block is written in place); compressed datasets keep the chunks
in progress (one per chain, twice over; capped at 128 MiB) in the cache,
because every flush recompresses them. With compression, blocks much shorter than ``chunk_draws``
make each flush expensive.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import h5py
import numpy as np

from . import _h5
from ._validate import as_dtype, check_choice, check_int
from .landscape import Landscape

__all__ = ["FORMAT_VERSION", "HDF5Backend", "LazyArray", "MemoryBackend", "Run", "RunSummary", "open_run"]

FORMAT_VERSION = 1
_FORMAT = "fastland.run"
_RESERVED_ATTRS = frozenset({"format", "format_version", "fastland_version", "settings"})
_COMPRESSIONS = (None, "gzip", "lzf")
_STATE_RESERVED = frozenset({"n_draws", "slot_stamp", "slot", "stamp_field", "chain"})
_STATS_RESERVED = frozenset({"chain", "draw"})
_MAX_CHUNK_CACHE = 128 * 2**20
_REQUIRED = (
    "posterior/w", "posterior/loss", "posterior/draw", "sample_stats/draw", "state/n_draws",
    "state/slot_stamp", "landscape/X", "landscape/y",
)  # fmt: skip


# ---------------------------------------------------------------------------- validation
def _check_name(kind: str, name, reserved: frozenset) -> str:
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"{kind}: expected names without '/', got {name!r}")
    if name in reserved:
        raise ValueError(f"{kind}: {name!r} is reserved for the file layout ({', '.join(sorted(reserved))})")
    return name


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _normalize_attrs(attrs, name: str = "attrs") -> dict:
    """Validate settings and return them as they read back from JSON (tuples become lists)."""
    if not isinstance(attrs, Mapping):
        raise ValueError(f"{name}: expected a dict of JSON-able settings, got {type(attrs).__name__}")
    for key in attrs:
        if not isinstance(key, str) or not key or "/" in key:
            raise ValueError(f"{name}: expected string keys without '/', got {key!r}")
        if key in _RESERVED_ATTRS:
            raise ValueError(f"{name}: {key!r} is reserved ({', '.join(sorted(_RESERVED_ATTRS))})")
    try:
        text = json.dumps(dict(attrs), default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected JSON-able values (numbers, strings, lists, dicts): {exc}") from None
    return json.loads(text)


def _plain_attr(value):
    """``value`` as a plain HDF5 attribute for other tools, or None if it has no simple form."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return np.int64(value) if -(2**63) <= value < 2**63 else None
    if isinstance(value, float):
        return np.float64(value)
    if isinstance(value, list) and value and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        try:
            return np.asarray(value, dtype=np.int64 if all(isinstance(v, int) for v in value) else np.float64)
        except OverflowError:
            return None
    return None


def _check_stats(stats) -> dict[str, np.dtype]:
    if not isinstance(stats, Mapping):
        raise ValueError(f"stats: expected a dict of name -> dtype, got {type(stats).__name__}")
    out = {}
    for name, dt in stats.items():
        _check_name("stats", name, _STATS_RESERVED)
        try:
            out[name] = np.dtype(dt)
        except TypeError:
            raise ValueError(f"stats[{name!r}]: expected a NumPy dtype, got {dt!r}") from None
    return out


def _check_state(state, n_chains: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    if not isinstance(state, Mapping):
        raise ValueError(f"state: expected a dict of name -> (shape, dtype), got {type(state).__name__}")
    out = {}
    for name, spec in state.items():
        _check_name("state", name, _STATE_RESERVED)
        try:
            shape, dt = spec
            shape = tuple(check_int(f"state[{name!r}] shape", s, 1) for s in shape)
            dt = np.dtype(dt)
        except (TypeError, ValueError):
            raise ValueError(
                f"state[{name!r}]: expected (shape, dtype) such as ((chains, p), 'float64'), got {spec!r}"
            ) from None
        out[name] = (shape, dt)
    dims = {d for name, (shape, _) in out.items() for d in _state_dims(name, shape, n_chains)}
    clash = dims & set(out)
    if clash:
        raise ValueError(f"state: names {sorted(clash)} clash with dimension names of other state arrays")
    return out


def _state_dims(name: str, shape: tuple[int, ...], n_chains: int) -> tuple[str, ...]:
    dims = ["slot"]
    for axis, size in enumerate(shape):
        dims.append("chain" if axis == 0 and size == n_chains else f"{name}_dim_{axis}")
    return tuple(dims)


def _check_landscape(landscape) -> dict:
    if not isinstance(landscape, Landscape):
        raise ValueError(f"landscape: expected a fastland.Landscape, got {type(landscape).__name__}")
    return {
        "model": landscape.net.spec(),
        "X": np.array(landscape.data.X),
        "y": np.array(landscape.data.y),
        "weight_decay": float(landscape.weight_decay),
        "dtype": landscape.dtype.name,
    }


def _default_chunk_draws(n_params: int, itemsize: int, compressed: bool) -> int:
    target = (64 if compressed else 256) * 1024
    k = max(1.0, target / (n_params * itemsize))
    return int(min(2**16, 2 ** round(math.log2(k))))


def _next_prime(n: int) -> int:
    n = max(n, 2)
    while any(n % d == 0 for d in range(2, math.isqrt(n) + 1)):
        n += 1
    return n


# ------------------------------------------------------------------------------ backends
class _Backend:
    """What both backends share: shapes, settings, block validation."""

    path: str | None
    n_chains: int
    n_params: int
    dtype: np.dtype
    _stat_dtypes: dict[str, np.dtype]
    _state_specs: dict[str, tuple[tuple[int, ...], np.dtype]]

    @property
    def stat_names(self) -> tuple[str, ...]:
        """Names of the per-draw statistics."""
        return tuple(self._stat_dtypes)

    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of the resume-state arrays."""
        return tuple(self._state_specs)

    def _check_block(self, w, loss, stats, state):
        C, P = self.n_chains, self.n_params
        w = np.asarray(w)
        if w.ndim != 3 or w.shape[0] != C or w.shape[2] != P:
            raise ValueError(f"w: expected shape ({C}, k, {P}) (chains, draws, params), got {w.shape}")
        k = w.shape[1]
        w = np.asarray(w, dtype=self.dtype)
        loss = np.asarray(loss, dtype=np.float64)
        if loss.shape != (C, k):
            raise ValueError(f"loss: expected shape ({C}, {k}) to match w, got {loss.shape}")
        if not isinstance(stats, Mapping) or set(stats) != set(self._stat_dtypes):
            got = sorted(stats) if isinstance(stats, Mapping) else type(stats).__name__
            raise ValueError(f"stats: expected the keys {sorted(self._stat_dtypes)}, got {got}")
        out_stats = {}
        for name, dt in self._stat_dtypes.items():
            a = np.asarray(stats[name], dtype=dt)
            if a.shape != (C, k):
                raise ValueError(f"stats[{name!r}]: expected shape ({C}, {k}), got {a.shape}")
            out_stats[name] = a
        if not isinstance(state, Mapping) or set(state) != set(self._state_specs):
            got = sorted(state) if isinstance(state, Mapping) else type(state).__name__
            raise ValueError(f"state: expected the keys {sorted(self._state_specs)}, got {got}")
        out_state = {}
        for name, (shape, dt) in self._state_specs.items():
            a = np.asarray(state[name], dtype=dt)
            if a.shape != shape:
                raise ValueError(f"state[{name!r}]: expected shape {shape}, got {a.shape}")
            out_state[name] = a
        return w, loss, out_stats, out_state, k

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        """Release the storage."""


class MemoryBackend(_Backend):
    """A run kept in RAM; the arrays grow by doubling.

    Same interface as :class:`HDF5Backend`; :func:`fastland.sample` uses it when
    ``path=None``. ``w``, ``loss`` and ``stats`` are read-only NumPy views of
    the committed draws.
    """

    chunk_draws = None
    mode = "a"

    @classmethod
    def create(
        cls,
        path=None,
        *,
        n_chains: int,
        n_params: int,
        landscape,
        attrs: dict,
        stats: dict,
        state: dict,
        dtype="float64",
        compression=None,
        chunk_draws=None,
    ) -> MemoryBackend:
        """Start a run in memory; arguments as :meth:`HDF5Backend.create` (``path`` must be None).

        ``compression`` and ``chunk_draws`` are checked and otherwise ignored.
        """
        if path is not None:
            raise ValueError(f"path: a MemoryBackend keeps the run in RAM; expected None, got {path!r}")
        if compression is not None:
            check_choice("compression", compression, _COMPRESSIONS[1:])
        if chunk_draws is not None:
            check_int("chunk_draws", chunk_draws, 1)
        self = cls()
        self.path = None
        self.n_chains = check_int("n_chains", n_chains, 1)
        self.n_params = check_int("n_params", n_params, 1)
        self.dtype = as_dtype(dtype)
        self._landscape = _check_landscape(landscape)
        self._attrs = _normalize_attrs(attrs)
        self._stat_dtypes = _check_stats(stats)
        self._state_specs = _check_state(state, self.n_chains)
        self._n = 0
        cap = 16
        self._w = np.empty((self.n_chains, cap, self.n_params), dtype=self.dtype)
        self._loss = np.empty((self.n_chains, cap))
        self._stats = {k: np.empty((self.n_chains, cap), dtype=dt) for k, dt in self._stat_dtypes.items()}
        self._state: dict[str, np.ndarray] = {}
        self.closed = False
        return self

    @property
    def n_draws(self) -> int:
        """Number of committed draws per chain."""
        return self._n

    @property
    def attrs(self) -> dict:
        """The sampler settings (a copy)."""
        return json.loads(json.dumps(self._attrs))

    @staticmethod
    def _view(a: np.ndarray, n: int) -> np.ndarray:
        v = a[:, :n]
        v.flags.writeable = False
        return v

    @property
    def w(self) -> np.ndarray:
        """Draws (chain, draw, param): a read-only view."""
        return self._view(self._w, self._n)

    @property
    def loss(self) -> np.ndarray:
        """Losses (chain, draw): a read-only view."""
        return self._view(self._loss, self._n)

    @property
    def stats(self) -> dict[str, np.ndarray]:
        """Per-draw statistics, name -> (chain, draw) read-only view."""
        return {k: self._view(a, self._n) for k, a in self._stats.items()}

    def append(self, w, loss, stats: dict, state: dict) -> None:
        """Append a block of ``k`` draws per chain; see :meth:`HDF5Backend.append`."""
        if self.closed:
            raise ValueError("append: the backend is closed")
        w, loss, stats, state, k = self._check_block(w, loss, stats, state)
        n0, n1 = self._n, self._n + k
        if n1 > self._w.shape[1]:
            cap = max(n1, 2 * self._w.shape[1])
            self._w = self._grow(self._w, cap)
            self._loss = self._grow(self._loss, cap)
            self._stats = {name: self._grow(a, cap) for name, a in self._stats.items()}
        self._w[:, n0:n1] = w
        self._loss[:, n0:n1] = loss
        for name, a in stats.items():
            self._stats[name][:, n0:n1] = a
        self._state = {name: a.copy() for name, a in state.items()}
        self._n = n1

    def _grow(self, a: np.ndarray, cap: int) -> np.ndarray:
        out = np.empty((a.shape[0], cap, *a.shape[2:]), dtype=a.dtype)
        out[:, : self._n] = a[:, : self._n]
        return out

    def read_state(self) -> dict[str, np.ndarray]:
        """Return the state stored with the last block (copies); empty before the first append."""
        return {k: a.copy() for k, a in self._state.items()}

    def update_attrs(self, **attrs) -> None:
        """Merge new values into the sampler settings."""
        self._attrs.update(_normalize_attrs(attrs))

    def landscape_data(self) -> dict:
        """Model spec, X, y, weight_decay and dtype of the sampled landscape."""
        d = self._landscape
        return {
            "model": dict(d["model"]),
            "X": d["X"].copy(),
            "y": d["y"].copy(),
            "weight_decay": d["weight_decay"],
            "dtype": d["dtype"],
        }

    def close(self) -> None:
        """Mark the backend closed (the arrays stay readable)."""
        self.closed = True

    def __repr__(self) -> str:
        return f"MemoryBackend(chains={self.n_chains}, draws={self._n}, params={self.n_params})"


# ---------------------------------------------------------------- HDF5 helper functions
def _open_dataset(group: h5py.Group, name: str, cache_bytes: int | None, n_chains: int) -> h5py.Dataset:
    """Open ``group[name]``, with a chunk cache of ``cache_bytes`` (None: the file's)."""
    if cache_bytes is None:
        return group[name]
    dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    dapl.set_chunk_cache(_next_prime(16 * n_chains + 1), cache_bytes, 1.0)
    return h5py.Dataset(h5py.h5d.open(group.id, name.encode(), dapl=dapl))


class HDF5Backend(_Backend):
    """A run streamed to one HDF5 file (layout and guarantees: see :mod:`fastland.store`).

    Make one with :meth:`create`, reopen one with :meth:`open`. A backend opened
    with mode "r" reads a file that may still be growing (SWMR); one created or
    opened with mode "a" is the file's only writer.

    Attributes
    ----------
    path : str
    mode : {"r", "a"}
    n_chains, n_params : int
    dtype : numpy.dtype
        Storage type of the draws ``w`` (losses are float64).
    chunk_draws : int
        Draws per chunk along the draw axis.
    """

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(
        cls,
        path,
        *,
        n_chains: int,
        n_params: int,
        landscape,
        attrs: dict,
        stats: dict,
        state: dict,
        dtype="float64",
        compression: str | None = None,
        chunk_draws: int | None = None,
        overwrite: bool = False,
    ) -> HDF5Backend:
        """Create a new run file and open it for appending.

        Parameters
        ----------
        path : str or path-like
            A file that must not exist yet: an existing file is never touched.
        n_chains, n_params : int
            Number of chains and length of each parameter vector.
        landscape : Landscape
            Stored in group ``landscape`` (model spec, X, y, weight decay, dtype)
            so that :meth:`Run.landscape` rebuilds it from the file alone.
        attrs : dict
            JSON-able sampler settings (method, step, box, temperature, thin,
            seed, draws, ...), stored as root attributes.
        stats : dict of str -> dtype
            Per-draw statistics, each stored as a (chain, draw) dataset in
            ``sample_stats``, e.g. ``{"accepted": np.float32}``.
        state : dict of str -> (shape, dtype)
            Resume-state arrays with their full shapes, e.g.
            ``{"position": ((chains, p), np.float64), "rng": ((chains, 4), np.uint64)}``.
        dtype : {"float64", "float32"}
            Storage type of the draws.
        compression : {None, "gzip", "lzf"}
            Filter of the draw-indexed datasets (gzip: readable by every HDF5 tool).
        chunk_draws : int, optional
            Draws per chunk along the draw axis; by default a chunk of one
            chain holds about 256 KiB (64 KiB with compression).
        overwrite : bool, default False
            Replace an existing file at ``path`` (never one that is being written).

        Returns
        -------
        HDF5Backend
            In SWMR mode: other processes can read the file from now on.

        Raises
        ------
        FileExistsError
            If ``path`` exists and ``overwrite`` is False (continue a run with
            ``resume=True``); it is also a ValueError.
        ValueError
            If the folder of ``path`` is missing or not writable, or an
            argument is invalid.
        """
        n_chains = check_int("n_chains", n_chains, 1)
        n_params = check_int("n_params", n_params, 1)
        dtype = as_dtype(dtype)
        land = _check_landscape(landscape)
        settings = _normalize_attrs(attrs)
        stat_dtypes = _check_stats(stats)
        state_specs = _check_state(state, n_chains)
        if compression is not None:
            check_choice("compression", compression, ("gzip", "lzf"))
        if chunk_draws is None:
            chunk_draws = _default_chunk_draws(n_params, dtype.itemsize, compression is not None)
        chunk_draws = check_int("chunk_draws", chunk_draws, 1)
        try:
            handle = _h5.create_file(
                path, kind=_FORMAT, format_version=FORMAT_VERSION, overwrite=overwrite, lock=True, rdcc_nbytes=0
            )
        except _h5.OutputExistsError as exc:
            raise _h5.OutputExistsError(f"{exc}; to continue that run pass resume=True") from None
        try:
            f = handle.file
            cls._build(f, n_chains, n_params, dtype, land, settings, stat_dtypes, state_specs, compression, chunk_draws)
            self = cls._from_handle(handle, "a")
            self.start_swmr()
        except BaseException:
            handle.close()
            os.unlink(handle.path)
            raise
        return self

    @staticmethod
    def _build(f, C, P, dtype, land, settings, stat_dtypes, state_specs, compression, cd) -> None:
        _write_settings(f, settings, settings)

        comp = {"compression": compression} if compression else {}
        post = f.create_group("posterior")
        ss = f.create_group("sample_stats")
        for g, with_param in ((post, True), (ss, False)):
            _h5.create_scale(g, "chain", C)
            _h5.create_scale(g, "draw", None, cd)
            if with_param:
                _h5.create_scale(g, "param", P)
        w = post.create_dataset(
            "w", shape=(C, 0, P), maxshape=(C, None, P), chunks=(1, cd, P), dtype=dtype, fill_time="never", **comp
        )
        _h5.attach(w, post["chain"], post["draw"], post["param"])
        loss = post.create_dataset(
            "loss", shape=(C, 0), maxshape=(C, None), chunks=(1, cd), dtype=np.float64, fill_time="never", **comp
        )
        _h5.attach(loss, post["chain"], post["draw"])
        for name, dt in stat_dtypes.items():
            ds = ss.create_dataset(
                name, shape=(C, 0), maxshape=(C, None), chunks=(1, cd), dtype=dt, fill_time="never", **comp
            )
            _h5.attach(ds, ss["chain"], ss["draw"])

        _h5.write_landscape(f.create_group("landscape"), land)

        sg = f.create_group("state")
        _h5.compact_dataset(sg, "n_draws", 0)
        slot = _h5.create_scale(sg, "slot", 2)
        stamp = _h5.compact_dataset(sg, "slot_stamp", [[-1, -1], [-1, -1]])
        stamp.attrs["description"] = "per slot: n_draws and sequence number of the state it holds"
        _h5.attach(stamp, slot, _h5.create_scale(sg, "stamp_field", 2))
        made = {"slot": slot}
        for name, (shape, dt) in state_specs.items():
            dims = _state_dims(name, shape, C)
            for d, size in zip(dims[1:], shape, strict=True):
                if d not in made:
                    made[d] = _h5.create_scale(sg, d, size)
            full = (2, *shape)
            ds = sg.create_dataset(name, data=np.zeros(full, dtype=dt), chunks=(1, *shape))
            _h5.attach(ds, *(made[d] for d in dims))

    @classmethod
    def open(cls, path, mode: str = "r") -> HDF5Backend:
        """Open an existing run file.

        Parameters
        ----------
        path : str or path-like
            The run file.
        mode : {"r", "a"}
            "r": read only, also while another process writes (SWMR).
            "a": become the writer again to append more draws (resume). Draws
            beyond the committed counter (a crash mid-block) are trimmed. The
            file switches to SWMR mode at the first :meth:`append` (or
            :meth:`start_swmr`); :meth:`update_attrs` works until then.
        """
        check_choice("mode", mode, ("r", "a"))
        if mode == "r":
            handle = _h5.open_file(path, kind=_FORMAT, max_version=FORMAT_VERSION, what="run file")
            try:
                self = cls._from_handle(handle, "r")
                self._verify()
            except BaseException:
                handle.close()
                raise
            return self
        handle = _h5.open_append(path, kind=_FORMAT, max_version=FORMAT_VERSION, rdcc_nbytes=0)
        try:
            self = cls._from_handle(handle, "a")
            self._verify()
            self._trim()
        except BaseException:
            handle.close()
            raise
        return self

    @classmethod
    def _from_handle(cls, handle, mode: str) -> HDF5Backend:
        f, path = handle.file, handle.path
        missing = [name for name in _REQUIRED if name not in f]
        if missing:
            raise ValueError(f"path: {path!r} is damaged or not a complete run file: it has no {', '.join(missing)}")
        self = cls()
        self._handle = handle
        self._f = f
        self.path = path
        self.mode = mode
        self._reading = mode == "r"
        post, ss = f["posterior"], f["sample_stats"]
        if self._reading:  # one dataset object per dataset in the process (see _h5.ReaderHandle)
            get = handle.dataset
            opened = {name: get(name) for name in ("posterior/w", "posterior/loss")}
        else:
            get = f.__getitem__
            opened = {}

        def datasets(group: str) -> dict:
            out = {}
            for name in f[group]:
                ds = get(f"{group}/{name}")
                if isinstance(ds, h5py.Dataset) and not ds.is_scale:
                    out[name] = ds
            return out

        w = get("posterior/w")
        self.n_chains, _, self.n_params = w.shape
        self.dtype = w.dtype
        self.chunk_draws = int(w.chunks[1])
        self.compression = w.compression
        if self._reading:
            self._w, self._loss = opened["posterior/w"], opened["posterior/loss"]
            self._stats = datasets("sample_stats")
        else:  # writer: compressed chunks stay cached until complete
            row = self.n_chains * self.chunk_draws * self.n_params * self.dtype.itemsize
            cache = min(2 * row, _MAX_CHUNK_CACHE) if self.compression else 0
            self._w = _open_dataset(post, "w", cache, self.n_chains)
            self._loss = _open_dataset(post, "loss", cache, self.n_chains)
            self._stats = {name: _open_dataset(ss, name, cache, self.n_chains) for name in datasets("sample_stats")}
        del w
        self._stat_dtypes = {name: ds.dtype for name, ds in self._stats.items()}
        self._draw_scales = (get("posterior/draw"), get("sample_stats/draw"))
        self._counter = get("state/n_draws")
        self._stamps = get("state/slot_stamp")
        self._state = {name: ds for name, ds in datasets("state").items() if name not in _STATE_RESERVED}
        self._state_specs = {name: (ds.shape[1:], ds.dtype) for name, ds in self._state.items()}
        try:
            self._settings = json.loads(f.attrs["settings"])
        except (KeyError, ValueError):
            raise ValueError(f"path: {path!r} is damaged: its settings attribute is missing or not JSON") from None
        if self._reading and handle.swmr:
            self._counter.refresh()
        self._n = int(self._counter[()])
        stamps = self._stamps[()]
        self._slot = _pick_slot(stamps, self._n)
        self._seq = int(stamps[:, 1].max())
        if self._n and self._slot < 0 and not self._reading:
            raise ValueError(f"path: {path!r} has no resume state for its {self._n} committed draws")
        return self

    def _verify(self) -> None:
        """Refuse a file whose committed draws are not all on disk (truncated, or chunks lost)."""
        n = self._n
        for ds in (self._w, self._loss, *self._stats.values()):
            if self._reading and self._handle.swmr:
                ds.refresh()  # after the counter: a live writer grows datasets before committing
            if ds.shape[1] < n:
                raise ValueError(f"path: {self.path!r} is damaged: {ds.name} has {ds.shape[1]} < {n} draws")
            _h5.check_chunks(ds, n, self.path)

    def _trim(self) -> None:
        """Cut datasets back to the committed counter (draws of a block a crash interrupted)."""
        n = self._n
        for ds in (self._w, self._loss, *self._stats.values()):
            if ds.shape[1] < n:
                raise ValueError(f"path: {self.path!r} is damaged: {ds.name} has {ds.shape[1]} < {n} draws")
            if ds.shape[1] != n:
                ds.resize(n, axis=1)
        for sc in self._draw_scales:
            if sc.shape[0] != n:
                sc.resize((n,))
                sc[:] = np.arange(n)

    # ------------------------------------------------------------------ properties
    @property
    def closed(self) -> bool:
        """Whether the file has been closed."""
        return self._handle.closed or not self._f.id.valid

    @property
    def n_draws(self) -> int:
        """Number of committed draws per chain (re-read from the file when reading)."""
        if self._reading:
            self._counter.refresh()
            return int(self._counter[()])
        return self._n

    @property
    def attrs(self) -> dict:
        """The sampler settings (a copy)."""
        return json.loads(json.dumps(self._settings))

    @property
    def file(self) -> h5py.File:
        """The open :class:`h5py.File`."""
        return self._f

    def _lazy(self, ds: h5py.Dataset) -> LazyArray:
        return LazyArray(ds, lambda: self.n_draws, refresh=self._reading)

    @property
    def w(self) -> LazyArray:
        """Draws (chain, draw, param), read lazily; only committed draws are visible."""
        return self._lazy(self._w)

    @property
    def loss(self) -> LazyArray:
        """Losses (chain, draw), read lazily."""
        return self._lazy(self._loss)

    @property
    def stats(self) -> dict[str, LazyArray]:
        """Per-draw statistics, name -> (chain, draw) lazy array."""
        return {name: self._lazy(ds) for name, ds in self._stats.items()}

    # ------------------------------------------------------------------ writing
    def _check_writable(self, what: str) -> None:
        if self.closed:
            raise ValueError(f"{what}: the run file {self.path!r} is closed")
        if self._reading:
            raise ValueError(f"{what}: {self.path!r} was opened read-only; use HDF5Backend.open(path, 'a')")

    def start_swmr(self) -> None:
        """Switch the file to SWMR mode so other processes can read it; idempotent.

        After this, attributes are frozen (:meth:`update_attrs` raises) and the
        file only grows.
        """
        self._check_writable("start_swmr")
        if not self._f.swmr_mode:
            self._f.swmr_mode = True

    def append(self, w, loss, stats: dict, state: dict) -> None:
        """Append a block of ``k`` draws per chain (k >= 0) and the state after it.

        Parameters
        ----------
        w : array_like, shape (chains, k, p)
            The block's draws; k = 0 stores the state alone.
        loss : array_like, shape (chains, k)
            Their losses.
        stats : dict of str -> array_like (chains, k)
            One entry per statistic declared at creation.
        state : dict of str -> array_like
            The full resume-state arrays after the block's last draw.

        Notes
        -----
        Writes the block and the state (into the spare slot), flushes, stamps
        the slot, flushes, then writes the draw counter and flushes: a crash at
        any point leaves a file whose counter names only fully written draws,
        with their matching state.
        """
        self._check_writable("append")
        w, loss, stats, state, k = self._check_block(w, loss, stats, state)
        self.start_swmr()
        n0, n1 = self._n, self._n + k
        if k:
            for ds in (self._w, self._loss, *self._stats.values()):
                ds.resize(n1, axis=1)
            for sc in self._draw_scales:
                sc.resize((n1,))
                sc[n0:n1] = np.arange(n0, n1, dtype=np.int64)
            self._w[:, n0:n1, :] = w
            self._loss[:, n0:n1] = loss
            for name, ds in self._stats.items():
                ds[:, n0:n1] = stats[name]
        slot, seq = (1 - self._slot if self._slot >= 0 else 0), self._seq + 1
        for name, ds in self._state.items():
            ds[slot] = state[name]
        self._f.flush()
        self._stamps[slot] = (n1, seq)  # the slot is complete before it claims to be
        self._f.flush()
        if k:
            self._counter[()] = n1  # the commit: readers and resumes trust only this
            self._f.flush()
        self._n, self._slot, self._seq = n1, slot, seq

    def read_state(self) -> dict[str, np.ndarray]:
        """Return the resume state stored with the last committed block; empty before any.

        Safe against a concurrent writer: retries if a block is committed while
        the state is being read.
        """
        for _ in range(1000):
            n = self.n_draws
            if self._reading:
                self._stamps.refresh()
            stamps = self._stamps[()]
            slot = _pick_slot(stamps, n)
            if slot < 0:
                if n == 0:
                    return {}  # no state committed yet
                if self._reading:
                    continue  # the writer moved on between reading the counter and the stamps
                break
            out = {}
            for name, ds in self._state.items():
                if self._reading:
                    ds.refresh()
                out[name] = ds[slot]
            if not self._reading:
                return out
            self._stamps.refresh()
            if self.n_draws == n and np.array_equal(self._stamps[()], stamps):
                return out
        raise ValueError(f"path: {self.path!r} has no consistent resume state for its {n} draws")

    def update_attrs(self, **attrs) -> None:
        """Merge new values into the stored sampler settings (e.g. a larger ``draws`` on resume).

        HDF5 attributes cannot change in SWMR mode: call this after
        ``open(path, "a")`` and before the first :meth:`append`.
        """
        self._check_writable("update_attrs")
        new = _normalize_attrs(attrs)
        if self._f.swmr_mode:
            raise ValueError(
                "update_attrs: the file is in SWMR mode, where attributes are frozen; call it right "
                "after HDF5Backend.open(path, 'a'), before the first append"
            )
        merged = {**self._settings, **new}
        _write_settings(self._f, merged, new)
        self._f.flush()
        self._settings = merged

    def landscape_data(self) -> dict:
        """Model spec, X, y, weight_decay and dtype of the sampled landscape."""
        return _h5.landscape_data(self._f["landscape"])

    def close(self) -> None:
        """Flush and close the file and release the writer lock; idempotent.

        A backend that is garbage-collected without ``close()`` is closed then.
        """
        self._handle.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"mode={self.mode!r}"
        return f"HDF5Backend({self.path!r}, {state})"


def _pick_slot(stamps: np.ndarray, n: int) -> int:
    """Return the state slot that belongs to ``n`` committed draws (the newer one), or -1."""
    ok = np.flatnonzero(stamps[:, 0] == n)
    return int(ok[np.argmax(stamps[ok, 1])]) if ok.size else -1


def _write_settings(f: h5py.File, settings: dict, changed: dict) -> None:
    f.attrs["settings"] = json.dumps(settings)
    for key, value in changed.items():
        if key in f.attrs:
            del f.attrs[key]
        plain = _plain_attr(value)
        if plain is not None:
            f.attrs[key] = plain


# ---------------------------------------------------------------------------- lazy arrays
def _plan(key, shape: tuple[int, ...]):
    """Split a NumPy index into an h5py selection and a NumPy index applied afterwards."""
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is None for k in key):
        raise IndexError("np.newaxis is not supported on a lazy run array; index first, then reshape")
    ell = [i for i, k in enumerate(key) if k is Ellipsis]
    if len(ell) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    n_given = len(key) - len(ell)
    if n_given > len(shape):
        raise IndexError(f"too many indices: array is {len(shape)}-dimensional, but {n_given} were indexed")
    fill = (slice(None),) * (len(shape) - n_given)
    key = key[: ell[0]] + fill + key[ell[0] + 1 :] if ell else key + fill
    sel, post, out_shape, n_arrays = [], [], [], 0
    for axis, (k, size) in enumerate(zip(key, shape, strict=True)):
        if isinstance(k, np.ndarray) and k.ndim == 0 and np.issubdtype(k.dtype, np.integer):
            k = int(k)
        if isinstance(k, int | np.integer) and not isinstance(k, bool | np.bool_):
            i = int(k) + size if k < 0 else int(k)
            if not 0 <= i < size:
                raise IndexError(f"index {k} is out of bounds for axis {axis} with size {size}")
            sel.append(i)
        elif isinstance(k, slice):
            r = range(*k.indices(size))
            out_shape.append(len(r))
            if len(r) == 0:
                sel.append(slice(0, 0))
                post.append(slice(None))
            elif r.step > 0:
                sel.append(slice(r[0], r[-1] + 1, r.step))
                post.append(slice(None))
            else:  # h5py reads forward only: read ascending, then reverse
                sel.append(slice(r[-1], r[0] + 1, -r.step))
                post.append(slice(None, None, -1))
        else:
            a = np.asarray(k)
            if a.dtype == bool:
                if a.shape != (size,):
                    raise IndexError(f"boolean index for axis {axis}: expected shape ({size},), got {a.shape}")
                a = np.flatnonzero(a)
            elif a.ndim != 1 or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
                raise IndexError(
                    "only integers, slices, '...' and 1-D integer or boolean arrays are valid indices "
                    f"of a lazy run array; got {k!r} for axis {axis}"
                )
            a = a.astype(np.intp)
            a = np.where(a < 0, a + size, a)
            if a.size and (a.min() < 0 or a.max() >= size):
                raise IndexError(f"index array out of bounds for axis {axis} with size {size}")
            n_arrays += 1
            u, inv = np.unique(a, return_inverse=True)
            sel.append(u if u.size else slice(0, 0))
            post.append(inv)
            out_shape.append(a.size)
    if n_arrays > 1:
        raise IndexError(
            "a lazy run array takes an index array on at most one axis (an h5py limit); "
            "read a slice first, e.g. np.asarray(run.draws[:, a])[b]"
        )
    return tuple(sel), tuple(post), tuple(out_shape)


class LazyArray:
    """Committed draws of one run-file dataset, read from disk only when indexed.

    Supports NumPy-style indexing with integers, slices (any step, also
    negative), ``...`` and one 1-D integer or boolean array, e.g.
    ``run.draws[:, ::10]``, ``run.draws[0, -100:]``. Only the selected
    elements are read, and only the first :attr:`shape` [1] draws, i.e. those
    committed by the writer; the shape grows while a writer appends.
    ``np.asarray(lazy)`` reads everything.
    """

    def __init__(self, dataset: h5py.Dataset, n_draws: Callable[[], int], refresh: bool = False) -> None:
        self._ds = dataset
        self._n_draws = n_draws
        self._refresh = refresh

    @property
    def shape(self) -> tuple[int, ...]:
        """Current shape: (chain, committed draws[, param])."""
        s = self._ds.shape
        return (s[0], self._n_draws(), *s[2:])

    @property
    def dtype(self) -> np.dtype:
        """Element type."""
        return self._ds.dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self._ds.shape)

    @property
    def size(self) -> int:
        """Number of elements currently committed."""
        return math.prod(self.shape)

    @property
    def name(self) -> str:
        """The dataset's path inside the file."""
        return self._ds.name

    def __len__(self) -> int:
        return self._ds.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        shape = self.shape  # reads the counter first ...
        sel, post, out_shape = _plan(key, shape)
        if 0 in out_shape:
            return np.empty(out_shape, dtype=self.dtype)
        if self._refresh:
            self._ds.refresh()  # ... then the data, which is at least as new
        out = self._ds[sel]
        if any(not (isinstance(p, slice) and p == slice(None)) for p in post):
            out = out[post]
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[...]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"<LazyArray {self.name} shape={self.shape} dtype={self.dtype}>"


# ----------------------------------------------------------------------------------- runs
_SYMMETRY_DRAWS = 500  # draws per chain for the outputs / canonical rows of a summary
#: the targets a summary's verdict applies (Vehtari et al. 2021): split R-hat and bulk/tail ESS
RHAT_TARGET, ESS_TARGET = 1.01, 400.0


@dataclass(frozen=True)
class RunSummary:
    """Convergence summary of a run; ``str()`` gives a table.

    Attributes
    ----------
    n_chains, n_draws, n_params : int
    stride : int
        Diagnostics and quantiles use every ``stride``-th committed draw.
    acceptance : float or None
        Mean of the ``accepted`` statistic over all committed draws.
    rhat_max, ess_bulk_min, ess_tail_min : float
        Over the symmetry-aware quantities: the loss, the network's outputs at
        the data points ("outputs") and the weights in canonical form
        ("canonical", :func:`fastland.geometry.canonical_form`). The raw
        weights ("params") are left out of these: exact symmetries (hidden-unit
        permutations, sign flips) inflate their R-hat even when the chains agree
        on the landscape.
    clt_pvalue : float
        Smallest p-value of :func:`fastland.diagnostics.clt_check` (are the
        chain means Gaussian?) over the same quantities, uncorrected.
    clt_ok : bool
        Whether each of them passes it (Bonferroni over components, as
        ``clt_check`` does).
    loss_quantiles : dict of float -> float
    rows : dict of str -> dict
        The same diagnostics separately for "loss", "outputs", "canonical" and
        "params" (raw weights); "outputs" and "canonical" use at most 500
        evenly spaced draws per chain.
    converged : bool
        Whether the headline meets R-hat <= 1.01 and bulk and tail ESS >= 400
        (``RHAT_TARGET``, ``ESS_TARGET``).
    warnings : list of str
        What a reader must know: the targets missed (by which quantity), and
        chains that look stuck (acceptance rate or number of distinct draws
        below half the median chain's).
    chain_acceptance, chain_distinct : list
        Per chain: the mean acceptance rate, and the number of committed draws
        whose loss differs from the draw before (a moving chain's count is
        close to the number of draws).
    """

    n_chains: int
    n_draws: int
    n_params: int
    stride: int
    acceptance: float | None
    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    clt_pvalue: float
    clt_ok: bool
    loss_quantiles: dict = field(default_factory=dict)
    rows: dict = field(default_factory=dict)
    converged: bool = False
    warnings: list = field(default_factory=list)
    chain_acceptance: list = field(default_factory=list)
    chain_distinct: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """Return the summary as a plain dict."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def __str__(self) -> str:
        used = "every draw" if self.stride == 1 else f"1 draw in {self.stride}"
        lines = [
            f"fastland run: {self.n_chains} chains x {self.n_draws} draws, {self.n_params} parameters "
            f"(diagnostics on {used})",
            "acceptance rate: " + ("n/a" if self.acceptance is None else f"{self.acceptance:.4f}"),
            f"{'':10}{'R-hat max':>11}{'ESS bulk min':>14}{'ESS tail min':>14}{'CLT p*k':>9}{'CLT':>6}",
        ]
        for name, r in self.rows.items():
            if np.isnan(r["clt_pvalue"]):  # not run (fewer than 3 chains)
                clt = f"{'n/a':>9}{'-':>6}"
            else:
                clt = f"{r['clt_corrected']:>9.3g}{'pass' if r['clt_ok'] else 'FAIL':>6}"
            lines.append(f"{name:10}{r['rhat_max']:>11.4f}{r['ess_bulk_min']:>14.1f}{r['ess_tail_min']:>14.1f}{clt}")
        alpha = next((r["clt_alpha"] for r in self.rows.values() if "clt_alpha" in r), 0.05)
        lines.append(
            f"(CLT p*k: the smallest p-value of the chain-means test times the number of components k, "
            f"Bonferroni; passes at >= {alpha:g})"
        )
        q = "  ".join(f"{100 * k:g}%: {v:.6g}" for k, v in self.loss_quantiles.items())
        lines.append(f"loss quantiles: {q}")
        if self.converged:
            lines.append(
                f"verdict: converged (R-hat <= {RHAT_TARGET} and ESS >= {ESS_TARGET:g} on the loss, the outputs "
                "and the canonical weights)"
            )
        else:
            lines.append("verdict: NOT converged; do not trust these draws yet:")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


class Run:
    """A sampling run: what :func:`fastland.sample` returns and :func:`open_run` opens.

    Parameters
    ----------
    backend : HDF5Backend or MemoryBackend

    Attributes
    ----------
    backend : HDF5Backend or MemoryBackend
    path : str or None
        The run file, or None for a run kept in memory.

    Examples
    --------
    >>> run = fl.open_run("run.h5")                          # doctest: +SKIP
    >>> run.draws[:, ::10].shape                             # doctest: +SKIP
    (64, 2000, 18)
    """

    def __init__(self, backend: HDF5Backend | MemoryBackend) -> None:
        if not isinstance(backend, _Backend):
            raise ValueError(f"backend: expected an HDF5Backend or MemoryBackend, got {type(backend).__name__}")
        self.backend = backend
        self.path = backend.path

    @property
    def draws(self) -> LazyArray | np.ndarray:
        """Draws (chain, draw, param): lazy for a file (read on indexing), an array in memory."""
        return self.backend.w

    @property
    def loss(self) -> LazyArray | np.ndarray:
        """Losses U(w) of the draws, (chain, draw)."""
        return self.backend.loss

    @property
    def stats(self) -> dict[str, LazyArray | np.ndarray]:
        """Per-draw sampler statistics, name -> (chain, draw)."""
        return self.backend.stats

    @property
    def attrs(self) -> dict:
        """Sampler settings (method, step, box, temperature, thin, seed, ...)."""
        return self.backend.attrs

    @property
    def n_chains(self) -> int:
        """Number of chains."""
        return self.backend.n_chains

    @property
    def n_draws(self) -> int:
        """Committed draws per chain (grows while a writer appends)."""
        return self.backend.n_draws

    @property
    def n_params(self) -> int:
        """Length of each parameter vector."""
        return self.backend.n_params

    def state(self) -> dict[str, np.ndarray]:
        """Return the resume state after the last committed draw (empty before the first block)."""
        return self.backend.read_state()

    def landscape(self) -> Landscape:
        """Rebuild the sampled :class:`~fastland.Landscape` from the stored model spec and data."""
        from .data import Dataset
        from .model import MLP

        d = self.backend.landscape_data()
        return Landscape(
            MLP.from_spec(d["model"]), Dataset(d["X"], d["y"]), weight_decay=d["weight_decay"], dtype=d["dtype"]
        )

    def summary(self, max_draws: int = 4000, max_bytes: int = 64 * 2**20) -> RunSummary:
        """Convergence diagnostics of the loss and the parameters.

        Split R-hat, bulk and tail ESS and the CLT check of chain means
        (:mod:`fastland.diagnostics`) of the loss, the outputs at the data
        points, the canonical weights and the raw weights (see
        :class:`RunSummary`), the mean acceptance rate and loss quantiles.

        Parameters
        ----------
        max_draws : int, default 4000
            Diagnostics and quantiles use every ``stride``-th draw, with the
            smallest stride that leaves at most ``max_draws`` per chain; ESS is
            then that of the thinned chains. The acceptance rate uses all draws.
        max_bytes : int, default 64 MiB
            Parameters are read and diagnosed in groups of at most this many
            bytes, so memory stays bounded for any run size.
        """
        from . import diagnostics

        max_draws = check_int("max_draws", max_draws, 4)
        max_bytes = check_int("max_bytes", max_bytes, 1)
        C, n, P = self.n_chains, self.n_draws, self.n_params
        if n == 0:
            raise ValueError("summary: the run has no committed draws yet")
        stride = -(-n // max_draws)
        m = len(range(0, n, stride))

        acceptance = None
        chain_acc = np.full(C, np.nan)
        step = max(1, max_bytes // (8 * C))
        if "accepted" in self.stats:
            acc = self.stats["accepted"]
            per_chain = sum(np.sum(acc[:, i : i + step], axis=1, dtype=np.float64) for i in range(0, n, step))
            chain_acc = per_chain / n
            acceptance = float(per_chain.sum()) / (C * n)
        # distinct draws per chain: a draw whose loss equals the one before did not move
        distinct = np.ones(C, dtype=np.int64)
        prev = None
        for i in range(0, n, step):
            block = np.asarray(self.loss[:, i : i + step], dtype=np.float64)
            joined = block if prev is None else np.concatenate([prev, block], axis=1)
            distinct += np.count_nonzero(np.diff(joined, axis=1) != 0, axis=1)
            prev = block[:, -1:]

        def diagnose(parts):
            rhat, bulk, tail, ps, alpha = [], [], [], [], 0.05
            for x in parts:
                rhat.append(np.atleast_1d(diagnostics.rhat(x)))
                bulk.append(np.atleast_1d(diagnostics.ess_bulk(x)))
                tail.append(np.atleast_1d(diagnostics.ess_tail(x)))
                if C >= 3:  # the CLT check compares chain means: it needs 3 chains
                    clt = diagnostics.clt_check(x)
                    ps.append(np.atleast_1d(clt.pvalues))
                    alpha = clt.alpha
            p = np.concatenate(ps).astype(float) if ps else np.array([np.nan])
            return {
                "rhat_max": float(np.max(np.concatenate(rhat))),
                "ess_bulk_min": float(np.min(np.concatenate(bulk))),
                "ess_tail_min": float(np.min(np.concatenate(tail))),
                "clt_pvalue": float(p.min()),
                "clt_ok": bool(np.all(p >= alpha / p.size)),  # Bonferroni, as clt_check itself; NaN fails
                "clt_corrected": float(min(1.0, p.min() * p.size)),  # what clt_ok compares with alpha
                "clt_alpha": float(alpha),
            }

        loss = np.asarray(self.loss[:, ::stride], dtype=np.float64)
        q = max(1, max_bytes // (8 * C * m))
        param_parts = (np.asarray(self.draws[:, ::stride, j : j + q], dtype=np.float64) for j in range(0, P, q))
        rows = {"loss": diagnose([loss])}
        rows.update(self._symmetry_aware_rows(diagnose, max_bytes))
        rows["params"] = diagnose(param_parts)
        levels = (0.05, 0.25, 0.5, 0.75, 0.95)
        quantiles = dict(zip(levels, (float(v) for v in np.quantile(loss, levels)), strict=True))
        vals = [r for name, r in rows.items() if name != "params"]
        warnings = []
        for name, r in rows.items():
            if name == "params":
                continue
            if not r["rhat_max"] <= RHAT_TARGET:
                warnings.append(f"{name}: R-hat {r['rhat_max']:.4g} > {RHAT_TARGET} (the chains disagree)")
            ess = min(r["ess_bulk_min"], r["ess_tail_min"])
            if not ess >= ESS_TARGET:
                warnings.append(f"{name}: ESS {ess:.4g} < {ESS_TARGET:g} (too few effective draws)")
        if C < 3:
            warnings.append(f"only {C} chains: the CLT check of chain means needs 3 (not run)")
        for c in np.flatnonzero(chain_acc < 0.5 * np.nanmedian(chain_acc)):
            warnings.append(
                f"chain {c} looks stuck: acceptance {chain_acc[c]:.3g} vs median {np.nanmedian(chain_acc):.3g}"
            )
        for c in np.flatnonzero(distinct < 0.5 * np.median(distinct)):
            warnings.append(
                f"chain {c} looks stuck: {distinct[c]} distinct draws of {n} (median {np.median(distinct):.0f})"
            )
        converged = all(
            r["rhat_max"] <= RHAT_TARGET and min(r["ess_bulk_min"], r["ess_tail_min"]) >= ESS_TARGET for r in vals
        )
        return RunSummary(
            n_chains=C,
            n_draws=n,
            n_params=P,
            stride=stride,
            acceptance=acceptance,
            rhat_max=max(r["rhat_max"] for r in vals),
            ess_bulk_min=min(r["ess_bulk_min"] for r in vals),
            ess_tail_min=min(r["ess_tail_min"] for r in vals),
            clt_pvalue=min(r["clt_pvalue"] for r in vals),
            clt_ok=all(r["clt_ok"] for r in vals),
            loss_quantiles=quantiles,
            rows=rows,
            converged=converged,
            warnings=warnings,
            chain_acceptance=[float(a) for a in chain_acc],
            chain_distinct=[int(d) for d in distinct],
        )

    def _symmetry_aware_rows(self, diagnose, max_bytes: int) -> dict:
        """Diagnostics of the outputs at the data points and of the canonical weights.

        On at most ``_SYMMETRY_DRAWS`` evenly spaced draws per chain (the canonical
        form is computed draw by draw); outputs at evenly spaced data points when all
        of them would exceed ``max_bytes``. Components constant over all draws are left
        out (they carry no information, and R-hat is undefined for them).
        """
        from . import geometry

        C, n = self.n_chains, self.n_draws
        if n < 4:
            return {}
        land = self.landscape()
        stride = -(-n // _SYMMETRY_DRAWS)
        W = np.asarray(self.draws[:, ::stride], dtype=np.float64)
        m = W.shape[1]
        flat = W.reshape(-1, W.shape[2])
        N = land.data.X.shape[0]
        keep_points = np.unique(
            np.linspace(0, N - 1, max(1, min(N, max_bytes // (8 * C * m * land.net.n_out)))).astype(int)
        )
        out = land.net.predict(flat, land.data.X[keep_points]).reshape(C, m, -1)
        canon = geometry.canonical_form(land.net, flat).reshape(W.shape)
        rows = {}
        for name, x in (("outputs", out), ("canonical", canon)):
            varying = np.ptp(x.reshape(-1, x.shape[2]), axis=0) > 0
            if varying.any():
                rows[name] = diagnose([x[:, :, varying]])
        return rows

    def close(self) -> None:
        """Close the backend (for a writer: flush, close the file, release the lock)."""
        self.backend.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "in memory" if self.path is None else repr(self.path)
        method = self.attrs.get("method")
        extra = f", method={method!r}" if method is not None else ""
        return f"Run({where}, chains={self.n_chains}, draws={self.n_draws}, params={self.n_params}{extra})"


def open_run(path) -> Run:
    """Open a run file read-only, also while another process is still writing it.

    Parameters
    ----------
    path : str or path-like
        The run file.

    Returns
    -------
    Run
        ``run.draws`` reads lazily and always shows the draws committed so far.
    """
    return Run(HDF5Backend.open(path, "r"))
