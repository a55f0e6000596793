#!/usr/bin/env python3
"""Client for the memfd-pool attach socket (docs/attach-protocol.md).

Standard library only (Python 3.9+, Linux). Importable::

    from memfd_pool.attach import AttachClient
    with AttachClient.connect(path) as client:
        info, fd = client.attach(buffer_id, attach_token)        # read-only descriptor
        buffer = client.register(memfd, name="frames")            # sealed memfd -> new buffer

and runnable (``python3 -m memfd_pool.attach``, or ``examples/python/attach.py``)::

    attach.py ping     [--socket PATH]
    attach.py read     [--socket PATH] --buffer ID --token TOKEN [--out FILE] [--unsealed]
                       [--verify-rest]
    attach.py register [--socket PATH] (--file FILE | --size N) [--name NAME]

Exit status: 0 success; 1 the server answered {"ok": false} (its error code on
stderr); 2 usage; 3 protocol, system or REST failure (on stderr).

A descriptor number is only meaningful inside the process that holds it: the
descriptor returned by attach() is this process's own, installed by the kernel
from SCM_RIGHTS. Never print it for another process to use.
"""

import argparse
import array
import errno
import fcntl
import hashlib
import json
import os
import socket
import sys
import urllib.error
import urllib.request

from .memfd import (  # noqa: F401  (re-exported: attach.py's names before the move)
    F_ADD_SEALS, F_GET_SEALS, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE,
    F_SEAL_FUTURE_WRITE, F_SEAL_EXEC, MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_NOEXEC_SEAL,
    MSG_CMSG_CLOEXEC, MSG_NOSIGNAL, close_all as _close_all, create_memfd, map_read_only,
)

MAX_MESSAGE = 64 * 1024   # requests and replies are at most 64 KiB of JSON
MAX_FDS_RECEIVED = 16     # room to *see* (and close) descriptors a reply should not carry
REGISTER_SEALS = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE


class AttachError(Exception):
    """The server answered {"ok": false, "error": {"code", "message"}}."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message


class ProtocolError(AttachError):
    """The reply broke the protocol (truncated, not JSON, wrong descriptor count, closed)."""

    def __init__(self, message, code="PROTOCOL_ERROR"):
        super().__init__(code, message)


def default_socket_path():
    """--socket default: $MEMFD_POOL_ATTACH_SOCKET, then the server's own defaults."""
    env = os.environ.get("MEMFD_POOL_ATTACH_SOCKET")
    if env:
        return env
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "memfd-pool", "attach.sock")
    return os.path.join("run", "attach.sock")


