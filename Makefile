# Deep generative models for images, built from scratch.
#   make course   run every notebook, headless, on the offline default; HTML in build/course/
#   make test     pytest over tests/ and nbval over notebooks/, in one run (make test-fast: the library only)
#   make lab      open JupyterLab on notebooks/
#   make student  the student edition in build/student/; make grade SUBMISSIONS=DIR autogrades
# Each target creates .venv and installs the pinned versions first if needed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements-lock.txt pyproject.toml | cksum | cut -d' ' -f1)
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg --nbval-cell-timeout 900

# Options for `make course`, e.g. make course DATASET=mnist DATA_ROOT=../shared/data/mnist DEVICE=cuda
COURSE_ARGS := $(if $(DATASET),--dataset $(DATASET)) $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(if $(DEVICE),--device $(DEVICE))

.PHONY: course test test-fast test-machines lab bench bench-flow bench-cli lint lock checkpoints clean student grade

# uv installs the same pinned wheels as pip, linked from its cache: about 20 s instead of 3 minutes
# for torch's 6 GB. Where uv cannot reach the index (a mirror set only in pip.conf), pip does it.
UV_VERSION := 0.13.9
$(STAMP): requirements-lock.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q uv==$(UV_VERSION) || true
	($(BIN)/uv pip install -q --python $(BIN)/python -r requirements-lock.txt \
	  && $(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .) \
	|| ($(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-lock.txt \
	  && $(BIN)/python -m pip install --disable-pip-version-check -q --no-deps -e .)
	rm -f $(VENV)/.installed-*
	touch $@

course: $(STAMP)
	$(BIN)/python scripts/run_course.py $(COURSE_ARGS)

# Two pytest workers (pytest-xdist) of one thread each: on 2 cores they finish sooner than one
# process on two threads (measured: pytest 760 s against about 1000), as the course's small tensors
# keep a second thread waiting. --dist loadfile runs a notebook's cells in order, in one kernel;
# the notebooks, the longest files, are handed out first. Every result in the course holds on one
# thread and on two (make test-machines); TEST_JOBS=1 runs one process on PyTorch's own threads.
TEST_JOBS ?= 2
test: $(STAMP)
ifeq ($(TEST_JOBS),1)
	$(BIN)/python -m pytest tests notebooks $(NBVAL) --durations=15 $(PYTEST_ARGS)
else
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest notebooks tests $(NBVAL) -n $(TEST_JOBS) --dist loadfile --durations=15 $(PYTEST_ARGS)
endif

# Developers: the library's tests alone, without the notebooks, autograding and the browser.
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests --ignore=tests/test_classroom.py --ignore=tests/test_browser.py --durations=10 $(PYTEST_ARGS)

# Maintainers: how far every chaotic claim (the notebooks' asserts, the tests that train) moves with
# the seed and the CPU's rounding: seeds 0-4 x ATEN_CPU_CAPABILITY default/avx2 x 1/2 threads, a
# table of min/median/max per claim (about 4 hours on 2 cores; narrower: SPREAD_ARGS="--notebooks 01 --seeds 0-2")
test-machines: $(STAMP)
	$(BIN)/python scripts/spread.py $(SPREAD_ARGS)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

bench: $(STAMP)
	$(BIN)/python scripts/run_course.py --no-html $(COURSE_ARGS)
	$(BIN)/python scripts/bench_sampling.py $(if $(DEVICE),--device $(DEVICE))
	$(BIN)/python scripts/bench_widgets.py

# Notebook 07's benchmark: flow matching against the DDPM, quality against network calls (about
# 15 minutes on 2 cores): make bench-flow DEVICE=cuda
bench-flow: $(STAMP)
	$(BIN)/python scripts/bench_flow.py $(if $(DEVICE),--device $(DEVICE))

# The command line at its defaults, every family trained, sampled and measured (about 30 min on
# 2 cores for mnist10k): make bench-cli DATASET=mnist10k DEVICE=cuda
bench-cli: $(STAMP)
	$(BIN)/python scripts/bench_cli.py --dataset $(or $(DATASET),mnist10k) --device $(or $(DEVICE),cpu)

# Teachers: the student edition (no solutions, no hidden tests) in build/student/, and autograding.
student: $(STAMP)
	$(BIN)/python scripts/classroom.py student

grade: $(STAMP)
	$(if $(SUBMISSIONS),,$(error make grade needs SUBMISSIONS=DIR, a folder with one subfolder of notebooks per student))
	$(BIN)/python scripts/classroom.py grade $(SUBMISSIONS) $(if $(CSV),--csv $(CSV))

lint: $(STAMP)
	$(BIN)/ruff check tutorial_lib tests scripts
	$(BIN)/ruff format --check tutorial_lib tests scripts

# Maintainers: retrain the shipped checkpoints and rewrite checkpoints/manifest.json.
checkpoints: $(STAMP)
	$(BIN)/python scripts/make_checkpoints.py

# Maintainers: re-resolve the newest versions into requirements-lock.txt (then rerun make test).
lock:
	rm -rf build/lockvenv && $(PYTHON) -m venv build/lockvenv
	build/lockvenv/bin/pip install -q -e '.[dev,course]'
	(head -3 requirements-lock.txt; build/lockvenv/bin/pip freeze --exclude-editable \
	  | grep -viE '^(nvidia|cuda|triton)') > requirements-lock.new && mv requirements-lock.new requirements-lock.txt
	rm -rf build/lockvenv

clean:
	rm -rf build .pytest_cache
