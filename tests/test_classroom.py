"""The classroom edition: nbgrader writes a student edition without solutions, and autograding
gives full marks to the instructor edition, zero to an unanswered one, and loses the points of
wrong answers while the feedback names the mistake."""

import ast
import csv
import importlib.util
import inspect
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from tutorial_lib import checks

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("classroom", ROOT / "scripts" / "classroom.py")
classroom = importlib.util.module_from_spec(spec)
spec.loader.exec_module(classroom)

WITH_EXERCISES = classroom.notebooks()  # every lesson, 00 to 06
HEADING = re.compile(
    r"^### Exercise (\d)\.(\d) \((\d+) points, (easy|medium|hard), about (\d+) minutes\): \S", re.M
)
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


def test_every_lesson_has_three_graded_exercises_marked_with_points_difficulty_and_time():
    """Each exercise: a heading that gives its points, difficulty and time, a solution cell, and
    a graded cell whose check gives partial credit (the points of the check equal the cell's),
    with hidden tests that pass cases of their own to the same check."""
    for path in WITH_EXERCISES:
        cells = nbformat.read(path, 4).cells
        tests = [c for c in cells if graded(c)]
        solutions = [c for c in cells if c.metadata.get("nbgrader", {}).get("solution")]
        headings = [
            m for c in cells if c.cell_type == "markdown" for m in HEADING.finditer(c.source)
        ]
        assert len(tests) == len(solutions) == len(headings) >= 3, path.name
        for heading, test in zip(headings, tests, strict=True):
            number = f"ex{heading.group(1)}_{heading.group(2)}"
            assert (
                heading.group(1) == path.stem[1]
                and test.metadata.nbgrader["grade_id"] == f"{number}_tests"
            )
            points = int(heading.group(3))
            assert test.metadata.nbgrader["points"] == points > 0, number
            check = re.match(
                r"(?:from tutorial_lib import checks\n+)?checks\.(\w+)\((\w+)\)\n", test.source
            )
            assert check, f"{number}: the graded cell starts with its check"
            default = (
                inspect.signature(getattr(checks, check.group(1))).parameters["points"].default
            )
            assert default == points, (
                f"{number}: the check gives {default} points, the cell {points}"
            )
            last = ast.parse(test.source).body[-1]  # its value is the grade nbgrader records
            assert (
                isinstance(last, ast.Expr)
                and ast.unparse(last.value.func) == f"checks.{check.group(1)}"
                and [k.arg for k in last.value.keywords] == ["hidden"]
                and "### BEGIN HIDDEN TESTS"
                in test.source.split(ast.get_source_segment(test.source, last))[0]
            ), (
                f"{number}: the hidden tests end with the check on hidden cases, whose points are the grade"
            )
            assert "raises-exception" in test.metadata.get("tags", []), number


