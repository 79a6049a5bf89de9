# The image of every Airflow service in docker-compose.yml: Airflow 3.3.2 on
# Python 3.11 with the project's pinned requirements and the dupmon package.

# The Airflow image has no C compiler, so the optional C modules, of keyed
# hashes (include/dupmon/_blake2b.c), string lookups (_lookup.c), scans
# of text cells (_cells.c) and reuse of frame stack chunks
# (_stack_chunks.c), are compiled in this stage, and only the modules go
# into the image. Without them, dupmon uses hashlib, pyarrow and regular
# expressions, and Python maps its frame stack anew, more slowly.
FROM apache/airflow:3.3.2-python3.11 AS c-modules

USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
USER airflow

COPY --chown=airflow:root pyproject.toml setup.py /tmp/dupmon/
COPY --chown=airflow:root include /tmp/dupmon/include
# pip succeeds without the optional modules, so the cp fails the build when
# one did not compile, as it should not here, with a compiler.
RUN pip install --no-cache-dir --no-deps --target /tmp/dupmon-built /tmp/dupmon \
    && mkdir /tmp/dupmon-module \
    && cp /tmp/dupmon-built/dupmon/_blake2b.*.so /tmp/dupmon-built/dupmon/_lookup.*.so \
        /tmp/dupmon-built/dupmon/_cells.*.so /tmp/dupmon-built/dupmon/_stack_chunks.*.so \
        /tmp/dupmon-module/

FROM apache/airflow:3.3.2-python3.11

USER root
RUN mkdir -p /opt/dupmon && chown airflow:root /opt/dupmon
USER airflow

COPY --chown=airflow:root requirements.txt constraints.txt pyproject.toml setup.py /opt/dupmon/
COPY --chown=airflow:root include /opt/dupmon/include
# Editable, so that the package finds its templates, GX suite and default
# region configuration under /opt/dupmon/include, where it looks for them.
# The editable install compiles no bytecode; without it every task process
# would compile dupmon's modules anew wherever bytecode is not written.
RUN pip install --no-cache-dir -r /opt/dupmon/requirements.txt -c /opt/dupmon/constraints.txt \
    && pip install --no-cache-dir --no-deps -e /opt/dupmon \
    && python -m compileall -q /opt/dupmon/include
COPY --from=c-modules --chown=airflow:root /tmp/dupmon-module/ /opt/dupmon/include/dupmon/
