"""Reads a PyTorch state_dict file (`.pth`) into numpy arrays without PyTorch and without running its pickle.

Both of torch.save's formats: the legacy one (torch < 1.6: magic number, protocol, system info, the pickled
state_dict, the storage keys, then each storage as an int64 element count and its raw little-endian bytes) and the
zip one (archive/data.pkl and one archive/data/<key> file per storage). The unpickler only accepts the handful of
globals a state_dict needs (OrderedDict, torch's tensor rebuild functions and storage types): anything else in the
file is refused, so a `.pth` cannot run code here.
"""
import collections
import io
import pickle
import struct
import zipfile

import numpy as np

from utils.cli import UserError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                  "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
                  "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(STORAGE_DTYPES[name]).newbyteorder("<")


class _Storage:
    """A flat array of one dtype; in the legacy format its bytes follow the pickle, so `array` is set later."""

    def __init__(self, storage_type, numel):
        self.dtype, self.numel, self.array = storage_type.dtype, numel, None


class _TensorRef:
    """A tensor as a strided view of a storage, made into an array once every storage is read."""

    def __init__(self, storage, storage_offset, size, stride, *_unused):
        self.storage, self.offset, self.size, self.stride = storage, storage_offset, tuple(size), tuple(stride)

    def array(self):
        flat = self.storage.array
        view = np.lib.stride_tricks.as_strided(flat[self.offset:], shape=self.size,
                                               strides=tuple(s * flat.dtype.itemsize for s in self.stride))
        return np.array(view, dtype=flat.dtype.newbyteorder("="))  # a native-order copy


ALLOWED_GLOBALS = {("collections", "OrderedDict"): collections.OrderedDict,
                   ("torch._utils", "_rebuild_tensor_v2"): _TensorRef,
                   ("torch._utils", "_rebuild_tensor"): _TensorRef,
                   ("torch._utils", "_rebuild_parameter"): lambda data, *_unused: data}


class _StateDictUnpickler(pickle.Unpickler):
    """Collects the storages a state_dict refers to (`storages`: key -> _Storage) and refuses every other global."""

    def __init__(self, file, source):
        super().__init__(file)
        self.source, self.storages = source, {}

    def find_class(self, module, name):
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) in ALLOWED_GLOBALS:
            return ALLOWED_GLOBALS[(module, name)]
        raise UserError(f"{self.source}: holds '{module}.{name}', which a plain state_dict does not; refusing to "
                        "unpickle it (load only weight files you trust, through torch itself)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise UserError(f"{self.source}: unknown persistent id {pid!r}; not a torch.save state_dict")
        storage_type, key, _location, numel = pid[1:5]
        if len(pid) > 5 and pid[5] is not None:
            raise UserError(f"{self.source}: storage views are not supported; re-save it with torch.save(state_dict)")
        return self.storages.setdefault(str(key), _Storage(storage_type, numel))


def _storage_array(storage, data, key, source):
    """The storage's values from its raw little-endian bytes, which must hold all of them."""
    if len(data) < storage.numel * storage.dtype.itemsize:
        raise UserError(f"{source}: truncated storage {key}; download the file again")
    return np.frombuffer(data, storage.dtype, count=storage.numel)


def _read_legacy(file, source):
    header = [pickle.load(file) for _ in range(3)]  # magic number, protocol version, system info
    if header[0] != LEGACY_MAGIC:
        raise UserError(f"{source}: not a torch.save file (wrong magic number)")
    if not header[2].get("little_endian", True):
        raise UserError(f"{source}: written on a big-endian machine; not supported")
    unpickler = _StateDictUnpickler(file, source)
    state = unpickler.load()
    for key in pickle.load(file):
        storage = unpickler.storages[str(key)]
        (count,) = struct.unpack("<q", file.read(8))
        if count != storage.numel:
            raise UserError(f"{source}: storage {key} holds {count} values, its tensors expect {storage.numel}")
        storage.array = _storage_array(storage, file.read(count * storage.dtype.itemsize), key, source)
    return state


def _read_zip(path, source):
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise UserError(f"{source}: zip file without one data.pkl; not a torch.save file")
        root = pickles[0][:-len("data.pkl")]
        unpickler = _StateDictUnpickler(io.BytesIO(archive.read(pickles[0])), source)
        state = unpickler.load()
        for key, storage in unpickler.storages.items():
            storage.array = _storage_array(storage, archive.read(f"{root}data/{key}"), key, source)
    return state


def read_state_dict(path):
    """name -> numpy array of a `.pth` state_dict (either torch.save format)."""
    try:
        if zipfile.is_zipfile(path):
            state = _read_zip(path, path)
        else:
            with open(path, "rb") as file:
                state = _read_legacy(file, path)
    except (OSError, pickle.UnpicklingError, EOFError, struct.error, KeyError, ValueError) as err:
        raise UserError(f"{path}: not a readable PyTorch state_dict ({type(err).__name__}: {err})") from None
    if not isinstance(state, dict) or not all(isinstance(v, _TensorRef) for v in state.values()):
        raise UserError(f"{path}: holds a {type(state).__name__} that is not a state_dict of tensors")
    return collections.OrderedDict((name, ref.array()) for name, ref in state.items())
