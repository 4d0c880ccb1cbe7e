# Build: the release binary, linked against the system libpq.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Exactly what the build needs: the manifest, the code, the migrations and the data the binary
# embeds (include_str!: the rule set, the maturity model), and the benches Cargo.toml declares.
# .ci/run builds from exactly these COPY sources, so a missing one fails CI, not the image.
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
COPY rules rules
COPY maturity maturity
COPY benches/*.rs benches/
RUN cargo build --release --locked --bin nis2hub

# Run: only the runtime libraries, as an unprivileged user, everything it keeps in /data:
# the SQLite database, the HS256 key and the OpenPGP key (all created on first start).
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
# NIS2HUB_PUBLIC_URL is the address clients reach the service at; the CSAF provider's
# canonical URLs carry it. The default suits `docker run -p 8080:8080` on one machine; set it
# to the public https:// address (docker run -e NIS2HUB_PUBLIC_URL=https://csirt.example).
ENV NIS2HUB_LISTEN=0.0.0.0:8080 \
    NIS2HUB_PUBLIC_URL=http://localhost:8080 \
    DATABASE_URL=/data/nis2hub.db \
    NIS2HUB_JWT_SECRET_FILE=/data/jwt-secret \
    NIS2HUB_OPENPGP_KEY_FILE=/data/openpgp-key.asc
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["nis2hub"]
CMD ["serve"]
