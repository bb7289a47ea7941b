"""The engine's exceptions. Only the CLI maps them to exit codes (2 for input, 1 for checks)."""


class McError(Exception):
    """Base of every error the engine raises on purpose; its message is one line with the fix."""

    exit_code = 2


class InputError(McError):
    """Bad input from the user: a missing file, an unknown model, data of the wrong shape."""

    exit_code = 2


class CheckFailed(McError):
    """A gate or check failed: a parity check, an accuracy budget, a regression."""

    exit_code = 1


class NotBuiltYet(McError):
    """A capability that the roadmap names but this version does not have."""

    exit_code = 2


class BackendUnavailable(InputError):
    """A backend this host lacks (TensorRT, CUDA, Optimum): the message names it and how to install it.

    Recipes report a variant that needs one as "unavailable on this host" instead of failing the run.
    """

    exit_code = 2


def root_cause(error: BaseException) -> str:
    """The innermost exception's first line: exporters and compilers wrap the real reason in generic
    advice, and a one-line error should name the reason."""
    import re

    while (error.__cause__ or error.__context__) is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {first[:240]}"
