"""`scratchdl data`: where the data set files are, whether they verify, and download them;
`scratchdl data book-weights`: the same for the parameters published with the book.

Files are searched in order: --data-dir, $SCRATCHDL_DATA (folders holding mnist/ and
fashion-mnist/, or the four files directly), the cache ($SCRATCHDL_CACHE or the OS's
user cache folder), Debian's /usr/share/datasets/NAME/. Checksums are SHA-256 of the
decompressed IDX bytes. $SCRATCHDL_MIRRORS (base URLs) replaces the download mirrors.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from scratchdl.app.commands.common import add_data_args
from scratchdl.data import (
    BOOK_WEIGHTS,
    book_weights,
    cache_root,
    download_file,
    find_file,
    get_dataset,
    locate,
    read_idx,
)
from scratchdl.runtime.errors import DataError, render


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="show, verify and download the data sets",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", parser_class=type(p))
    dsub.required = True
    info = dsub.add_parser(
        "info", help="where each file is found and whether it verifies (exit 1 if not all do)",
        description="Print where each file of the data set was found (or that it is missing) "
        "and whether its SHA-256 verifies. Exit status 0 if all four verify, 1 otherwise.",
    )
    add_data_args(info)
    info.set_defaults(func=run)
    dl = dsub.add_parser(
        "download", help="download the data set's missing files (verified) into the cache",
        description="Download the data set's missing files from its mirrors, in fallback "
        "order, into DIR/NAME/ with --data-dir, else into the cache; files that are already "
        "present are verified and kept. Set SCRATCHDL_MIRRORS or --mirror to use other mirrors.",
    )
    add_data_args(dl)
    dl.add_argument("--mirror", action="append", default=None, metavar="URL",
                    help="base URL to download from instead of the registry's mirrors "
                    "(repeat for fallbacks)")
    dl.set_defaults(func=run)
    bw = dsub.add_parser(
        "book-weights", help="find or download the parameters published with the book",
        description="Find the three parameter files published with the book's code (the "
        "chapter 3 network, SimpleConvNet, DeepConvNet) in DIR/book-weights/ with --data-dir, "
        "then $SCRATCHDL_DATA/book-weights/, then the cache, else download them from the "
        "book's repository into the cache; each is verified by SHA-256. Print where each is "
        "and the `scratchdl import-book` command that makes it a model file.",
    )
    bw.add_argument("--data-dir", default=None, metavar="DIR",
                    help="folder holding book-weights/ (searched first)")
    bw.add_argument("--mirror", action="append", default=None, metavar="URL",
                    help="base URL standing for the book's repository (repeat for fallbacks)")
    bw.set_defaults(func=_book_weights)


def _verify(path: Path, sha256: str) -> str:
    try:
        read_idx(path, sha256=sha256)
    except DataError as e:
        return f"FAILED: {e}"
    return "verified"


def _info(args) -> int:
    ds = get_dataset(args.dataset or "mnist")
    loc = locate(ds, args.data_dir)
    if loc is None:
        print(f"{ds.name}: not found (searched --data-dir, SCRATCHDL_DATA, {cache_root()}, "
              f"Debian's folder); run `scratchdl data download`")
        return 1
    print(f"{ds.name}: found via {render(loc.source)} in {loc.folder}")
    ok = True
    for kind, f in ds.files.items():
        path = loc.paths[kind]
        status = "missing" if path is None else _verify(path, f.sha256)
        ok = ok and status == "verified"
        print(f"  {f.name:<24} {status if path is None else f'{path}  {status}'}")
    return 0 if ok else 1


def _download(args) -> int:
    ds = get_dataset(args.dataset or "mnist")
    if args.data_dir is None:
        loc = locate(ds)
        if loc is not None and loc.source != "the cache":
            paths = loc.require_complete()
            for kind, path in paths.items():
                read_idx(path, sha256=ds.files[kind].sha256)
            print(f"{ds.name}: already present and verified in {loc.folder} "
                  f"(found via {render(loc.source)})")
            return 0
    dest = Path(args.data_dir) / ds.name if args.data_dir else cache_root() / ds.name
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create {dest}: {e.strerror or e}; choose another "
                        "--data-dir or SCRATCHDL_CACHE") from None
    for f in ds.file_list():
        path = find_file(dest, f)
        if path is not None:
            read_idx(path, sha256=f.sha256)
            print(f"  {f.name:<24} {path}  already present, verified")
        else:
            path = download_file(ds, f, dest, mirrors=args.mirror)
            print(f"  {f.name:<24} {path}  downloaded, verified")
    print(f"{ds.name}: all files verified in {dest}")
    return 0


def _book_weights(args) -> int:
    for name, w in BOOK_WEIGHTS.items():
        path = book_weights(name, args.data_dir, mirrors=args.mirror)
        print(f"{name}: {path}  verified ({w.network}, the book's test acc {w.accuracy:.4f})")
        print(f"  scratchdl import-book {path} --model {w.model} "
              f"--out {Path(name).stem}.npz")
    return 0


def run(args) -> int:
    return _info(args) if args.data_command == "info" else _download(args)
