"""memfd, seal and mapping helpers shared by the attach client and the worker.

Standard library only. The one subtle part is ``release_writable_mapping``: how to give up a
writable shared mapping that user objects (numpy arrays, memoryviews) still point into, so that
the memfd can be write-sealed without ``BufferError`` (``mmap.close()`` with exported buffers) or
``EBUSY`` (``F_SEAL_WRITE`` while a writable shared mapping exists). See docs/worker-protocol.md,
"Outputs while views are alive".
"""

import errno
import fcntl
import mmap
import os
import socket

# fcntl(2) constants; older Pythons lack some of them (values from <linux/fcntl.h>).
F_ADD_SEALS = getattr(fcntl, "F_ADD_SEALS", 1033)
F_GET_SEALS = getattr(fcntl, "F_GET_SEALS", 1034)
F_SEAL_SEAL = getattr(fcntl, "F_SEAL_SEAL", 0x0001)
F_SEAL_SHRINK = getattr(fcntl, "F_SEAL_SHRINK", 0x0002)
F_SEAL_GROW = getattr(fcntl, "F_SEAL_GROW", 0x0004)
F_SEAL_WRITE = getattr(fcntl, "F_SEAL_WRITE", 0x0008)
F_SEAL_FUTURE_WRITE = getattr(fcntl, "F_SEAL_FUTURE_WRITE", 0x0010)
F_SEAL_EXEC = getattr(fcntl, "F_SEAL_EXEC", 0x0020)

MFD_CLOEXEC = getattr(os, "MFD_CLOEXEC", 0x0001)
MFD_ALLOW_SEALING = getattr(os, "MFD_ALLOW_SEALING", 0x0002)
MFD_NOEXEC_SEAL = getattr(os, "MFD_NOEXEC_SEAL", 0x0008)  # Linux 6.3+

MSG_CMSG_CLOEXEC = getattr(socket, "MSG_CMSG_CLOEXEC", 0x40000000)
MSG_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0x4000)

#: The seals an output carries: nobody can resize it, write it, or change its seals again.
OUTPUT_SEALS = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL

PAGE_SIZE = mmap.PAGESIZE


def close_all(fds):
    """Closes every descriptor in `fds`, ignoring ones already closed."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def create_memfd(name):
    """A memfd with MFD_CLOEXEC|MFD_ALLOW_SEALING (and MFD_NOEXEC_SEAL where the kernel has it)."""
    try:
        return os.memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        # Before Linux 6.3: retry without NOEXEC_SEAL, but never without ALLOW_SEALING.
        return os.memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)


def map_read_only(fd, size):
    """A PROT_READ mapping of `size` bytes (None for an empty buffer).

    MAP_SHARED first; kernels before 6.7 refuse MAP_SHARED on a write-sealed memfd even
    read-only (EPERM), and there a MAP_PRIVATE read-only mapping shows the same bytes."""
    if size == 0:
        return None
    try:
        return mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    except PermissionError:
        return mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)


def read_only_view(mapping):
    """A read-only memoryview of a mapping (an empty one for None).

    mmap's own buffer is writable unless it was made with ACCESS_READ, even over PROT_READ
    pages (a write would fault), so the view handed to users is made read-only explicitly."""
    if mapping is None:
        return memoryview(b"")
    return memoryview(mapping).toreadonly()


def release_quietly(obj):
    """Releases a memoryview or closes an mmap unless user objects still export it.

    With exports alive the object is left alone: it is released when the last of them is
    garbage-collected (mmap's deallocation unmaps). Returns True when released now."""
    try:
        if isinstance(obj, memoryview):
            obj.release()
        else:
            obj.close()
        return True
    except BufferError:
        return False


# -- giving up a writable mapping while views are alive -------------------------------------

_libc = None


def _libc_calls():
    """(ctypes, mmap, munmap) of libc through ctypes (standard library), or None where ctypes
    is unavailable (then the mmap module is used, with the costs its notes say)."""
    global _libc
    if _libc is None:
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc_mmap = libc.mmap
            libc_mmap.restype = ctypes.c_void_p
            libc_mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                                  ctypes.c_int, ctypes.c_long]
            libc_munmap = libc.munmap
            libc_munmap.restype = ctypes.c_int
            libc_munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
            _libc = (ctypes, libc_mmap, libc_munmap)
        except (ImportError, OSError, AttributeError):
            _libc = False
    return _libc or None


def _libc_mmap():
    lib = _libc_calls()
    return (lib[0], lib[1]) if lib else None


