"""Helpers shared by the tests in this folder and by the chapters' test cells (which import it from ../tests)."""
import contextlib, io


def run_main(fn, argv:list)->tuple:
    "Call a command's entry point (`main`, a parser's `parse_args`, ...) on `argv`; returns (exit status, stdout, stderr)."
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: fn(argv)
        except SystemExit as e: code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, out.getvalue(), err.getvalue()
