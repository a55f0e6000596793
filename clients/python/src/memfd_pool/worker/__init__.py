"""An external worker for memfd-pool: serve job kinds written in Python (docs/worker-protocol.md).

Standard library only (Python 3.9+, Linux)::

    from memfd_pool import Worker

    w = Worker.connect("/run/user/1000/memfd-pool/worker.sock")

    @w.kind("invert", inputs=(1, 1), outputs=(1, 1), params={"type": "object"})
    def invert(ctx):
        src = ctx.inputs[0]                  # read-only memoryview over the input's mapping
        out = ctx.output(len(src))           # a writable mapping of a new memfd
        out[:] = bytes(255 - b for b in src) # or np.frombuffer(out, np.uint8)[:] = 255 - np.frombuffer(src, np.uint8)
        out.end(len(src))                    # its final length (default: the capacity)
        return {"bytes": len(src)}           # the job's result (a JSON object)

    w.run(concurrency=2)

or, with kinds in a file decorated with ``memfd_pool.kind``::

    python3 -m memfd_pool.worker --socket PATH kinds_module.py

Inputs arrive as read-only descriptors (SCM_RIGHTS) and are mapped, never copied. Outputs are
memfds created here, mapped writable for the kind, then trimmed and sealed (shrink, grow, write,
seal) before they are sent. Both work while the kind's numpy arrays or memoryviews are still
alive after it returns: see ``memfd.remap_private`` and docs/worker-protocol.md.
"""

import array
import errno
import mmap
import os
import queue
import socket
import sys
import threading
import time
import traceback

from ..channel import MAX_FDS, MAX_MESSAGE, Channel, ChannelError, ConnectionClosed, encode
from ..memfd import (
    close_all, create_memfd, map_input, release_quietly, remap_private, seal_output, write_all,
)

PROTOCOL = 1
#: A job still running after this long tells the server it started (with its descriptor
#: numbers, for the dashboard); a faster one answers 'done' only: one message instead of two.
STARTED_AFTER_S = 0.002
#: progress() sends at most this often (the last value before 'done' is not needed: done is 1).
PROGRESS_INTERVAL_S = 0.02


class WorkerRefused(Exception):
    """The server refused this worker ({t: 'refused', error: {code, message}})."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message


class Cancelled(Exception):
    """Raised by ctx.check_cancelled() once the server has cancelled the job."""


def default_socket_path():
    """$MEMFD_POOL_WORKER_SOCKET, else beside the attach socket's default place."""
    env = os.environ.get("MEMFD_POOL_WORKER_SOCKET")
    if env:
        return env
    attach = os.environ.get("MEMFD_POOL_ATTACH_SOCKET")
    if attach:
        return os.path.join(os.path.dirname(attach), "worker.sock")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "memfd-pool", "worker.sock")
    return os.path.join("run", "worker.sock")


# -- kinds ---------------------------------------------------------------------------------

def _bounds(value, what):
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValueError("%s must be N or (min, max)" % what) from None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) or not 0 <= low <= high:
        raise ValueError("%s must be integers with 0 <= min <= max" % what)
    return low, high


class KindSpec:
    """A kind as declared: its name, bounds, params schema and the function that runs it."""

    def __init__(self, fn, name, inputs, outputs, params, description):
        if not isinstance(name, str) or not name:
            raise ValueError("a kind needs a name")
        if params is not None and not isinstance(params, dict):
            raise ValueError("params must be a JSON Schema (a dict) or None")
        self.fn = fn
        self.name = name
        self.inputs = _bounds(inputs, "inputs")
        self.outputs = _bounds(outputs, "outputs")
        self.params = params
        if description is None:
            doc = (getattr(fn, "__doc__", None) or "").strip()
            description = doc.splitlines()[0] if doc else ""
        self.description = description

    def report(self):
        """The KindReport sent in 'ready'."""
        return {
            "name": self.name,
            "description": self.description,
            "inputs": {"min": self.inputs[0], "max": self.inputs[1]},
            "outputs": {"min": self.outputs[0], "max": self.outputs[1]},
            "params": self.params,
        }


