# make demo: set everything up and run the pipeline on the bundled samples.
# make test: run the test suite (what CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Debian packages of the PDF справка: LibreOffice Writer converts the DOCX,
# DejaVu fonts carry its Cyrillic text, poppler's pdftotext and pdftoppm
# read the PDF back in the tests. The tests also need LibreOffice Calc, which
# writes the BIFF .xls and .ods exports the readers are checked on.
SYSTEM_PACKAGES := libreoffice-writer-nogui libreoffice-calc-nogui fonts-dejavu-core poppler-utils
# Calc's core library; soffice alone may be Writer without Calc.
CALC_LIBRARY := /usr/lib/libreoffice/program/libsclo.so

.PHONY: demo test setup system-packages clean

# The bytecode of the project's own modules is written here, since an
# environment with PYTHONDONTWRITEBYTECODE set would otherwise compile them
# anew in every task process. Files already compiled are skipped.
setup: system-packages $(STAMP)
	$(BIN)/python -m compileall -q include dags plugins

# Installs the packages as root when soffice, LibreOffice Calc, pdftotext or
# pdftoppm is missing; otherwise prints the command to run as root.
system-packages:
	@if command -v soffice >/dev/null 2>&1 && [ -e $(CALC_LIBRARY) ] \
		&& command -v pdftotext >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1; then \
		echo "system packages present: soffice with Calc, pdftotext, pdftoppm"; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends $(SYSTEM_PACKAGES); \
	else \
		echo "LibreOffice Writer or Calc, or poppler, is missing; install them as root:"; \
		echo "  apt-get update && apt-get install -y --no-install-recommends $(SYSTEM_PACKAGES)"; \
	fi

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml setup.py include/dupmon/_blake2b.c include/dupmon/_lookup.c include/dupmon/_cells.c include/dupmon/_stack_chunks.c include/dupmon/_buffer_format.h
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required, found " + sys.version.split()[0] + "; set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: setup
	bash tools/demo.sh

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf .airflow data build *.egg-info
