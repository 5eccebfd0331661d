"""`scratchdl serve MODEL.npz`: a local web page where you draw a digit and watch the
model read it: the 28x28 input as the network receives it, and the ten probabilities."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

from scratchdl.app.commands.common import describe, number
from scratchdl.runtime.errors import ScratchdlError, UsageError

GET_A_MODEL = ("serve needs a model file: make one with `scratchdl train --save model.npz` "
               "(or `scratchdl import-book FILE.pkl --model ... --out model.npz` from the "
               "book's weights), then run `scratchdl serve model.npz`")
GET_THE_EXTRA = "serve needs Starlette and uvicorn: ${extra:web}"


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free one) to 65535."""
    port = number(text, int, 0, False, "a port number from 0 to 65535")
    if port > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535, got {text}")
    return port


def add_parser(sub) -> None:
    p = sub.add_parser(
        "serve", help="a web page to draw a digit and watch the model read it",
        description=__doc__ + " Drop or choose an image file to read it the same way. The "
        "numbers are exactly those of `scratchdl predict`. Serves until Ctrl-C. Needs the "
        "web extra: pip install -e \".[web]\" in the checkout.",
    )
    p.add_argument("model", nargs="?", metavar="MODEL.npz",
                   help="a model saved by `scratchdl train --save`")
    add_address_args(p)
    p.set_defaults(func=run)


def add_address_args(parser: argparse.ArgumentParser) -> None:
    """--host and --port, as every web app's command takes them (`listen` uses them)."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; "
                        "0.0.0.0 makes the page reachable from the network)")
    parser.add_argument("--port", type=port_number, default=8000,
                        help="port to listen on (default 8000; 0 picks a free one)")


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on (host, port), or one line saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise UsageError(f"--host {host}: not an address of this machine ({e})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)  # connections wait in the backlog until uvicorn takes over
    except OSError as e:
        sock.close()
        raise ScratchdlError(f"cannot listen on {host} port {port}: {e.strerror}; "
                             "choose another --port (or --host)") from None
    return sock


def url(sock: socket.socket) -> str:
    """The page's address, e.g. http://127.0.0.1:8000/ (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if sock.family == socket.AF_INET6 else \
        f"http://{host}:{port}/"


def run(args: argparse.Namespace) -> int:
    if args.model is None:
        raise UsageError(GET_A_MODEL)
    try:
        import uvicorn  # noqa: F401  (is the web extra there? run_app serves with it)

        from scratchdl.app.web.app import create_app
    except ImportError:
        raise UsageError(GET_THE_EXTRA) from None
    from scratchdl.app.classify import Classifier

    classifier = Classifier.load(args.model)
    app = create_app(classifier, Path(args.model).name)
    sock = listen(args.host, args.port)
    print(f"serving {describe(classifier.model)} from {args.model} at {url(sock)} "
          "(Ctrl-C to stop)", flush=True)
    run_app(app, sock, "serve")
    return 0


def run_app(app, sock: socket.socket, command: str) -> None:
    """Serve the ASGI `app` on `sock` with uvicorn until Ctrl-C, then say it stopped."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, http="h11", lifespan="on", log_level="warning",
                                           access_log=False))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shuts down cleanly, then passes the Ctrl-C on
        pass
    finally:
        sock.close()
    print(f"scratchdl {command}: stopped", flush=True)