def kind(name, inputs=(0, 32), outputs=(0, 1), params=None, description=None):
    """Marks a function as a kind, for ``python3 -m memfd_pool.worker FILE`` (or
    ``Worker.add_module``). Same arguments as ``Worker.kind``."""
    def mark(fn):
        fn.__memfd_pool_kind__ = KindSpec(fn, name, inputs, outputs, params, description)
        return fn
    return mark


# -- a job's context -----------------------------------------------------------------------

#: Python 3.13+: the mmap object keeps no dup() of the descriptor (one less to hold while a
#: kind's view of an output outlives its job). Earlier versions keep one until the view is gone.
_UNTRACKED = {"trackfd": False} if sys.version_info >= (3, 13) else {}


class Output(mmap.mmap):
    """A new memfd mapped writable for the kind: an mmap (buffer protocol, slicing, write())
    with ``end(length)`` to say how many of its bytes are the output (default: all)."""

    def end(self, length):
        if not isinstance(length, int) or isinstance(length, bool) or not 0 <= length <= self.capacity:
            raise ValueError("end(length) needs 0 <= length <= capacity (%d)" % self.capacity)
        self.length = length


class _EmptyOutput(bytearray):
    """ctx.output(0): nothing to map (mmap cannot be empty), still an output."""

    capacity = 0
    length = 0
    fd = -1

    def end(self, length):
        if length != 0:
            raise ValueError("end(length) needs 0 <= length <= capacity (0)")


class Context:
    """What a kind function gets: ``inputs``, ``params``, ``output()``, ``progress()``,
    ``cancelled``."""

    def __init__(self, worker, job, spec, params, inputs):
        self.job = job
        self.kind = spec.name
        self.params = params
        #: One read-only memoryview per input, over the mapping (no copy).
        self.inputs = inputs
        self._worker = worker
        self._spec = spec
        self._outputs = []
        self._cancel = threading.Event()
        self.cancel_reason = None
        self._last_progress = 0.0

    @property
    def cancelled(self):
        """True once the server cancelled the job (CANCELLED) or it timed out (TIMEOUT)."""
        return self._cancel.is_set()

    def check_cancelled(self):
        """Raises Cancelled when the job was cancelled: call it between steps of a long kind."""
        if self._cancel.is_set():
            raise Cancelled(self.cancel_reason or "CANCELLED")

    def wait_cancelled(self, timeout):
        """Sleeps up to `timeout` seconds, waking early on cancel; returns ctx.cancelled."""
        return self._cancel.wait(timeout)

    def progress(self, fraction):
        """Reports progress (0..1), at most every 20 ms."""
        fraction = min(1.0, max(0.0, float(fraction)))
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        self._worker._send_progress(self.job, fraction)

    def output(self, capacity):
        """A new output of up to `capacity` bytes: a writable mapping; call ``.end(n)`` for a
        shorter one. Outputs are sent in the order they were made."""
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 0:
            raise ValueError("output(capacity) needs a byte count >= 0")
        if len(self._outputs) >= self._spec.outputs[1]:
            raise ValueError("kind %r declares at most %d output(s)" % (self.kind, self._spec.outputs[1]))
        if capacity == 0:
            out = _EmptyOutput()
            self._outputs.append(out)
            return out
        fd = create_memfd("memfd-pool-out:%s:%d" % (self.job, len(self._outputs)))
        try:
            os.ftruncate(fd, capacity)
            out = Output(fd, capacity, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE, **_UNTRACKED)
        except BaseException:
            os.close(fd)
            raise
        out.fd = fd
        out.capacity = capacity
        out.length = capacity
        self._outputs.append(out)
        return out


