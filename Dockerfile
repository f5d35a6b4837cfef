# flow-aggregator container image: build on Debian 12, run on bookworm-slim with only the
# runtime libraries, as a non-root user.
FROM debian:bookworm-slim AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      build-essential cmake ninja-build pkg-config libcaf-dev libasio-dev libtomlplusplus-dev \
      prometheus-cpp-dev libssl-dev libcurl4-openssl-dev nlohmann-json3-dev libcivetweb-dev \
      zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DFA_TESTS=OFF \
    && cmake --build /build --target flow-aggregator \
    && install -D -m 0755 /build/app/flow-aggregator /out/usr/bin/flow-aggregator \
    && install -D -m 0644 config/default.toml /out/etc/flow-aggregator/config.toml

FROM debian:bookworm-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libcaf-core0.17 libtomlplusplus3 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
      libcivetweb1 libssl3 libcurl4 zlib1g ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/flow-aggregator --create-home flow-aggregator
COPY --from=build /out/ /
USER flow-aggregator
ENV FA_STATE_DIR=/var/lib/flow-aggregator
EXPOSE 4739/tcp 4739/udp 4740/tcp 10348/tcp
HEALTHCHECK --interval=15s --timeout=3s CMD curl -fsS http://127.0.0.1:10348/healthz >/dev/null || exit 1
ENTRYPOINT ["/usr/bin/flow-aggregator"]
CMD ["run", "-c", "/etc/flow-aggregator/config.toml"]
