# The image of every Airflow service in docker-compose.yml: Airflow 3.3.2 on
# Python 3.11 with the project's pinned requirements and the dupmon package.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN mkdir -p /opt/dupmon && chown airflow:root /opt/dupmon
USER airflow

COPY --chown=airflow:root requirements.txt constraints.txt pyproject.toml setup.py /opt/dupmon/
COPY --chown=airflow:root include /opt/dupmon/include
# Editable, so that the package finds its templates, GX suite and default
# region configuration under /opt/dupmon/include, where it looks for them.
RUN pip install --no-cache-dir -r /opt/dupmon/requirements.txt -c /opt/dupmon/constraints.txt \
    && pip install --no-cache-dir --no-deps -e /opt/dupmon
