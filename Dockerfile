# ksqlpy server image: `docker build -t ksqlpy .` (used by docker-compose.yml).
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ksqlpy ./ksqlpy
COPY grammar ./grammar
COPY server ./server
COPY cli ./cli
RUN pip install --no-cache-dir .

# 8088: the REST API, as ksqlDB. Data (the embedded log, state) lives under /data.
ENV KSQLPY_DATA_DIR=/data
VOLUME /data
EXPOSE 8088
ENTRYPOINT ["ksqlpy", "server"]
CMD ["--host", "0.0.0.0", "--port", "8088"]