def _finish_output(out):
    """Gives up our writable mapping of an output and seals it -> its descriptor (ours to close).

    Views the kind left alive (numpy arrays over the output) keep working: if the mapping cannot
    be closed, it is replaced in place by a private one (remap_private), so no writable shared
    mapping remains and F_SEAL_WRITE succeeds. Where that cannot be done, the bytes are copied
    into a fresh memfd (the only copy this module ever makes, and only in that case)."""
    if isinstance(out, _EmptyOutput):
        fd = create_memfd("memfd-pool-out:empty")
        try:
            seal_output(fd, 0)
        except BaseException:
            os.close(fd)
            raise
        return fd
    fd, length = out.fd, out.length
    out.fd = -1
    try:
        if out.closed:
            raise ValueError("the kind closed an output before the job ended")
        if not release_quietly(out) and not remap_private(out, fd, length):
            copy = create_memfd("memfd-pool-out:copy")
            try:
                write_all(copy, memoryview(out)[:length])
                seal_output(copy, length)
            except BaseException:
                os.close(copy)
                raise
            os.close(fd)
            return copy
        seal_output(fd, length)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _discard_outputs(outputs):
    for out in outputs:
        if getattr(out, "fd", -1) >= 0:
            os.close(out.fd)
            out.fd = -1
        if isinstance(out, Output) and not out.closed:
            release_quietly(out)


class _Job:
    def __init__(self, message, fds, spec):
        self.id = message["job"]
        self.message = message
        self.fds = fds
        self.spec = spec
        self.context = None
        self.announced = False
        self.finished = False
        self.start = 0.0
        self.cancel_reason = None


# -- the worker ----------------------------------------------------------------------------

