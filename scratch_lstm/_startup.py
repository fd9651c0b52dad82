"""Ctrl-C while the ``scratch-lstm`` command starts: one line and exit code 130, not a traceback.

Skippable on the reading path: this is about the command line, not about the LSTM.

The command spends its first seconds importing torch, before any of its own code runs; Python's
default answer to a Ctrl-C there is a ``KeyboardInterrupt`` traceback out of torch's import.
:func:`quiet_interrupt_while_starting` runs when :mod:`scratch_lstm` imports this module, before
anything else, and only when this process is the command (``scratch-lstm ...`` or
``python -m scratch_lstm ...``, or a script of the project's ``benchmarks/`` folder) makes a
Ctrl-C end it with one line; the command's ``main()`` then hands Ctrl-C back to Python
(:func:`restore_interrupts`) and answers it itself. A program that imports ``scratch_lstm`` is
left alone. This module imports nothing that Python has not loaded before running any code
(``_signal`` is the C half of ``signal``, whose Python half imports ``enum``): the sooner its
handler is in place, the shorter the moment in which a Ctrl-C still gets Python's traceback.

The same moment answers ``--version`` and ``--help`` without waiting for torch
(:func:`answer_version`, :func:`answer_help`), and an argument error (:func:`answer_argument_errors`,
with the command's parsers rebuilt from :data:`ARGV_FILE`: a twentieth of a second where the
parser after torch takes seconds). That one loads argparse and json (a few milliseconds), once
the Ctrl-C handler is in place. It is also the last one, before torch loads its
OpenMP runtime, at which OpenMP's way of waiting can be chosen: :func:`choose_wait_policy` makes
the command's waiting threads sleep (``OMP_WAIT_POLICY=PASSIVE``) when other programs keep a CPU
busy as it starts. OpenMP's default is to spin, which is fastest on an idle machine and many
times slower on a busy one, where a spinning thread holds a core that the thread it waits for
needs (docs/performance.md measures both).
"""

import _signal
import os
import sys

_MESSAGE = b"error: interrupted while scratch-lstm was starting. Nothing was written\n"
BUSY_CPUS = 0.5  # others' CPU use, in CPUs, from which waiting threads sleep rather than spin
PROBE_SECONDS = 0.1  # how long the start-up watches the CPUs
HELP_FILE = "app/help.txt"  # the command's help texts, by command, for answer_help (read_help)
HELP_COLUMNS = 80  # the terminal width they are written for
ARGV_FILE = "app/argv.json"  # the parsers' flags, for answer_argument_errors (argv_parser)
wait_policy_note = ""  # why the command set OMP_WAIT_POLICY, for its threads line ("": it did not)
free_threads = None  # the OMP_NUM_THREADS it set: the CPUs others left free (None: it did not)


def _is_a_benchmark_script(path: str) -> bool:
    """Whether ``path`` is a script of this project's ``benchmarks/`` folder (beside a
    ``scratch_lstm`` package, whichever copy of the package is imported)."""
    folder = os.path.dirname(os.path.abspath(path))
    return (path.endswith(".py") and os.path.basename(folder) == "benchmarks"
            and os.path.isfile(os.path.join(os.path.dirname(folder), "scratch_lstm", "_startup.py")))


def is_the_command() -> bool:
    """Whether this process runs the ``scratch-lstm`` command (not a program that imports the
    package): ``scratch-lstm ...``, ``python -m scratch_lstm ...``, or ``python
    benchmarks/SCRIPT.py ...`` (the project's scripts end as the command does)."""
    argv, orig = sys.argv, getattr(sys, "orig_argv", [])
    if not argv:
        return False
    if os.path.basename(argv[0]) in ("scratch-lstm", "scratch-lstm.exe", "scratch-lstm-script.py"):
        return True
    if _is_a_benchmark_script(argv[0]):
        return True
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)  # -m: found, or still looked for
    running = argv[0] == "-m" or getattr(spec, "name", None) == "scratch_lstm.__main__"
    return running and any(a == "-m" and b == "scratch_lstm" for a, b in zip(orig, orig[1:]))


