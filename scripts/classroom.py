"""The classroom edition, with nbgrader: write the student edition and autograde submissions.

    python scripts/classroom.py student [--out build/student]
    python scripts/classroom.py grade SUBMISSIONS [--csv build/grades.csv]

The instructor edition is the notebooks in notebooks/: exercises with their solutions, and
autograded test cells with visible and hidden tests (nbgrader's cell metadata and
"### BEGIN SOLUTION" / "### BEGIN HIDDEN TESTS" markers). Each notebook is one nbgrader
assignment, named after the notebook (e.g. 02_vae_elbo), in the course folder build/nbgrader.

`student` runs nbgrader's generate_assignment on every notebook, which removes the solutions
(leaving `raise NotImplementedError()`) and the hidden tests and clears the outputs, and copies
the results to the output folder.

`grade` takes a folder with one subfolder per student, each holding that student's notebooks
under their original names (SUBMISSIONS/alice/02_vae_elbo.ipynb, ...). It runs nbgrader's
autograde on each, which restores the test cells from the instructor edition, executes the
notebook and records the points, and writes one CSV row per student and exercise.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "build" / "nbgrader"


def _api(course: Path, execute: bool = True):
    # nbgrader runs `alembic` (its database migrations) as a program: put this Python's
    # scripts folder first on PATH, so that it is found when the venv is not activated
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.course_id = "deep-generative-models"
    config.Execute.timeout = 900  # seconds per cell; the longest training cell takes about 60 s
    config.Execute.allow_errors = True  # a failing test cell costs its points, not the rest
    if not execute:  # grade the outputs the notebooks hold: keep them, and run nothing
        from nbgrader.converters import Autograde
        from nbgrader.preprocessors import ClearOutput, Execute

        steps = Autograde.class_traits()
        sanitize = steps["sanitize_preprocessors"].default()
        config.Autograde.sanitize_preprocessors = [p for p in sanitize if p is not ClearOutput]
        grade = steps["autograde_preprocessors"].default()
        config.Autograde.autograde_preprocessors = [p for p in grade if p is not Execute]
    return NbGraderAPI(config=config)


def _check(result: dict, what: str) -> None:
    if not result["success"]:
        raise SystemExit(f"error: nbgrader could not {what}:\n{result['error']}\n{result['log']}")


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def generate(course: Path = COURSE) -> None:
    """Copy the instructor edition into the course folder and run generate_assignment on each
    notebook: the gradebook then knows every exercise, its points and its tests."""
    if course.exists():
        shutil.rmtree(course)
    api = _api(course)
    for nb in notebooks():
        source = course / "source" / nb.stem
        source.mkdir(parents=True)
        shutil.copy(nb, source / nb.name)
        _check(api.generate_assignment(nb.stem, force=True, create=True), f"generate {nb.stem}")


def _stale(course: Path) -> bool:
    """True when the course folder's copy of the instructor edition is missing or out of date."""
    if not (course / "gradebook.db").is_file():
        return True
    for nb in notebooks():
        copy = course / "source" / nb.stem / nb.name
        if not copy.is_file() or copy.read_bytes() != nb.read_bytes():
            return True
    return False


def student(out: Path, course: Path = COURSE) -> list[Path]:
    """Write the student edition (no solutions, no hidden tests, no outputs) to ``out``."""
    generate(course)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for nb in notebooks():
        target = out / nb.name
        shutil.copy(course / "release" / nb.stem / nb.name, target)
        written.append(target)
    return written


def grade(
    submissions: Path, csv_path: Path, course: Path = COURSE, execute: bool = True
) -> list[dict]:
    """Autograde every student's notebooks in ``submissions`` and write points per exercise to ``csv_path``.

    execute=False grades the outputs the notebooks already hold, without running them. Use it
    only for notebooks whose outputs are known to be those of a fresh run: the instructor
    edition in notebooks/, whose stored outputs nbval checks against a fresh run in `make test`
    (tests/test_classroom.py grades it so). A student's submission must always be executed."""
    from nbgrader.api import Gradebook

    if not submissions.is_dir():
        raise SystemExit(f"error: {submissions} is not a folder of submissions")
    known = {nb.stem for nb in notebooks()}
    found = sorted(
        (folder.name, nb)
        for folder in submissions.iterdir()
        if folder.is_dir()
        for nb in folder.glob("*.ipynb")
    )
    unknown = sorted({nb.name for _, nb in found if nb.stem not in known})
    if not found or unknown:
        raise SystemExit(
            f"error: {submissions} should hold one folder per student with the course's notebooks "
            f"under their own names (e.g. {submissions}/alice/02_vae_elbo.ipynb); "
            + (f"these are not course notebooks: {', '.join(unknown)}" if unknown else "found none")
        )
    if _stale(course):  # first grading, or the instructor edition changed since `make student`
        generate(course)
    api = _api(course, execute)
    for student_id, nb in found:
        target = course / "submitted" / student_id / nb.stem
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(nb, target / nb.name)
        start = time.perf_counter()
        _check(
            api.autograde(nb.stem, student_id, force=True, create=True),
            f"grade {student_id}/{nb.name}",
        )
        print(f"graded {student_id}/{nb.name} in {time.perf_counter() - start:.0f} s", flush=True)

    rows = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student_id, nb in found:
            submission = gb.find_submission_notebook(nb.stem, nb.stem, student_id)
            for g in sorted(submission.grades, key=lambda g: g.name):
                rows.append(
                    {
                        "student": student_id,
                        "notebook": nb.stem,
                        "exercise": g.name.removesuffix("_tests"),
                        "points": g.score,
                        "max_points": g.max_score,
                    }
                )
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(
            f, fieldnames=["student", "notebook", "exercise", "points", "max_points"]
        )
        writer.writeheader()
        writer.writerows(rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The classroom edition, with nbgrader.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("student", help="write the student edition")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    p = sub.add_parser("grade", help="autograde a folder of submissions into a CSV")
    p.add_argument(
        "submissions", type=Path, help="a folder with one subfolder of notebooks per student"
    )
    p.add_argument("--csv", type=Path, default=ROOT / "build" / "grades.csv")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.command == "student":
        written = student(args.out)
        print(
            f"wrote the student edition of {len(written)} notebooks to {args.out} "
            f"in {time.perf_counter() - start:.0f} s"
        )
    else:
        rows = grade(args.submissions, args.csv)
        students = sorted({r["student"] for r in rows})
        print(f"\n{'student':<16}{'points':>8}{'of':>6}")
        for s in students:
            mine = [r for r in rows if r["student"] == s]
            print(
                f"{s:<16}{sum(r['points'] for r in mine):>8g}{sum(r['max_points'] for r in mine):>6g}"
            )
        print(
            f"wrote {len(rows)} rows (one per student and exercise) to {args.csv} "
            f"in {time.perf_counter() - start:.0f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