class Worker:
    """One connection to the worker socket serving the kinds registered on it."""

    def __init__(self, channel, worker_id, name=None):
        self.channel = channel
        #: The id the server gave this worker (as GET /v1/workers lists it).
        self.id = worker_id
        self.name = name
        self.kinds = {}
        self._jobs = {}
        self._jobs_lock = threading.Lock()
        self._queue = queue.Queue()
        self._shutting_down = False
        self._stop = threading.Event()
        self._announce = threading.Condition()
        self.accepted = None

    @classmethod
    def connect(cls, path=None, token=None, name=None, timeout=30.0):
        """Connects and says hello; raises WorkerRefused if the server will not take us
        (wrong token, uid not allowed) and OSError if nothing listens at `path`."""
        if token is None:
            token = os.environ.get("MEMFD_POOL_WORKER_TOKEN") or None
        channel = Channel.connect(path or default_socket_path(), timeout)
        try:
            hello = {"t": "hello", "pid": os.getpid(), "protocol": PROTOCOL}
            if token is not None:
                hello["token"] = token
            if name is not None:
                hello["name"] = name
            channel.send(hello)
            reply = _handshake_reply(channel, "welcome")
            return cls(channel, reply.get("worker"), name)
        except BaseException:
            channel.close()
            raise

    def close(self):
        """Disconnects (from any thread): run() returns "closed"; running jobs see ctx.cancelled."""
        self._stop.set()
        self._hang_up()
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def kind(self, name, inputs=(0, 32), outputs=(0, 1), params=None, description=None):
        """Decorator: serve `name` with this function, ``fn(ctx) -> dict | None``.

        inputs, outputs: N or (min, max) buffers; params: the JSON Schema the server checks
        a job's params against before the job reaches us (None: any object)."""
        def register(fn):
            self.add(KindSpec(fn, name, inputs, outputs, params, description))
            return fn
        return register

    def add(self, spec):
        if spec.name in self.kinds:
            raise ValueError("kind %r is registered twice" % spec.name)
        self.kinds[spec.name] = spec

    def add_module(self, module):
        """Registers every function of `module` marked with ``memfd_pool.kind``; returns how many."""
        found = 0
        for value in list(vars(module).values()):
            spec = getattr(value, "__memfd_pool_kind__", None)
            if isinstance(spec, KindSpec):
                self.add(spec)
                found += 1
        return found

    # -- running ----------------------------------------------------------------------------

    def run(self, concurrency=1):
        """Declares the kinds, then runs jobs, `concurrency` at once, until the server closes
        the connection or asks us to shut down (returns "shutdown" or "closed"). Raises
        WorkerRefused when the server will not take a kind."""
        if not self.kinds:
            raise ValueError("no kinds registered: use @worker.kind(...) first")
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError("concurrency must be an integer >= 1")
        self.concurrency = concurrency
        self.channel.send({"t": "ready", "threads": concurrency,
                           "kinds": [spec.report() for spec in self.kinds.values()]})
        self.accepted = _handshake_reply(self.channel, "accepted").get("kinds", [])
        self.channel.settimeout(None)
        for i in range(concurrency):
            threading.Thread(target=self._thread, name="memfd-pool-job-%d" % i, daemon=True).start()
        threading.Thread(target=self._announcer, name="memfd-pool-announcer", daemon=True).start()
        try:
            return self._receive_loop()
        finally:
            self._stop.set()
            for _ in range(concurrency):
                self._queue.put(None)
            with self._announce:
                self._announce.notify_all()
            with self._jobs_lock:
                jobs = list(self._jobs.values())
            for job in jobs:
                self._cancel(job, "DISCONNECTED")
            self.channel.close()

    def _receive_loop(self):
        while True:
            try:
                message, fds = self.channel.receive()
            except ConnectionClosed:
                return "shutdown" if self._shutting_down else "closed"
            except ChannelError as exc:
                # The channel already closed what came with it; the job it named (if any)
                # times out on the server. Nothing else can be done with a broken message.
                sys.stderr.write("memfd-pool worker: %s\n" % exc)
                continue
            try:
                if self._handle(message, fds):
                    return "shutdown"
            except ConnectionClosed:
                return "shutdown" if self._shutting_down else "closed"

    def _handle(self, message, fds):
        """One message from the server; True when we are done (shutdown with nothing running)."""
        t = message["t"]
        if t == "batch":
            parts = message.get("messages")
            parts = parts if isinstance(parts, list) else []
            counts = [p.get("fdCount", 0) if isinstance(p, dict) and isinstance(p.get("fdCount"), int) else 0
                      for p in parts]
            if sum(counts) != len(fds) or any(c < 0 for c in counts):
                close_all(fds)
                for part in parts:
                    if isinstance(part, dict) and part.get("t") == "run":
                        self._fail(part.get("job"), "PROTOCOL_ERROR", "The batch did not account for its descriptors")
                return False
            offset = 0
            done = False
            for part, count in zip(parts, counts):
                mine = fds[offset:offset + count]
                offset += count
                if not isinstance(part, dict) or not isinstance(part.get("t"), str) or part["t"] == "batch":
                    close_all(mine)
                    continue
                done = self._handle(part, mine) or done
            return done
        if t != "run" and fds:
            close_all(fds)
        if t == "ping":
            self.channel.send({"t": "pong", "seq": message.get("seq")})
        elif t == "run":
            self._run(message, fds)
        elif t == "cancel":
            with self._jobs_lock:
                job = self._jobs.get(message.get("job"))
            if job is not None:
                self._cancel(job, message.get("reason") if message.get("reason") in ("CANCELLED", "TIMEOUT") else "CANCELLED")
        elif t == "shutdown":
            self._shutting_down = True
            return self._idle()
        elif t == "refused":
            error = message.get("error") or {}
            sys.stderr.write("memfd-pool worker: the server closed this worker: %s: %s\n"
                             % (error.get("code"), error.get("message")))
        # 'forget' (no mapping outlives its job here) and unknown messages: nothing to do.
        return False

    def _idle(self):
        with self._jobs_lock:
            return self._shutting_down and not self._jobs

    def _run(self, message, fds):
        job_id = message.get("job")
        spec = self.kinds.get(message.get("kind"))
        inputs = message.get("inputs")
        count = message.get("fdCount")
        if not isinstance(job_id, str):
            close_all(fds)
            return
        if not isinstance(inputs, list) or count != len(fds) or len(inputs) != len(fds):
            close_all(fds)
            self._fail(job_id, "PROTOCOL_ERROR", "Expected %r descriptors for %d inputs, received %d"
                       % (count, len(inputs) if isinstance(inputs, list) else 0, len(fds)))
            return
        if spec is None or self._shutting_down:
            close_all(fds)
            if spec is None:
                self._fail(job_id, "UNKNOWN_KIND", "This worker does not serve %r" % message.get("kind"))
            else:
                self._fail(job_id, "SHUTTING_DOWN", "The worker is shutting down")
            return
        job = _Job(message, fds, spec)
        with self._jobs_lock:
            self._jobs[job_id] = job
        self._queue.put(job)

    def _cancel(self, job, reason):
        job.cancel_reason = reason
        ctx = job.context
        if ctx is not None:
            ctx.cancel_reason = reason
            ctx._cancel.set()

    def _thread(self):
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self._execute(job)
            except Exception:  # never lose a thread to a bug of ours
                traceback.print_exc()

    def _execute(self, job):
        views, outputs = [], []
        answer, answer_fds = None, []
        job.start = time.monotonic()
        try:
            for fd in job.fds:
                views.append(map_input(fd, os.fstat(fd).st_size))
            ctx = Context(self, job.id, job.spec, job.message.get("params") or {}, tuple(views))
            job.context = ctx  # first, so that a cancel arriving now is seen by one side or the other
            if job.cancel_reason is not None:
                ctx.cancel_reason = job.cancel_reason
                ctx._cancel.set()
            outputs = ctx._outputs
            self._schedule_started(job)
            result = job.spec.fn(ctx)
            if ctx.cancelled:
                raise Cancelled(ctx.cancel_reason)
            if result is None:
                result = {}
            if not isinstance(result, dict):
                raise TypeError("a kind returns a dict (its JSON result) or None, not %s" % type(result).__name__)
            if len(outputs) < job.spec.outputs[0]:
                raise ValueError("kind %r declares at least %d output(s); it made %d"
                                 % (job.spec.name, job.spec.outputs[0], len(outputs)))
            sizes = [out.length for out in outputs]
            pending = list(outputs)
            while pending:
                answer_fds.append(_finish_output(pending.pop(0)))
            outputs = []
            answer = {"t": "done", "job": job.id, "ok": True, "result": result,
                      "outputs": [{"size": n} for n in sizes], "fdCount": 0}
        except Cancelled as exc:
            answer = _failure(job.id, str(exc) if str(exc) in ("CANCELLED", "TIMEOUT") else "CANCELLED",
                              "The job was stopped (%s)" % exc)
        except Exception as exc:
            answer = _failure(job.id, "HANDLER_ERROR", "%s: %s" % (type(exc).__name__, exc))
        finally:
            # Everything of the job is released before its answer leaves: once the server reads
            # 'done', this process holds none of the job's descriptors (mappings the kind's own
            # objects still use go when those objects do).
            _discard_outputs(outputs)
            for view in views:
                release_quietly(view)  # unmaps now unless the kind kept a view of it
            close_all(job.fds)
        answer["runMs"] = round((time.monotonic() - job.start) * 1000, 3)
        try:
            self._answer(job, answer, answer_fds)
        finally:
            close_all(answer_fds)

    def _answer(self, job, answer, fds):
        """Sends 'outputs' messages for descriptors past one message's worth, then 'done'."""
        if answer["ok"]:
            try:
                encode(answer["result"])
            except (TypeError, ValueError) as exc:
                answer, fds = _failure(job.id, "HANDLER_ERROR", "The result is not JSON: %s" % exc), []
        # Descriptors go MAX_FDS to a message: full 'outputs' messages first, the rest with 'done'.
        tail_length = (len(fds) % MAX_FDS or MAX_FDS) if fds else 0
        head, tail = fds[:len(fds) - tail_length], fds[len(fds) - tail_length:]
        if answer["ok"]:
            answer["fdCount"] = len(tail)
            payload = encode(answer)
            if len(payload) > MAX_MESSAGE:
                answer = _failure(job.id, "RESULT_TOO_LARGE",
                                  "The result is %d bytes of JSON; at most about %d fit in a message"
                                  % (len(payload), MAX_MESSAGE - 1024))
                head, tail = [], []
        payload = encode(answer)
        with self.channel.send_lock:
            job.finished = True
            with self._jobs_lock:
                self._jobs.pop(job.id, None)
            try:
                for i in range(0, len(head), MAX_FDS):
                    chunk = head[i:i + MAX_FDS]
                    self.channel.sock.sendmsg([encode({"t": "outputs", "job": job.id, "fdCount": len(chunk)})],
                                              _rights(chunk), _NOSIGNAL)
                try:
                    self.channel.sock.sendmsg([payload], _rights(tail), _NOSIGNAL)
                except OSError as exc:
                    if exc.errno != errno.EMSGSIZE:
                        raise
                    # Over the socket's send buffer (about 208 KiB by default), below the
                    # protocol's limit: the job fails, the worker goes on.
                    self.channel.sock.sendmsg([encode(_failure(job.id, "RESULT_TOO_LARGE", "The answer is %d bytes of JSON; it does not fit in one message" % len(payload)))], [], _NOSIGNAL)
            except OSError:
                pass  # the server went away: nobody wants the answer
        if self._idle():
            # A shutdown waited for this job: shutting the socket down wakes the receive loop
            # (a close() would not interrupt a recvmsg blocked in another thread).
            self._hang_up()

    def _hang_up(self):
        try:
            self.channel.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _fail(self, job_id, code, message):
        if isinstance(job_id, str):
            try:
                self.channel.send(_failure(job_id, code, message))
            except (ConnectionClosed, OSError):
                pass

    # -- 'started' and progress ---------------------------------------------------------------

    def _schedule_started(self, job):
        with self._announce:
            self._announce.notify()

    def _send_started(self, job):
        """Under the send lock: never after the job's 'done'."""
        with self.channel.send_lock:
            if job.announced or job.finished:
                return
            job.announced = True
            try:
                self.channel.sock.sendmsg([encode({"t": "started", "job": job.id, "fds": list(job.fds)})], [], _NOSIGNAL)
            except OSError:
                pass

    def _send_progress(self, job_id, fraction):
        with self._jobs_lock:
            job = self._jobs.get(job_id)
        if job is None:
            return
        self._send_started(job)  # the server learns who holds the inputs before it shows progress
        with self.channel.send_lock:
            if job.finished:
                return
            try:
                self.channel.sock.sendmsg([encode({"t": "progress", "job": job_id, "progress": fraction})], [], _NOSIGNAL)
            except OSError:
                pass

    def _announcer(self):
        """Sends 'started' for jobs still running STARTED_AFTER_S after they began."""
        while not self._stop.is_set():
            with self._announce:
                with self._jobs_lock:
                    running = [j for j in self._jobs.values() if j.start and not j.announced and not j.finished]
                if not running:
                    self._announce.wait(1.0)
                    continue
                now = time.monotonic()
                due = [j for j in running if now - j.start >= STARTED_AFTER_S]
                if not due:
                    self._announce.wait(max(0.0005, min(j.start for j in running) + STARTED_AFTER_S - now))
                    continue
            for job in due:
                self._send_started(job)


_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0x4000)


def _rights(fds):
    return [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())] if fds else []


def _failure(job_id, code, message):
    return {"t": "done", "job": job_id, "ok": False, "error": {"code": code, "message": message[:2000]}, "fdCount": 0}


def _handshake_reply(channel, expected):
    try:
        reply, fds = channel.receive()
    except ConnectionClosed:
        raise WorkerRefused("CONNECTION_CLOSED", "the server closed the connection during the handshake") from None
    close_all(fds)
    if reply.get("t") == "refused":
        error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
        raise WorkerRefused(str(error.get("code", "REFUSED")), str(error.get("message", "")))
    if reply.get("t") != expected:
        raise WorkerRefused("PROTOCOL_ERROR", "expected %r from the server, got %r" % (expected, reply.get("t")))
    return reply