def _stop(signum, frame) -> None:
    try:
        os.write(2, _MESSAGE)
    except OSError:  # standard error is closed
        pass
    os._exit(130)


def quiet_interrupt_while_starting() -> None:
    """In the ``scratch-lstm`` command's own process, while Python's default Ctrl-C handler is in
    place: a Ctrl-C prints one line and exits with code 130 until :func:`restore_interrupts`."""
    if is_the_command() and _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
        _signal.signal(_signal.SIGINT, _stop)


def interrupted_while_loading() -> None:
    """A Ctrl-C came while this module loaded (the package's ``__init__`` caught it): end with the
    one line in the command's own process; elsewhere raise it on, as Python would have."""
    if is_the_command():
        _stop(_signal.SIGINT, None)
    raise KeyboardInterrupt


def restore_interrupts() -> None:
    """Give Ctrl-C back to Python (a ``KeyboardInterrupt``), if
    :func:`quiet_interrupt_while_starting` had taken it."""
    if _signal.getsignal(_signal.SIGINT) is _stop:
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)


def busy_cpus(seconds: float = PROBE_SECONDS) -> float | None:
    """How many CPUs other programs kept busy over the next ``seconds`` (this process sleeps
    meanwhile), from the kernel's counters in /proc/stat; None where there are none to read."""
    def ticks():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]  # user nice system idle iowait ...
        return sum(values), values[3] + (values[4] if len(values) > 4 else 0)

    try:
        total0, idle0 = ticks()
        _sleep(seconds)
        total1, idle1 = ticks()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (1 - (idle1 - idle0) / (total1 - total0)) * (os.cpu_count() or 1)


def _sleep(seconds: float) -> None:
    import time  # loaded by Python's own start-up: costs nothing

    time.sleep(seconds)


