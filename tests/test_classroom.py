"""The classroom edition: nbgrader writes a student edition without solutions, and autograding
gives full marks to the instructor edition, zero to an unanswered one, and loses the points of
wrong answers while the feedback names the mistake."""

import csv
import importlib.util
import re
import shutil
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("classroom", ROOT / "scripts" / "classroom.py")
classroom = importlib.util.module_from_spec(spec)
spec.loader.exec_module(classroom)

WITH_EXERCISES = [
    nb for nb in classroom.notebooks() if nb.stem[:2] in ("01", "02", "03", "04", "05")
]
MARKED = re.compile(
    r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END (SOLUTION|HIDDEN TESTS)", re.DOTALL
)


def graded(cell) -> bool:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade", False)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("classroom")
    classroom.student(root / "student", course=root / "nbgrader")
    return root


def test_every_lesson_has_two_exercises_with_points_and_hidden_tests():
    for path in WITH_EXERCISES:
        cells = nbformat.read(path, 4).cells
        tests = [c for c in cells if graded(c)]
        solutions = [c for c in cells if c.metadata.get("nbgrader", {}).get("solution")]
        assert len(tests) >= 2 and len(solutions) >= 2, path.name
        assert all(c.metadata.nbgrader["points"] > 0 for c in tests)
        assert all("### BEGIN HIDDEN TESTS" in c.source for c in tests), path.name
        assert all("raises-exception" in c.metadata.get("tags", []) for c in tests), path.name


def test_student_edition_holds_no_solution_text(course):
    for path in classroom.notebooks():
        instructor = nbformat.read(path, 4)
        student_text = (course / "student" / path.name).read_text()
        student = nbformat.reads(student_text, 4)
        assert "BEGIN SOLUTION" not in student_text and "HIDDEN TESTS" not in student_text
        secret = [
            line.strip()
            for cell in instructor.cells
            for match in MARKED.finditer(cell.source)
            for line in match.group(2).splitlines()
            if line.strip()
        ]
        leaked = [line for line in secret if line in student_text]
        assert not leaked, f"{path.name}: {leaked}"
        n_solutions = sum(
            bool(c.metadata.get("nbgrader", {}).get("solution")) for c in instructor.cells
        )
        assert student_text.count("raise NotImplementedError()") == n_solutions
        assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    assert len(list((course / "student").glob("*.ipynb"))) == len(classroom.notebooks())


WRONG_03 = {  # a student's wrong answers to the two exercises of notebook 03
    "def q_sample(": """def q_sample(x_0, t, eps, schedule):
    alpha_bar = schedule.at(schedule.alpha_bar, t, x_0)
    return alpha_bar * x_0 + (1 - alpha_bar) * eps  # variances where standard deviations belong
""",
    "def q_posterior_mean(": """def q_posterior_mean(x_0, x_t, t, schedule):
    s = schedule
    coef_x0 = s.alpha_bar_prev.sqrt() * s.beta / (1 - s.alpha_bar)
    coef_xt = s.alpha.sqrt() * (1 - s.alpha_bar_prev) / (1 - s.alpha_bar)
    return s.at(coef_xt, t, x_t) * x_0 + s.at(coef_x0, t, x_t) * x_t  # swapped
""",
}


def errors(notebook_path: Path) -> dict[str, str]:
    """{cell source start: error text} for every cell of an executed notebook that raised."""
    out = {}
    for cell in nbformat.read(notebook_path, 4).cells:
        for o in cell.get("outputs", []):
            if o.output_type == "error":
                out[cell.source[:60]] = f"{o.ename}: {o.evalue}"
    return out


