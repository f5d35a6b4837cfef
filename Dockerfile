# flow-aggregator container image.
#
#   build stage:   the project's own scripts/install-deps.sh (--build: compilers and -dev
#                  packages only), then the CMake Release build `make run` does
#   runtime stage: debian:bookworm-slim plus exactly the shared libraries the binary links
#                  (container-test.sh checks with ldd inside the image), run as uid 10001
#
#   docker build -t flow-aggregator .
#   podman build --format docker -t flow-aggregator .      # HEALTHCHECK needs docker format
#   buildah bud --format docker --isolation chroot -t flow-aggregator .
#   docker run -p 4739:4739 -p 4739:4739/udp -p 10348:10348 flow-aggregator
#
# `make container-test` builds it with buildah (no daemon), runs it and sends traffic through.

ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
# Parallel compile jobs; empty = ninja's default (all cores).
ARG JOBS=
WORKDIR /src
# Dependencies first: this layer is reused until install-deps.sh changes.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh --build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFA_TESTS=OFF \
    && cmake --build build/release --target flow-aggregator ${JOBS:+-j ${JOBS}} \
    && install -D -s -m 0755 build/release/app/flow-aggregator /out/usr/bin/flow-aggregator \
    && install -D -m 0644 deploy/container/config.toml /out/etc/flow-aggregator/config.toml

FROM ${BASE}
# What `ldd flow-aggregator` names, by package: CAF, toml++, prometheus-cpp core (the text
# format; the admin server is civetweb), civetweb (C and C++), OpenSSL, libcurl (the
# Kubernetes API, ClickHouse destinations), zlib (gzip of ClickHouse bodies and rotated flow
# logs), gRPC C++ and protobuf (grpc-stream destinations, the Flow messages), nghttp2
# (HTTP/2 of grpc:// listeners).
# ca-certificates for TLS destinations that use the system CAs; curl for the HEALTHCHECK.
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       libcaf-core0.17 libtomlplusplus3 libprometheus-cpp-core1.0 libcivetweb1 libssl3 libcurl4 \
       libgrpc++1.51 libprotobuf32 libnghttp2-14 zlib1g ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/flow-aggregator \
       --create-home --shell /usr/sbin/nologin flow-aggregator
COPY --from=build /out/ /
LABEL org.opencontainers.image.title="flow-aggregator" \
      org.opencontainers.image.description="IPFIX mediator: collects IPFIX from Antrea agents and other exporters, enriches and forwards it"
# The cluster id is generated once and kept here (a volume keeps it across containers).
ENV FA_STATE_DIR=/var/lib/flow-aggregator
WORKDIR /var/lib/flow-aggregator
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
# IPFIX over TCP and UDP (RFC 7011 10), IPFIX over TLS (RFC 7011 11), Antrea's gRPC flow
# export and flow stream (when configured), admin API.
EXPOSE 4739/tcp 4739/udp 4740/tcp 14739/tcp 14740/tcp 10348/tcp
# /healthz answers while the process runs, without the admin token. With [admin] tls_cert
# set the port speaks only HTTPS: override this check with an https:// URL and --cacert.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:10348/healthz"]
# SIGTERM drains what is queued (runtime.shutdown_timeout) before exiting.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/flow-aggregator"]
CMD ["run", "-c", "/etc/flow-aggregator/config.toml"]