def wait_policy(busy: float | None, environ, cpus: int) -> str | None:
    """The ``OMP_WAIT_POLICY`` the command sets, or None to leave OpenMP's default: ``PASSIVE``
    when others keep at least :data:`BUSY_CPUS` of the ``cpus`` busy (``busy``), unless the
    user set OMP_WAIT_POLICY or GOMP_SPINCOUNT (theirs is kept) or there is one CPU only."""
    if cpus < 2 or any(environ.get(v, "").strip() for v in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")):
        return None
    return "PASSIVE" if busy is not None and busy >= BUSY_CPUS else None


def choose_wait_policy() -> None:
    """In the command's own process, before torch loads: look at the CPUs for
    :data:`PROBE_SECONDS` and set ``OMP_WAIT_POLICY`` as :func:`wait_policy` says (a waiting
    thread then sleeps at once; OpenMP's default spins a while first, the fastest on an idle
    machine), and then ``OMP_NUM_THREADS`` to the CPUs left free (:func:`free_cpus`) unless the
    user set it. A program that imports the package, or one that loaded torch first, is left alone."""
    global wait_policy_note, free_threads
    cpus = os.cpu_count() or 1
    if not is_the_command() or "torch" in sys.modules or wait_policy(1.0 * cpus, os.environ, cpus) is None:
        return  # not ours to choose: no need to look
    busy = busy_cpus()
    if wait_policy(busy, os.environ, cpus) == "PASSIVE":
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        free = free_cpus(busy, cpus)
        if free < cpus and not os.environ.get("OMP_NUM_THREADS", "").strip():  # the user's count is kept
            os.environ["OMP_NUM_THREADS"] = str(free)  # torch's default thread count, read as it loads
            free_threads = free
        wait_policy_note = (f"other programs kept {busy:.1f} CPUs busy as it started, so waiting "
                            "threads sleep (OMP_WAIT_POLICY=PASSIVE)")


def free_cpus(busy: float, cpus: int) -> int:
    """The CPUs that others leave free when they keep ``busy`` of the ``cpus`` busy, at least one:
    the command's thread count on a busy machine (a thread on a CPU that another program holds
    makes every other thread wait for it at each step; docs/performance.md measures it)."""
    return max(1, min(cpus, int(cpus - busy + 0.5)))


def is_the_cli() -> bool:
    """Whether this process is ``scratch-lstm ...`` itself (not a script of ``benchmarks/``)."""
    return is_the_command() and not _is_a_benchmark_script(sys.argv[0])


def answer_version() -> None:
    """``scratch-lstm --version``: answered here, before torch loads (a tenth of a second, not
    several), from the installed package's metadata; where there is none (a checkout on
    ``PYTHONPATH``), the command's parser answers it after the imports."""
    if not is_the_cli() or sys.argv[1:] != ["--version"]:
        return
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = f"scratch-lstm {version('scratch-lstm')}\n"
        except PackageNotFoundError:
            return
        sys.stdout.write(text)
        sys.stdout.flush()
    except (OSError, ValueError):  # a closed or full standard output: nothing to say it on
        pass
    raise SystemExit(0)


def read_help(path: str) -> tuple[str, int, dict[str, str]]:
    """The help texts :data:`HELP_FILE` holds: ``(python version, columns, {command: text})``.
    Its records are separated by form feeds (which no help text holds): the first says for which
    Python and width they were written, each other starts with its command's name on a line of
    its own (empty for ``scratch-lstm --help``). Read without importing anything."""
    with open(path, encoding="utf-8") as f:
        head, *records = f.read().split("\f")
    python, columns = head.split()
    return python, int(columns), dict(record.split("\n", 1) for record in records)


def _terminal_columns() -> int:
    """The width argparse wraps help to, as :func:`shutil.get_terminal_size` finds it (COLUMNS,
    else the terminal of standard output, else 80), without importing shutil."""
    try:
        if int(os.environ.get("COLUMNS", "0")) > 0:
            return int(os.environ["COLUMNS"])
        return os.get_terminal_size(1).columns
    except (ValueError, OSError):
        return 80


def answer_help() -> None:
    """``scratch-lstm --help`` and ``scratch-lstm COMMAND --help``: answered here, before torch
    loads, with the texts the command's own parser wrote into :data:`HELP_FILE`
    (``python scripts/make_help.py``; a test holds them equal), where the terminal is at least as
    wide as they were written for and Python's version is the one they were written with
    (argparse lays help out a little differently in each); elsewhere (a narrower terminal,
    another Python, other arguments) the parser answers, after the imports."""
    args = sys.argv[1:]
    if not is_the_cli() or not (args in (["-h"], ["--help"]) or (len(args) == 2 and args[1] in ("-h", "--help"))):
        return
    try:
        python, columns, texts = read_help(os.path.join(os.path.dirname(__file__), HELP_FILE))
    except (OSError, ValueError):
        return
    text = texts.get(args[0] if len(args) == 2 else "")
    if python != "{}.{}".format(*sys.version_info[:2]) or _terminal_columns() < columns or text is None:
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except (OSError, ValueError):  # a closed or full standard output
        pass
    raise SystemExit(0)


class Unsure(Exception):
    """The start-up cannot be sure what the command's parser would answer: it lets that parser
    answer, after the imports (argparse passes this exception on, as it is none of its own)."""


def parse_command_line(parser, subparsers: dict, argv: list[str]):
    """``parser.parse_args(argv)`` the command's way, for its parser and for the start-up's copy
    of it (:func:`argv_parser`) alike: an unknown flag is reported with the usage of the
    subcommand it was given to (``subparsers[command]``), and a close match where there is one."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        import difflib  # a millisecond to load, and only for this error

        sub = subparsers[args.command]
        flags = [s for a in sub._actions for s in a.option_strings]
        hints = [f"{x} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(x.split("=")[0], flags, 1))
                 else x for x in extra]
        sub.error("unrecognized arguments: " + " ".join(hints))
    return args


def argv_parser(description: dict) -> tuple:
    """``(parser, {command: its parser})``: the command's parsers rebuilt from ``description``
    (what :func:`scratch_lstm.app.cli.argv_description` wrote into :data:`ARGV_FILE`), with
    argparse but without torch. Each flag takes the values the real one takes and fails as it
    does on a missing value, an invalid choice, a missing required flag or an unknown one; where
    the real one would do more (print help or the version, check a typed value not of the form
    its type always accepts), the copy raises :class:`Unsure`."""
    import argparse  # a few milliseconds to load, as the real parser does after torch
    import re

    class Other(argparse.Action):  # --help, --version, or a kind of action not rebuilt here
        def __call__(self, parser, namespace, values, option_string=None):
            raise Unsure

    def plain_value(pattern):
        def check(text):
            if pattern is None or re.fullmatch(pattern, text) is None:
                raise Unsure  # a value that its type might refuse: the type decides, after torch
            return text
        return check

    def unsuppress(value):  # JSON keeps argparse.SUPPRESS as an equal string: argparse asks for itself
        return argparse.SUPPRESS if value == argparse.SUPPRESS else value

    subparsers = {}

    def build(p, described):
        if not described["rebuildable"]:
            raise Unsure
        p._negative_number_matcher = re.compile(*described["negative_numbers"])  # before the flags
        for a in described["actions"]:
            kind, dest, names = a["kind"], unsuppress(a["dest"]), a["options"] or [a["dest"]]
            kwargs = {"required": a["required"], "help": None if a["shown"] else argparse.SUPPRESS}
            if a["options"] or kind == "subcommands":
                kwargs["dest"] = dest
            if kind == "subcommands":
                sub = p.add_subparsers(**kwargs, metavar=unsuppress(a["metavar"]))
                for name, d in a["parsers"].items():
                    subparsers[name] = build(sub.add_parser(name, prog=d["prog"], add_help=False,
                                                            **d["settings"]), d)
                continue
            if kind in ("store", "append", "extend", "other"):
                metavar = tuple(a["metavar"]) if isinstance(a["metavar"], list) else unsuppress(a["metavar"])
                kwargs.update(nargs=unsuppress(a["nargs"]), metavar=metavar, choices=a["choices"],
                              default=unsuppress(a["default"]))
            if kind in ("store", "append", "extend"):
                kwargs["type"] = plain_value(a["plain"]) if a["typed"] else None
            p.add_argument(*names, action=Other if kind == "other" else kind, **kwargs)
        return p

    d = description["parser"]
    parser = build(argparse.ArgumentParser(prog=d["prog"], add_help=False, **d["settings"]), d)
    return parser, subparsers


def answer_argument_errors() -> None:
    """A mistyped or unknown flag or command, a missing required flag, an invalid choice, a flag
    without its value: answered here, before torch loads, by the parsers that
    :func:`argv_parser` rebuilds from :data:`ARGV_FILE` (``python scripts/make_help.py``; a test
    holds it equal to the parser), with the same lines and exit code 2, where Python's version
    is the one it was written with. Any argv it cannot be sure about (:class:`Unsure`), and every
    argv it accepts, the command's parser reads after the imports."""
    if not is_the_cli() or sys.stdout is None or sys.stderr is None:  # a closed stream: the command says so
        return
    try:
        import json  # a millisecond or two to load

        with open(os.path.join(os.path.dirname(__file__), ARGV_FILE), encoding="utf-8") as f:
            description = json.load(f)
        if description["python"] != "{}.{}".format(*sys.version_info[:2]):
            return
        parse_command_line(*argv_parser(description), sys.argv[1:])
    except SystemExit as e:
        if e.code == 2:  # the parser's error, said on standard error
            raise
    except Exception:  # Unsure, or a file that cannot be read: the command's parser answers
        pass


quiet_interrupt_while_starting()
answer_version()
answer_help()
answer_argument_errors()
choose_wait_policy()
