# Multi-stage build of both binaries; the runtime image holds only them, the browser
# client and a non-root user.
FROM rust:1-bookworm AS build
WORKDIR /src
# Only what the build needs: the workspace manifest, the lock file and the member crates.
COPY Cargo.toml Cargo.lock ./
COPY common common
COPY server server
COPY worker worker
COPY load load
COPY tests tests
COPY client client
RUN cargo build --release --locked --bin server --bin worker

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home app
COPY --from=build /src/target/release/server /src/target/release/worker /usr/local/bin/
COPY web /app/web
# The page loads the JavaScript client library through the link web/js/client.
COPY clients/js/index.js /app/clients/js/index.js
COPY clients/js/src /app/clients/js/src
WORKDIR /app
ENV WEB_DIR=/app/web BIND_ADDR=0.0.0.0:3000
USER app
EXPOSE 3000
CMD ["server"]
