"""``scratch-lstm explore``: its flags, and what it prints."""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import threads_line, use_threads
from .page import check_out_file, make_page, megabytes


def add_arguments(p) -> None:
    """The command's flags, except the data and thread flags (the CLI adds those)."""
    from ..flags import non_negative_int, path

    p.add_argument("--checkpoint", metavar="CKPT", type=path, default=None,
                   help="the trained checkpoint to explore (last.pt or best.pt); default: the built-in "
                        "model, a 2 x 64 LSTM trained on the embedded sample (docs/explorer.md)")
    p.add_argument("--out", required=True, metavar="PAGE.html", type=path,
                   help="the page to write: one self-contained HTML file (a new file, or a page it wrote before)")
    p.add_argument("--digits", nargs="+", type=non_negative_int, metavar="INDEX", default=None,
                   help="test images to embed, by their index in the test split, not by label: "
                        "--digits 0 1 2 embeds test images 0, 1 and 2 (in MNIST a 7, a 2 and a 1); "
                        "default: the first image of each class, 0 to 9. The page also reads digits "
                        "drawn in it")


def explore_command(args) -> None:
    """Run the command for parsed ``args``: check ``--out``, make the page, write it, say where."""
    out = Path(args.out)
    check_out_file(args.out, inputs=[args.checkpoint] if args.checkpoint else [])
    before = use_threads(args.threads)
    try:
        print(threads_line(args.threads), flush=True)
        page = make_page(args.checkpoint, args.digits, dataset=args.dataset, data_dir=args.data_dir,
                         download=args.download)
    finally:
        torch.set_num_threads(before)
    for note in page.notes:
        print(note)
    page.save(out)
    print(f"wrote {out} ({megabytes(page.size)}): {page.summary}")
    print(f"open it in a browser (it needs no network): {out.resolve().as_uri()}")
