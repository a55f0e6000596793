"""``python3 -m memfd_pool.worker [--socket PATH] [--token T] [--concurrency N] KINDS.py ...``

Loads the files, registers every function marked with ``@memfd_pool.kind(...)``, connects and
serves until the server closes the connection (exit 1) or asks the worker to stop (exit 0).
Exit 1 also when the server refuses the worker (its code on stderr), 2 for a kinds file that
cannot be loaded or defines no kind, 3 when nothing listens at the socket.
"""

import argparse
import importlib
import importlib.util
import os
import sys

from . import Worker, WorkerRefused


def load_kinds_file(worker, target):
    """Registers the marked kinds of a .py file (or an importable module name)."""
    if target.endswith(".py") or os.sep in target:
        name = "memfd_pool_kinds_%s" % os.path.splitext(os.path.basename(target))[0].replace("-", "_")
        spec = importlib.util.spec_from_file_location(name, target)
        if spec is None or spec.loader is None:
            raise ImportError("cannot load %s" % target)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    if worker.add_module(module) == 0:
        raise ValueError("%s defines no kind (decorate functions with @memfd_pool.kind(...))" % target)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python3 -m memfd_pool.worker",
        description="Serve job kinds from Python files to a memfd-pool server (docs/worker-protocol.md)")
    parser.add_argument("files", nargs="+", metavar="KINDS", help="a .py file (or module name) with @memfd_pool.kind functions")
    parser.add_argument("--socket", default=None,
                        help="worker socket path (default: $MEMFD_POOL_WORKER_SOCKET, else beside the attach socket)")
    parser.add_argument("--token", default=None, help="worker token (default: $MEMFD_POOL_WORKER_TOKEN)")
    parser.add_argument("--concurrency", type=int, default=1, help="jobs run at once (default 1)")
    parser.add_argument("--name", default=None, help="a name shown beside this worker's id")
    args = parser.parse_args(argv)
    try:
        worker = Worker.connect(args.socket, token=args.token, name=args.name)
    except WorkerRefused as exc:
        print("%s: %s" % (exc.code, exc.message), file=sys.stderr)
        return 1
    except OSError as exc:
        print("memfd_pool.worker: %s" % exc, file=sys.stderr)
        return 3
    try:
        for target in args.files:
            load_kinds_file(worker, target)
        print("memfd_pool.worker: %s serves %s" % (worker.id, ", ".join(sorted(worker.kinds))), file=sys.stderr, flush=True)
        outcome = worker.run(concurrency=args.concurrency)
    except WorkerRefused as exc:
        print("%s: %s" % (exc.code, exc.message), file=sys.stderr)
        return 1
    except (ImportError, ValueError, SyntaxError) as exc:
        print("memfd_pool.worker: %s" % exc, file=sys.stderr)
        return 2
    finally:
        worker.close()
    print("memfd_pool.worker: %s" % ("the server asked us to stop" if outcome == "shutdown" else "the server closed the connection"),
          file=sys.stderr)
    return 0 if outcome == "shutdown" else 1


if __name__ == "__main__":
    sys.exit(main())
