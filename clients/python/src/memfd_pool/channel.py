"""One SOCK_SEQPACKET connection carrying JSON messages with descriptors (SCM_RIGHTS).

The receiving discipline of docs/attach-protocol.md and docs/worker-protocol.md: recvmsg with
MSG_CMSG_CLOEXEC and room for more descriptors than any message may carry, every control message
walked, MSG_CTRUNC/MSG_TRUNC treated as errors after closing whatever arrived.
"""

import array
import json
import socket
import threading

from .memfd import MSG_CMSG_CLOEXEC, MSG_NOSIGNAL, close_all

#: The worker protocol's limits (workers/protocol.ts WORKER_CHANNEL).
MAX_MESSAGE = 256 * 1024
MAX_FDS = 32
#: Room to *see* (and close) descriptors beyond what a message may carry.
FDS_ROOM = 64


class ChannelError(Exception):
    """The connection broke the protocol or closed."""

    def __init__(self, message, code="PROTOCOL_ERROR"):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message


class ConnectionClosed(ChannelError):
    def __init__(self, message="the server closed the connection"):
        super().__init__(message, "CONNECTION_CLOSED")


def encode(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


class Channel:
    """Messages both ways; sends from several threads are serialised (one sendmsg each)."""

    def __init__(self, sock):
        self.sock = sock
        self.send_lock = threading.Lock()

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

    def settimeout(self, timeout):
        self.sock.settimeout(timeout)

    def send_bytes(self, payload, fds=()):
        """One message; the caller keeps its descriptors. Raises ConnectionClosed on EPIPE."""
        if len(payload) > MAX_MESSAGE:
            raise ValueError("message is %d bytes; the limit is %d" % (len(payload), MAX_MESSAGE))
        ancdata = []
        if fds:
            ancdata = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        with self.send_lock:
            try:
                sent = self.sock.sendmsg([payload], ancdata, MSG_NOSIGNAL)
            except (BrokenPipeError, ConnectionResetError):
                raise ConnectionClosed() from None
            except OSError as exc:
                if self.sock.fileno() == -1:
                    raise ConnectionClosed("the connection was closed here") from None
                raise
        if sent != len(payload):  # cannot happen on SOCK_SEQPACKET, but never assume
            raise ChannelError("short send: %d of %d bytes" % (sent, len(payload)))

    def send(self, obj, fds=()):
        self.send_bytes(encode(obj), fds)

    def receive(self):
        """One message -> (object, [descriptors]); the caller owns the descriptors.

        Raises ConnectionClosed at the end of the connection, ChannelError on a broken message
        (after closing every descriptor that came with it)."""
        try:
            data, ancdata, flags, _addr = self.sock.recvmsg(
                MAX_MESSAGE + 1, socket.CMSG_SPACE(FDS_ROOM * 4), MSG_CMSG_CLOEXEC)
        except ConnectionResetError:
            # The server hung up with our message unread; its last message may still be queued.
            try:
                data, ancdata, flags, _addr = self.sock.recvmsg(
                    MAX_MESSAGE + 1, socket.CMSG_SPACE(FDS_ROOM * 4),
                    MSG_CMSG_CLOEXEC | socket.MSG_DONTWAIT)
            except OSError:
                raise ConnectionClosed("connection reset by the server") from None
        fds = []
        for level, kind, cdata in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                ints = array.array("i")
                ints.frombytes(cdata[: len(cdata) - len(cdata) % ints.itemsize])
                fds.extend(ints)
        if flags & socket.MSG_CTRUNC:
            close_all(fds)
            raise ChannelError("control data truncated (MSG_CTRUNC): descriptors were lost "
                               "(is this process at its open-file limit?)", "DESCRIPTORS_LOST")
        if flags & socket.MSG_TRUNC or len(data) > MAX_MESSAGE:
            close_all(fds)
            raise ChannelError("message larger than %d bytes" % MAX_MESSAGE)
        if not data and not fds:
            raise ConnectionClosed()
        try:
            obj = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            close_all(fds)
            raise ChannelError("message is not UTF-8 JSON: %r" % data[:200]) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("t"), str):
            close_all(fds)
            raise ChannelError("message is not an object with a string \"t\": %r" % data[:200])
        return obj, fds