def test_autograding(course):
    subs, stored = course / "submissions", course / "instructor"
    for path in WITH_EXERCISES:
        (stored / "instructor").mkdir(parents=True, exist_ok=True)
        (subs / "blank").mkdir(parents=True, exist_ok=True)
        shutil.copy(path, stored / "instructor" / path.name)
        shutil.copy(course / "student" / path.name, subs / "blank" / path.name)
    wrong = nbformat.read(course / "student" / "03_ddpm_forward.ipynb", 4)
    for cell in wrong.cells:
        for start, answer in WRONG_03.items():
            if cell.source.startswith(start):
                cell.source = answer
    (subs / "wrong").mkdir()
    nbformat.write(wrong, subs / "wrong" / "03_ddpm_forward.ipynb")

    # The instructor edition is graded from its stored outputs, which nbval has just checked
    # against a fresh run of every notebook (test_instructor_outputs_are_checked_by_nbval);
    # the blank and wrong editions are executed, as every student's submission is.
    rows = classroom.grade(stored, course / "instructor.csv", course / "nbgrader", execute=False)
    rows += classroom.grade(subs, course / "grades.csv", course=course / "nbgrader")

    with open(course / "grades.csv") as f:
        assert list(csv.DictReader(f)) == [
            {k: str(v) for k, v in r.items()} for r in rows if r["student"] != "instructor"
        ]
    by = {}
    for r in rows:
        by.setdefault(r["student"], {})[r["exercise"]] = (r["points"], r["max_points"])
    assert len(by["instructor"]) == 10 and all(p == m > 0 for p, m in by["instructor"].values())
    assert len(by["blank"]) == 10 and all(p == 0 for p, _ in by["blank"].values())
    assert by["wrong"] == {"ex3_1": (0, 2), "ex3_2": (0, 2)}

    autograded = course / "nbgrader" / "autograded"
    for path in WITH_EXERCISES:
        assert errors(autograded / "instructor" / path.stem / path.name) == {}
        # an unanswered edition still runs: only the graded test cells fail
        failed = errors(autograded / "blank" / path.stem / path.name)
        assert len(failed) == 2 and all("not answered yet" in e for e in failed.values()), failed
    feedback = " ".join(
        errors(autograded / "wrong" / "03_ddpm_forward" / "03_ddpm_forward.ipynb").values()
    )
    assert (
        "standard deviations" in feedback and "coefficients of x_0 and x_t are swapped" in feedback
    )


def test_instructor_outputs_are_checked_by_nbval():
    """Grading the instructor edition from its stored outputs is sound only if nbval compares
    every graded cell's output with a fresh run, and the stored ones hold no error."""
    for path in WITH_EXERCISES:
        for cell in nbformat.read(path, 4).cells:
            if graded(cell) or cell.metadata.get("nbgrader", {}).get("solution"):
                assert not re.search(r"NBVAL_(IGNORE_OUTPUT|SKIP)", cell.source), path.name
                assert "nbval-skip" not in cell.metadata.get("tags", []), path.name
                assert all(o.output_type != "error" for o in cell.get("outputs", [])), path.name


def test_grading_without_executing_reads_the_stored_outputs(course):
    """execute=False grades what a notebook holds: a stored error costs the points."""
    path = next(p for p in WITH_EXERCISES if p.stem.startswith("03"))
    nb = nbformat.read(path, 4)
    test_cell = next(c for c in nb.cells if graded(c))
    test_cell.outputs = [
        nbformat.v4.new_output("error", ename="AssertionError", evalue="wrong", traceback=[])
    ]
    (course / "stale" / "broken").mkdir(parents=True)
    nbformat.write(nb, course / "stale" / "broken" / path.name)
    rows = classroom.grade(
        course / "stale", course / "stale.csv", course / "nbgrader", execute=False
    )
    points = {r["exercise"]: r["points"] for r in rows}
    assert points[test_cell.metadata.nbgrader["grade_id"].removesuffix("_tests")] == 0
    assert sum(points.values()) > 0  # the other exercise keeps its points


def test_grading_regenerates_the_course_when_the_instructor_edition_changed(tmp_path):
    course = tmp_path / "nbgrader"
    assert classroom._stale(course)  # nothing generated yet
    (course).mkdir()
    (course / "gradebook.db").touch()
    for nb in classroom.notebooks():
        (course / "source" / nb.stem).mkdir(parents=True)
        shutil.copy(nb, course / "source" / nb.stem / nb.name)
    assert not classroom._stale(course)
    copy = course / "source" / WITH_EXERCISES[0].stem / WITH_EXERCISES[0].name
    copy.write_text(copy.read_text().replace("BEGIN SOLUTION", "BEGIN  SOLUTION", 1))
    assert classroom._stale(course)