class AttachClient:
    """One connection to the attach socket. Requests are answered in order, one reply each."""

    def __init__(self, sock):
        self.sock = sock
        self.last_reply = None  # the full JSON of the latest successful reply

    @classmethod
    def connect(cls, path, timeout=None):
        # Python sockets are created close-on-exec (non-inheritable) already.
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, "connect %s: %s" % (path, exc.strerror)) from None
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def peer_credentials(self):
        """(pid, uid, gid) of the server, from SO_PEERCRED (pid 0: another pid namespace)."""
        raw = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        return tuple(array.array("i", raw))

    # -- transport --------------------------------------------------------

    def _send(self, payload, fds):
        ancdata = []
        if fds:
            ancdata = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        try:
            sent = self.sock.sendmsg([payload], ancdata, MSG_NOSIGNAL)
        except (BrokenPipeError, ConnectionResetError) as exc:
            # The server may already have refused us (PEER_NOT_ALLOWED) and hung up:
            # its reply is still queued on our side, and says more than EPIPE does.
            try:
                self.sock.setblocking(False)
                reply, extra = self._receive()
            except (OSError, AttachError):
                raise ProtocolError("connection closed by the server (%s)" % exc,
                                    "CONNECTION_CLOSED") from None
            _close_all(extra)
            if isinstance(reply, dict) and reply.get("ok") is False:
                _raise_reply_error(reply)
            raise ProtocolError("connection closed by the server", "CONNECTION_CLOSED") from None
        if sent != len(payload):  # cannot happen on SOCK_SEQPACKET, but never assume
            raise ProtocolError("short send: %d of %d bytes" % (sent, len(payload)))

    def _receive(self):
        """One reply message -> (parsed JSON, [descriptors]); the caller owns the descriptors."""
        size, room = MAX_MESSAGE + 1, socket.CMSG_SPACE(MAX_FDS_RECEIVED * 4)
        try:
            data, ancdata, flags, _addr = self.sock.recvmsg(size, room, MSG_CMSG_CLOEXEC)
        except ConnectionResetError:
            # The server hung up with our request unread (e.g. after PEER_NOT_ALLOWED): the
            # kernel reports ECONNRESET first, but the server's last reply may still be queued.
            try:
                data, ancdata, flags, _addr = self.sock.recvmsg(
                    size, room, MSG_CMSG_CLOEXEC | socket.MSG_DONTWAIT)
            except OSError:
                raise ProtocolError("connection reset by the server", "CONNECTION_CLOSED") from None
        fds = []
        for level, kind, cdata in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                ints = array.array("i")
                ints.frombytes(cdata[: len(cdata) - len(cdata) % ints.itemsize])
                fds.extend(ints)
        if flags & socket.MSG_CTRUNC:
            _close_all(fds)
            raise ProtocolError("control data truncated (MSG_CTRUNC): descriptors were lost")
        if flags & socket.MSG_TRUNC or len(data) > MAX_MESSAGE:
            _close_all(fds)
            raise ProtocolError("reply larger than %d bytes" % MAX_MESSAGE)
        if not data and not fds:
            raise ProtocolError("connection closed by the server", "CONNECTION_CLOSED")
        try:
            reply = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            _close_all(fds)
            raise ProtocolError("reply is not UTF-8 JSON: %r" % data[:200]) from None
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            _close_all(fds)
            raise ProtocolError("reply is not an object with a boolean \"ok\": %r" % data[:200])
        return reply, fds

    def request(self, obj, fds=(), expect_fds=0):
        """Send one request (with `fds`, which the caller keeps) and return (reply, fds).

        On {"ok": true} exactly `expect_fds` descriptors must arrive, else everything
        received is closed and ProtocolError raised. On {"ok": false} AttachError is
        raised (and any descriptor that came with it closed).
        """
        payload = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if len(payload) > MAX_MESSAGE:
            raise ValueError("request is %d bytes; the limit is %d" % (len(payload), MAX_MESSAGE))
        self._send(payload, list(fds))
        reply, got = self._receive()
        if not reply["ok"]:
            _close_all(got)
            _raise_reply_error(reply)
        if len(got) != expect_fds:
            _close_all(got)
            raise ProtocolError("reply carried %d descriptor(s), expected %d"
                                % (len(got), expect_fds))
        self.last_reply = reply
        return reply, got

    # -- operations -------------------------------------------------------

    def ping(self):
        """-> {"ok": true, "pid": server pid}"""
        reply, _ = self.request({"op": "ping"})
        return reply

    def attach(self, buffer_id, token, mode="r", unsealed=False):
        """-> (buffer info {id, size, sealed}, descriptor). The caller closes the descriptor.

        mode "r" of a buffer that is not sealed yet is refused (BUFFER_NOT_SEALED) unless
        unsealed=True: its bytes may still change, and a read-only descriptor of it can be
        reopened writable through /proc/self/fd (the reply's "warning" says so).
        """
        if mode not in ("r", "rw"):
            raise ValueError("mode must be 'r' or 'rw'")
        req = {"op": "attach", "buffer": buffer_id, "token": token, "mode": mode}
        if unsealed:
            req["unsealed"] = True
        reply, fds = self.request(req, expect_fds=1)
        return reply.get("buffer"), fds[0]

    def register(self, fd, name=None):
        """Register a sealed memfd as a new buffer -> the Buffer object (with its attachToken).

        The server keeps its own copy; the caller still owns (and should close) `fd`.
        """
        req = {"op": "register"}
        if name is not None:
            req["name"] = name
        reply, _ = self.request(req, fds=[fd])
        return reply.get("buffer")


