# syntax=docker/dockerfile:1
#
# vodsnap: the `vodsnap` binary on distroless (glibc, CA certificates, no
# shell, no package manager), running as the non-root user `nonroot`
# (uid 65532). See docs/DEPLOY.md.
#
#   docker build -t vodsnap .
#   docker run --rm -p 8080:8080 vodsnap            # embedded store, demo data
#   docker run --rm -p 8080:8080 -e DATABASE_URL=... -e VODSNAP_TOKEN_KEY=... \
#     -e VODSNAP_CREDENTIAL_KEYS=... -e VODSNAP_STORAGE=s3://bucket -e AWS_... vodsnap
#
# This image was never built on the machine it was written on (no Docker
# engine there); CI builds it (.github/workflows/ci.yml, job `docker`).

ARG RUST_VERSION=1.95

# --- cargo-chef: a recipe of the dependencies, so that they are built in a
# layer of their own, rebuilt only when Cargo.toml / Cargo.lock change.
FROM rust:${RUST_VERSION}-slim-bookworm AS chef
# cmake: aws-lc-sys (rustls' crypto, through object_store's S3 client) may
# build with it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked --version ^0.1.77
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# Only what the vodsnap binary needs (not xtask's test dependencies).
RUN cargo chef cook --release --recipe-path recipe.json --bin vodsnap
COPY . .
RUN cargo build --release --locked -p vodsnap-app --bin vodsnap \
 && cp target/release/vodsnap /vodsnap

# --- runtime
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /vodsnap /usr/local/bin/vodsnap
USER nonroot:nonroot
# The default --storage is file://{current directory}/data/images: inside the
# image, /home/nonroot/data/images, lost with the container. Set
# VODSNAP_STORAGE (s3://...) or mount a volume there in production.
WORKDIR /home/nonroot
ENV VODSNAP_LISTEN=0.0.0.0:8080
EXPOSE 8080
# No HEALTHCHECK: distroless has no shell or curl. Probe GET /healthz
# (liveness) and GET /readyz (readiness) from the orchestrator instead.
ENTRYPOINT ["vodsnap"]
CMD ["serve"]