def test_every_lesson_ends_with_ungraded_questions_that_say_what_to_measure():
    for path in WITH_EXERCISES:
        text = "\n".join(
            c.source for c in nbformat.read(path, 4).cells if c.cell_type == "markdown"
        )
        further = text.split("## Going further (ungraded)")
        assert len(further) == 2, path.name
        questions = re.findall(r"^\d\. \*\*.+?\*Measure:\*", further[1], re.M)
        assert len(questions) >= 3, path.name


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
        public = "\n".join(MARKED.sub("", c.source) for c in instructor.cells)  # shown anyway
        leaked = [  # lines of code that only a solution or a hidden test holds, not a lone bracket
            line
            for line in secret
            if re.search(r"\w", line) and line in student_text and line not in public
        ]
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
    "def cosine_betas(": """def cosine_betas(T, s=0.008):
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    return 1 - f[1:] / f[:-1]  # not clipped: right but for the last beta
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


EXECUTED_BLANK = "00_setup_and_data"  # the quickest notebook: an unanswered edition, executed


def test_autograding(course):
    """End to end: the instructor edition gets full marks (graded from its stored outputs), an
    unanswered 00 is executed and gets zero, and a wrong 03 is executed and gets the points its
    answers earn, with feedback that names the mistakes. That every other unanswered notebook
    also runs to its end is test_an_unanswered_edition_fails_only_in_its_graded_cells's, which
    reads them instead of running them all again after nbval (minutes of CPU)."""
    subs, stored = course / "submissions", course / "instructor"
    (stored / "instructor").mkdir(parents=True, exist_ok=True)
    for path in WITH_EXERCISES:
        shutil.copy(path, stored / "instructor" / path.name)
    (subs / "blank").mkdir(parents=True)
    blank = f"{EXECUTED_BLANK}.ipynb"
    shutil.copy(course / "student" / blank, subs / "blank" / blank)
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
    exercises = sum(graded(c) for path in WITH_EXERCISES for c in nbformat.read(path, 4).cells)
    assert len(by["instructor"]) == exercises and all(
        p == m > 0 for p, m in by["instructor"].values()
    )
    blank_exercises = sum(graded(c) for c in nbformat.read(ROOT / "notebooks" / blank, 4).cells)
    assert len(by["blank"]) == blank_exercises and all(p == 0 for p, _ in by["blank"].values())
    # two wrong answers get nothing, and one right but for an edge case gets partial credit:
    # the unclipped cosine schedule misses the last beta in each of its 3 cases, 3 of 6 checks
    assert by["wrong"] == {"ex3_1": (0, 2), "ex3_2": (1.5, 3), "ex3_3": (0, 2)}

    autograded = course / "nbgrader" / "autograded"
    for path in WITH_EXERCISES:
        assert errors(autograded / "instructor" / path.stem / path.name) == {}
    # an unanswered edition runs to its end: only the graded test cells fail
    failed = errors(autograded / "blank" / EXECUTED_BLANK / blank)
    assert len(failed) == blank_exercises and all(
        "not answered yet" in e for e in failed.values()
    ), failed
    feedback = errors(autograded / "wrong" / "03_ddpm_forward" / "03_ddpm_forward.ipynb")
    assert len(feedback) == 2, feedback  # the two answers that earn nothing; the rest ran
    said = " ".join(feedback.values())
    assert "standard deviations" in said and "coefficients of x_0 and x_t are swapped" in said
    wrong_03 = nbformat.read(autograded / "wrong" / "03_ddpm_forward" / "03_ddpm_forward.ipynb", 4)
    said = " ".join(
        o.text for c in wrong_03.cells if graded(c) for o in c.outputs if o.output_type == "stream"
    )
    assert (
        "1.5 of 3 points" in said and "not clipped" in said
    )  # partial credit says what is missing


def answer_names(source: str) -> set[str]:
    """The names an answer cell gives the cells after it: its functions and classes (which the
    student edition keeps, raising when called) and what its solution region binds at the top
    level (which the student edition removes)."""
    tree = ast.parse(source)
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    for match in MARKED.finditer(source):
        region = match.group(2)
        if match.group(1) == "SOLUTION" and region.strip() and not region[:1].isspace():
            for node in ast.walk(ast.parse(region)):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
    return names


def unanswered_uses(notebook: nbformat.NotebookNode) -> list[str]:
    """Where an unanswered edition would fail outside its graded cells: a name that an answer
    cell gives (``answer_names``) read by a cell that is neither an answer nor a graded one."""
    given, others = set(), []
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade"):
            continue
        if meta.get("solution"):
            given |= answer_names(cell.source)
        else:
            others.append(cell)
    return [
        f"{node.id} in {cell.source[:60]!r}"
        for cell in others
        for node in ast.walk(ast.parse(cell.source))
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in given
    ]


def test_an_unanswered_edition_fails_only_in_its_graded_cells(course):
    """No cell but a graded one reads what an exercise's answer defines, in every notebook, so an
    unanswered edition runs to its end with only its graded cells failing; the answer cells of
    the student edition define their names and raise only when called."""
    for path in WITH_EXERCISES:
        instructor = nbformat.read(path, 4)
        assert unanswered_uses(instructor) == [], path.name
        student = nbformat.read(course / "student" / path.name, 4)
        for cell in student.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                body = ast.parse(cell.source).body
                assert all(
                    isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom)
                    for n in body
                ), f"{path.name}: an answer cell that computes at import time"


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
