# Build: the release binary, linked against the system libpq.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
RUN cargo build --release --locked

# Run: only the runtime libraries, as an unprivileged user, data in /data.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin nis2hub \
 && mkdir -p /data && chown nis2hub /data
COPY --from=build /src/target/release/nis2hub /usr/local/bin/nis2hub
COPY examples /usr/share/nis2hub/examples
USER nis2hub
WORKDIR /data
ENV NIS2HUB_LISTEN=0.0.0.0:8080 \
    DATABASE_URL=/data/nis2hub.db \
    NIS2HUB_JWT_SECRET_FILE=/data/jwt-secret
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["nis2hub"]
CMD ["serve"]
