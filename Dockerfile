# jwtd production image, and the example resource server (the same image, another command).
# Build: docker build -t jwtd .   Not built on the project's CI machines (they run no Docker
# engine); kept simple to read.

FROM rust:1-bookworm AS build
# OpenSSL's headers, for TLS to PostgreSQL (the `postgres-tls` feature of the bundled libpq).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p jwtd --features postgres-tls \
    && cargo build --release --locked -p jwtd-verify --example resource_server \
    && strip target/release/jwtd target/release/examples/resource_server

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/jwtd --shell /usr/sbin/nologin jwtd \
    && mkdir -p /var/lib/jwtd/secrets \
    && chown -R jwtd:jwtd /var/lib/jwtd \
    && chmod 0700 /var/lib/jwtd /var/lib/jwtd/secrets
COPY --from=build /src/target/release/jwtd /usr/local/bin/jwtd
COPY --from=build /src/target/release/examples/resource_server /usr/local/bin/resource-server
COPY config /etc/jwtd/config
ENV JWTD_ENV=production \
    JWTD_CONFIG_DIR=/etc/jwtd/config \
    JWTD__DATA_DIR=/var/lib/jwtd
USER jwtd
WORKDIR /var/lib/jwtd
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --retries=6 CMD ["/usr/local/bin/jwtd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/jwtd"]
CMD ["serve"]
