"""The checker: runs an answer on an exercise's hidden cases and explains the usual
mistakes.

`check_answer(exercise, answer)` runs the answer on the cases, compares each result with
the reference solution's, prints a short pass/fail summary and returns True or False. It
never raises because of the answer: a notebook must still run top to bottom while an
exercise is unfinished, so `None` or a function that raises `NotImplementedError` just
prints "not attempted".

The package's docstring (`bertmini.exercises`) says why hints come from known mistakes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

# re-exported for the chapters' exercises
from ..heads import IGNORE_INDEX  # noqa: F401


# ------------------------------------------------------------------ exercises
@dataclass
class Case:
    """One hidden test case.

    `make_args` builds fresh arguments each time it is called (tensors from a seeded
    generator), so the answer, the reference and every known mistake see identical,
    unmodified inputs. `verify(result, expected, args)` returns None when the result is
    right, else a message; the default compares with the reference's result to
    `atol`/`rtol`.
    """

    description: str
    make_args: Callable[[], tuple] = lambda: ()
    verify: Callable[[Any, Any, tuple], str | None] | None = None
    atol: float = 1e-5
    rtol: float = 1e-4


@dataclass
class Mistake:
    """A wrong answer students often give, and the hint that explains it."""

    # A wrong function (function exercises) or a wrong value / zero-arg function
    wrong: Callable | Any
    hint: str


@dataclass
class Exercise:
    """An exercise: its cases, the reference solution, and the usual mistakes with their
    hints.

    kind = "function": the answer is a callable, run on every case's arguments.
    kind = "value": the answer is a value; `reference` is a zero-argument function
    computing the right one, and there is a single implicit case.
    """

    name: str
    title: str
    kind: str  # "function" or "value"
    reference: Callable
    cases: list[Case] = field(default_factory=list)
    mistakes: list[Mistake] = field(default_factory=list)
    signature: str = ""  # shown in the "not attempted" message

    def __post_init__(self):
        if self.kind not in ("function", "value"):
            raise ValueError(
                f"Exercise kind must be 'function' or 'value', got {self.kind!r}"
            )
        if self.kind == "value" and not self.cases:
            self.cases = [Case("the value")]


# ------------------------------------------------------------------ comparing results
def close(a: Any, b: Any, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """Numerically equal, for tensors, NumPy arrays, numbers, and (nested) tuples/lists
    of them.

    Never raises: anything that cannot be compared (an object whose `==` fails or
    returns an array, a ragged list) is simply not equal.
    """
    try:
        return _close(a, b, atol, rtol)
    except Exception:
        return False


def _is_array(x: Any) -> bool:
    """A NumPy array (or anything array-like that is not a tensor), without importing
    NumPy.
    """
    return (
        not isinstance(x, (torch.Tensor, str, bytes, list, tuple, dict))
        and hasattr(x, "__array__")
        and hasattr(x, "shape")
    )


def _close(a: Any, b: Any, atol: float, rtol: float) -> bool:
    if _is_array(a) or _is_array(b):  # compare NumPy arrays as tensors
        import numpy as np

        a = torch.as_tensor(np.asarray(a)) if _is_array(a) else a
        b = torch.as_tensor(np.asarray(b)) if _is_array(b) else b
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        try:
            a_t, b_t = torch.as_tensor(a), torch.as_tensor(b)
        except (TypeError, ValueError, RuntimeError):
            return False
        a_t, b_t = a_t.detach().cpu(), b_t.detach().cpu()
        if a_t.shape != b_t.shape or a_t.is_complex() or b_t.is_complex():
            return False
        if (
            a_t.dtype == torch.bool
            or b_t.dtype == torch.bool
            or not (a_t.is_floating_point() or b_t.is_floating_point())
        ):
            return bool(torch.equal(a_t.long(), b_t.long()))
        return bool(
            torch.allclose(
                a_t.double(), b_t.double(), atol=atol, rtol=rtol, equal_nan=True
            )
        )
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_close(x, y, atol, rtol) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, abs_tol=atol, rel_tol=rtol)
    equal = a == b
    return equal if isinstance(equal, bool) else False


def describe(x: Any) -> str:
    """A short description of a result, for failure messages (never raises)."""
    try:
        return _describe(x)
    except Exception:
        return f"a {type(x).__name__}"


def _describe(x: Any) -> str:
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, float) for v in x):
        return "[" + ", ".join(f"{v:.4f}" for v in x) + "]"
    if isinstance(x, torch.Tensor):
        if x.numel() <= 8:
            return f"tensor {[round(v, 4) for v in x.double().flatten().tolist()]} of shape {tuple(x.shape)}"
        return f"tensor of shape {tuple(x.shape)}"
    if isinstance(x, float):
        return f"{x:.6g}"
    return repr(x)


def default_verify(case: Case) -> Callable[[Any, Any, tuple], str | None]:
    def verify(result, expected, args):
        if (
            isinstance(expected, torch.Tensor)
            and isinstance(result, torch.Tensor)
            and result.shape != expected.shape
        ):
            return f"shape {tuple(result.shape)}, expected {tuple(expected.shape)}"
        if isinstance(result, torch.Tensor) and result.is_complex():
            return f"complex values (dtype {result.dtype}), expected real numbers"
        if not close(result, expected, case.atol, case.rtol):
            if (
                isinstance(expected, torch.Tensor)
                and isinstance(result, torch.Tensor)
                and expected.numel() > 8
                and expected.is_floating_point()
            ):
                diff = (
                    (result.double() - expected.double()).abs().nan_to_num(float("inf"))
                )
                where = tuple(
                    int(i) for i in torch.unravel_index(diff.argmax(), diff.shape)
                )
                return (
                    f"values differ: largest |difference| {diff.max().item():.3g} at "
                    f"index {where} (yours {result[where].item():.4g}, "
                    f"expected {expected[where].item():.4g})"
                )
            return f"got {describe(result)}, expected {describe(expected)}"
        return None

    return verify


# ------------------------------------------------------------------ running an answer
class NotAttempted(Exception):
    pass


def run_case(exercise: Exercise, answer: Any, case: Case) -> Any:
    """The answer's result on one case. Raises NotAttempted for NotImplementedError."""
    try:
        if exercise.kind == "value":
            return (
                answer()
                if callable(answer) and not isinstance(answer, torch.Tensor)
                else answer
            )
        return answer(*case.make_args())
    except NotImplementedError:
        raise NotAttempted from None
    except SystemExit as e:  # exit() in an answer must not end the notebook's kernel
        raise RuntimeError(f"called exit({e.code!r})") from None