def _raise_reply_error(reply):
    err = reply.get("error")
    if not isinstance(err, dict):
        raise ProtocolError("error reply without an error object: %r" % (reply,))
    raise AttachError(str(err.get("code", "UNKNOWN")), str(err.get("message", "")))


def connect(path, timeout=None):
    return AttachClient.connect(path, timeout)


# -- memfd helpers ------------------------------------------------------------

def pattern_bytes(offset, length):
    """The deterministic fill of `register --size N`: byte i is (i * 31 + 7) mod 256."""
    return bytes(((offset + i) * 31 + 7) & 0xFF for i in range(length))


def fill_memfd(fd, src_path=None, size=None):
    """Write the file's bytes (or `size` bytes of the pattern) with write(2): no mapping is
    left behind, so F_SEAL_WRITE can be added afterwards (it fails EBUSY while a writable
    shared mapping exists)."""
    total = 0
    if src_path is not None:
        with open(src_path, "rb") as src:
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                total += _write_all(fd, chunk)
    else:
        period = pattern_bytes(0, 256 * 64)  # the pattern repeats every 256 bytes
        while total < size:
            total += _write_all(fd, period[: min(len(period), size - total)])
    os.ftruncate(fd, total)
    return total


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    return len(data)


def seal_for_register(fd):
    fcntl.fcntl(fd, F_ADD_SEALS, REGISTER_SEALS)
    seals = fcntl.fcntl(fd, F_GET_SEALS)
    if seals & REGISTER_SEALS != REGISTER_SEALS:
        raise OSError(errno.EPERM, "seals 0x%x lack shrink|grow|write" % seals)
    return seals


# -- REST (only for --verify-rest) ----------------------------------------------

def rest_call(base_url, method, path, body=None, content_type=None):
    url = base_url.rstrip("/") + path
    headers = {"Accept": "application/json"}
    token = os.environ.get("MEMFD_POOL_TOKEN")
    if token:
        headers["Authorization"] = "Bearer " + token
    if content_type:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")
        try:
            err = json.loads(text)["error"]
            raise AttachError(err["code"], "REST %s %s: %s" % (method, path, err["message"])) from None
        except (ValueError, KeyError, TypeError):
            raise ProtocolError("REST %s %s: HTTP %d %s" % (method, path, exc.code, text[:200]),
                                "REST_ERROR") from None
    except urllib.error.URLError as exc:
        raise ProtocolError("REST %s: %s" % (url, exc.reason), "REST_ERROR") from None


def rest_sha256(base_url, buffer_id, wait_ms=5000):
    job = rest_call(base_url, "POST", "/v1/jobs?wait=%d" % wait_ms,
                    json.dumps({"kind": "checksum", "inputs": [buffer_id],
                                "params": {"algorithm": "sha256"}}).encode(),
                    "application/json")
    if job.get("state") != "succeeded":
        raise ProtocolError("checksum job %s is %s: %r" % (job.get("id"), job.get("state"),
                                                           job.get("error")), "REST_ERROR")
    return job["result"]["digest"]


# -- CLI ----------------------------------------------------------------------

def cmd_ping(client, _args):
    reply = client.ping()
    print(json.dumps(reply, separators=(",", ":")))


