# migration-check as a container: the GitHub Action's image, also usable as
#   docker run --rm -v "$PWD:/work" -w /work ghcr.io/OWNER/migration-check verify migrations --postgres embedded
# Stages, in the order the legacy builder needs (it builds every stage before
# the target): `base` (runtime packages), `prebuilt` (a binary built outside,
# for machines without a Rust image), `builder`, and `release` (the default).
ARG RUNTIME_IMAGE=debian:trixie-slim
ARG RUST_IMAGE=rust:1-bookworm

FROM ${RUNTIME_IMAGE} AS base
# git reads the base branch; PostgreSQL server binaries make `postgres: embedded`
# work without Docker; ca-certificates for the GitHub API over TLS; Node.js runs
# the project's own knex / node-pg-migrate that the workflow's `npm ci` installed
# into the workspace (npm itself is not needed inside the image). Trixie: its
# Node.js 20 is what node-pg-migrate 9 requires (bookworm's 18 is too old).
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates git postgresql nodejs \
 && rm -rf /var/lib/apt/lists/* /var/lib/postgresql/*/main /etc/postgresql/*/main
# GitHub runs container actions as root (it must, to write the workspace).
USER root
ENTRYPOINT ["/usr/local/bin/migration-check", "action"]

FROM base AS prebuilt
COPY migration-check /usr/local/bin/migration-check

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin migration-check \
 && install -m 0755 target/release/migration-check /migration-check

FROM base AS release
COPY --from=builder /migration-check /usr/local/bin/migration-check