def expected_results(exercise: Exercise) -> list[Any]:
    if exercise.kind == "value":
        return [exercise.reference()]
    return [exercise.reference(*case.make_args()) for case in exercise.cases]


def failures(
    exercise: Exercise, answer: Any, expected: list[Any]
) -> list[tuple[Case, str]]:
    """(case, message) for each case the answer gets wrong (an exception counts as
    wrong).
    """
    out = []
    for case, exp in zip(exercise.cases, expected):
        try:
            result = run_case(exercise, answer, case)
        except NotAttempted:
            raise
        except Exception as e:
            # The student's code failed: report it, don't crash the notebook
            out.append((case, f"raised {type(e).__name__}: {e}"))
            continue
        verify = case.verify or default_verify(case)
        try:
            message = verify(result, exp, case.make_args())
        except Exception as e:
            # A malformed result (wrong type) breaks the checker's arithmetic
            message = f"returned something the checker could not use ({type(e).__name__}: {e})"
        if message is not None:
            out.append((case, message))
    return out


def behaves_like(exercise: Exercise, answer: Any, mistake: Mistake) -> bool:
    """True when the answer gives the same results as a known wrong implementation on
    every case.
    """
    for case in exercise.cases:
        try:
            mine = run_case(exercise, answer, case)
            if exercise.kind == "value":
                wrong = mistake.wrong() if callable(mistake.wrong) else mistake.wrong
            else:
                wrong = mistake.wrong(*case.make_args())
        except Exception:
            # NotAttempted included: an answer that does not run matches nothing
            return False
        if not close(mine, wrong, case.atol, case.rtol):
            return False
    return True


def diagnose(exercise: Exercise, answer: Any) -> list[str]:
    """Hints of the known mistakes the answer reproduces exactly."""
    return [m.hint for m in exercise.mistakes if behaves_like(exercise, answer, m)]


def check_answer(exercise: Exercise, answer: Any) -> bool:
    """Run `exercise` on `answer`; print a summary (and a hint when it fails); return
    True/False.

    `answer` is a function for function exercises and a value for value exercises.
    `None`, or a function raising NotImplementedError, counts as "not attempted": a
    message, no exception.
    """
    name = exercise.name
    if answer is None or answer is NotImplemented:
        what = (
            f"Write `{exercise.signature}`"
            if exercise.signature
            else "fill in your answer"
        )
        print(f"⏸ {exercise.title}: not attempted yet. {what} and run this cell again.")
        return False
    if exercise.kind == "function" and not callable(answer):
        print(
            f"✗ {exercise.title}: expected a function, got {type(answer).__name__}. "
            f"Pass the function itself, not its result: check({name!r}, my_function)."
        )
        return False
    expected = expected_results(exercise)
    try:
        failed = failures(exercise, answer, expected)
    except NotAttempted:
        # (NotAttempted is raised for the first case, before any result)
        print(
            f"⏸ {exercise.title}: not attempted yet (your function raises NotImplementedError). "
            "Replace the `raise` with your code and run this cell again."
        )
        return False
    total = len(exercise.cases)
    if not failed:
        print(
            f"✓ {exercise.title}: all {total} test case{'s' if total > 1 else ''} passed."
        )
        return True
    print(f"✗ {exercise.title}: {total - len(failed)}/{total} test cases passed.")
    for case, message in failed[:3]:
        print(f"  - {case.description}: {message}")
    hints = [
        h for h in diagnose(exercise, answer) if not any(h in m for _, m in failed[:3])
    ]
    for hint in hints:
        print(f"  Hint: {hint}")
    if not hints and not any(
        m.hint in msg for m in exercise.mistakes for _, msg in failed[:3]
    ):
        print(
            "  Hint: compare your code with the formula in the chapter, one step at a time, "
            "on the smallest case (print the shapes)."
        )
    return False
