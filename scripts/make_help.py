"""Write the help texts that `scratch-lstm --help` and `scratch-lstm COMMAND --help` print before
torch loads: scratch_lstm/app/help.txt, from the command's own parser, as this Python lays them
out (another Python's users get the parser's own answer, after torch loads); and beside it
scratch_lstm/app/argv.json, the parsers' flags, from which the start-up answers an argument error
before torch loads.

    python scripts/make_help.py

Run it after changing a flag or a help text; tests/test_cli.py fails until the files match the
parser (the start-up would otherwise answer with the old texts and flags).
"""

import json
import sys
from pathlib import Path

from scratch_lstm import _startup
from scratch_lstm.app.cli import argv_description, help_texts


def main() -> int:
    path = Path(_startup.__file__).parent / _startup.HELP_FILE
    texts = help_texts(_startup.HELP_COLUMNS)
    assert not any("\f" in text for text in texts.values())  # the records' separator
    head = "{}.{} {}".format(*sys.version_info[:2], _startup.HELP_COLUMNS)
    path.write_text("\f".join([head, *(f"{name}\n{text}" for name, text in texts.items())]), encoding="utf-8")
    print(f"wrote {path}")
    path = Path(_startup.__file__).parent / _startup.ARGV_FILE
    path.write_text(json.dumps(argv_description(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