class _Unmapper:
    """Owns one mmap(2) region and unmaps it when collected: held by the ctypes array that
    exports the region, which every memoryview and numpy array over it keeps alive."""

    __slots__ = ("address", "length", "munmap")

    def __init__(self, address, length, munmap):
        self.address, self.length, self.munmap = address, length, munmap

    def __del__(self):
        self.munmap(self.address, self.length)


def map_input(fd, size):
    """A read-only memoryview (format 'B') of `size` bytes of `fd`, mapped PROT_READ.

    The region is unmapped when the last view derived from it (slices, numpy arrays) is
    gone, and it holds no descriptor: `fd` may be closed at once. (The mmap module keeps a dup()
    of the descriptor for as long as the mmap object lives, which a view kept by the kind would
    prolong; it is only the fallback where ctypes is missing.) MAP_SHARED first; MAP_PRIVATE on
    EPERM, for kernels before 6.7 on a write-sealed memfd."""
    if size == 0:
        return memoryview(b"")
    lib = _libc_calls()
    if lib is None:
        return read_only_view(map_read_only(fd, size))
    ctypes, libc_mmap, libc_munmap = lib
    failed = ctypes.c_void_p(-1).value
    address = libc_mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    if address == failed and ctypes.get_errno() == errno.EPERM:
        address = libc_mmap(None, size, mmap.PROT_READ, mmap.MAP_PRIVATE, fd, 0)
    if address == failed or address is None:
        err = ctypes.get_errno()
        raise OSError(err, "mmap of an input (%d bytes): %s" % (size, os.strerror(err)))
    unmapper = _Unmapper(address, size, libc_munmap)
    # A type of its own rather than `c_char * size`, which ctypes caches forever per length.
    region_type = type("MappedRegion", (ctypes.Array,), {"_type_": ctypes.c_char, "_length_": size})
    region = region_type.from_address(address)
    region._unmapper = unmapper
    return memoryview(region).cast("B").toreadonly()


MAP_FIXED = 0x10  # <asm-generic/mman-common.h>; the mmap module does not export it


def _round_up(n):
    return (n + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE


def remap_private(mapping, fd, length):
    """Replaces a writable MAP_SHARED mapping of `fd` in place, at the same addresses, so that
    views into it stay valid but no writable shared mapping of the memfd remains.

    [0, length) becomes a MAP_PRIVATE mapping of the same file (the same bytes; a write through a
    stale view now lands in a private copy, never in the sealed buffer); everything past the
    page that holds byte `length` becomes anonymous zero pages, so a view over bytes that
    ftruncate(length) is about to cut off reads zeros instead of raising SIGBUS. The mmap object
    keeps the address range and unmaps it when it is collected. Returns False when this cannot
    be done here (no ctypes), True when done."""
    lib = _libc_mmap()
    if lib is None:
        return False
    ctypes, libc_mmap = lib
    handle = ctypes.c_char.from_buffer(mapping)  # an export of its own, dropped right below
    address = ctypes.addressof(handle)
    del handle
    mapped = _round_up(len(mapping))
    kept = min(_round_up(length), mapped)
    prot = mmap.PROT_READ | mmap.PROT_WRITE
    if kept > 0:
        got = libc_mmap(address, kept, prot, mmap.MAP_PRIVATE | MAP_FIXED, fd, 0)
        if got != address:
            err = ctypes.get_errno()
            raise OSError(err, "mmap(MAP_FIXED|MAP_PRIVATE) over an output: %s" % os.strerror(err))
    if mapped > kept:
        got = libc_mmap(address + kept, mapped - kept, prot,
                        mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_FIXED, -1, 0)
        if got != address + kept:
            err = ctypes.get_errno()
            raise OSError(err, "mmap(MAP_FIXED|MAP_ANONYMOUS) over an output: %s" % os.strerror(err))
    return True


def seal_output(fd, length):
    """Trims the memfd to `length` and adds OUTPUT_SEALS; F_SEAL_WRITE proves that no writable
    shared mapping of it is left anywhere (the kernel refuses it with EBUSY otherwise)."""
    os.ftruncate(fd, length)
    fcntl.fcntl(fd, F_ADD_SEALS, OUTPUT_SEALS)
    seals = fcntl.fcntl(fd, F_GET_SEALS)
    needed = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE
    if seals & needed != needed:
        raise OSError(errno.EPERM, "seals 0x%x lack shrink|grow|write" % seals)


def write_all(fd, data):
    """write(2) until all of `data` is written; returns its length."""
    view = memoryview(data)
    total = len(view)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    return total
