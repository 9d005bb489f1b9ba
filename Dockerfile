# Multi-stage build of both binaries and the web pages' npm packages; the runtime image
# holds only the binaries, the browser client (with web/vendor/) and a non-root user.
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

# The web pages' npm packages (web/package-lock.json: uPlot, the charts of /admin), copied
# into web/vendor/ by the same script as scripts/setup.sh uses.
FROM node:22-bookworm-slim AS web
WORKDIR /src
COPY web/package.json web/package-lock.json web/
COPY scripts/web-vendor.sh scripts/
RUN scripts/web-vendor.sh

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home app
COPY --from=build /src/target/release/server /src/target/release/worker /usr/local/bin/
COPY web /app/web
COPY --from=web /src/web/vendor /app/web/vendor
# The page loads the JavaScript client library through the link web/js/client.
COPY clients/js/index.js /app/clients/js/index.js
COPY clients/js/src /app/clients/js/src
WORKDIR /app
ENV WEB_DIR=/app/web BIND_ADDR=0.0.0.0:3000
USER app
EXPOSE 3000
CMD ["server"]