def cmd_read(client, args):
    info, fd = client.attach(args.buffer, args.token, "r", unsealed=args.unsealed)
    if client.last_reply is not None and client.last_reply.get("warning"):
        print("attach.py: warning: %s" % client.last_reply["warning"], file=sys.stderr)
    try:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY:
            print("attach.py: warning: asked for mode r but the descriptor is writable",
                  file=sys.stderr)
        size = os.fstat(fd).st_size
        if isinstance(info, dict) and info.get("size") not in (None, size):
            print("attach.py: warning: reply says size %s, the descriptor has %d"
                  % (info.get("size"), size), file=sys.stderr)
        mapping = map_read_only(fd, size)
    finally:
        os.close(fd)  # the mapping keeps the memory alive on its own
    try:
        data = memoryview(mapping) if mapping is not None else memoryview(b"")
        try:
            digest = None
            if args.out:
                with open(args.out, "wb") as out:
                    out.write(data)
            if not args.out or args.verify_rest:
                digest = hashlib.sha256(data).hexdigest()
        finally:
            data.release()
    finally:
        if mapping is not None:
            mapping.close()
    if not args.out:
        print("sha256 %s size %d" % (digest, size))
    if args.verify_rest:
        remote = rest_sha256(args.rest, args.buffer)
        if remote != digest:
            print("attach.py: MISMATCH: sha256 %s here, %s from the REST checksum job"
                  % (digest, remote), file=sys.stderr)
            return 3
        print("attach.py: REST checksum job agrees: sha256 %s" % remote, file=sys.stderr)
    return 0


def cmd_register(client, args):
    name = args.name if args.name is not None else "attach.py"
    fd = create_memfd(name)
    try:
        fill_memfd(fd, src_path=args.file, size=args.size)
        seal_for_register(fd)
        buffer = client.register(fd, args.name)
    finally:
        os.close(fd)  # the server holds its own copy now
    reply = client.last_reply if client.last_reply is not None else {"ok": True, "buffer": buffer}
    print(json.dumps(reply, separators=(",", ":")))


def build_parser():
    parser = argparse.ArgumentParser(
        prog="attach.py", description="memfd-pool attach socket client (docs/attach-protocol.md)")
    sub = parser.add_subparsers(dest="command", required=True)

    def add_socket(p):
        p.add_argument("--socket", default=default_socket_path(),
                       help="attach socket path (default: $MEMFD_POOL_ATTACH_SOCKET, else "
                            "$XDG_RUNTIME_DIR/memfd-pool/attach.sock, else ./run/attach.sock; "
                            "now %(default)s)")
        p.add_argument("--timeout", type=float, default=30.0, help="seconds per reply (default 30)")

    p = sub.add_parser("ping", help="check the connection; prints the reply")
    add_socket(p)
    p.set_defaults(run=cmd_ping)

    p = sub.add_parser("read", help="attach read-only, map, hash or copy out the bytes")
    add_socket(p)
    p.add_argument("--buffer", required=True, help="buffer id")
    p.add_argument("--token", required=True, help="the buffer's attachToken")
    p.add_argument("--out", help="write the bytes to this file instead of printing the sha256")
    p.add_argument("--unsealed", action="store_true",
                   help="also read a buffer that is not sealed yet (its bytes may still change)")
    p.add_argument("--verify-rest", action="store_true",
                   help="also run a REST checksum job and compare (exit 3 on mismatch)")
    p.add_argument("--rest", default=os.environ.get("MEMFD_POOL_URL", "http://127.0.0.1:8080"),
                   help="REST base URL for --verify-rest (default: $MEMFD_POOL_URL or "
                        "http://127.0.0.1:8080; $MEMFD_POOL_TOKEN is sent as a Bearer token)")
    p.set_defaults(run=cmd_read)

    p = sub.add_parser("register", help="seal a new memfd and register it as a buffer")
    add_socket(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--file", help="fill the memfd with this file's bytes")
    src.add_argument("--size", type=int, help="fill N bytes with the pattern (i*31+7) mod 256")
    p.add_argument("--name", help="buffer name")
    p.set_defaults(run=cmd_register)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if getattr(args, "size", None) is not None and args.size < 0:
        print("attach.py: --size must be >= 0", file=sys.stderr)
        return 2
    try:
        with AttachClient.connect(args.socket, timeout=args.timeout) as client:
            return args.run(client, args) or 0
    except ProtocolError as exc:
        print("attach.py: %s" % exc, file=sys.stderr)
        return 3
    except AttachError as exc:
        print("%s: %s" % (exc.code, exc.message), file=sys.stderr)
        return 1
    except socket.timeout:
        print("attach.py: no reply within %s s" % args.timeout, file=sys.stderr)
        return 3
    except OSError as exc:
        print("attach.py: %s" % exc, file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
