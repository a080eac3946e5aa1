# One image for every Protectogram process; the command picks which (docs/deployment.md):
#   protectogram-edge, protectogram-incident, protectogram-notification, protectogram-telephony,
#   protectogram-migrate (the release step / migration Job), protectogram-sim (provider simulators, staging and
#   demos only).
# Built from Debian bookworm's own packages (scripts/install-deps.sh), shipped on bookworm-slim with only the
# shared libraries the binaries load. tests/deploy/check_deploy.mjs (make test) checks this file against
# fly/ and k8s/ and against the binaries' own dependencies; keep the shapes it reads: the --target list, the
# COPY --from=build lines naming each binary, the apt-get install list, ENV and a numeric USER.

# --- build -------------------------------------------------------------------------------------------------
FROM debian:bookworm AS build
WORKDIR /src
# The dependency layer first, so that a source change does not reinstall the toolchain.
COPY scripts/install-deps.sh scripts/install-deps.sh
COPY tools/package.json tools/package-lock.json tools/.npmrc tools/
RUN scripts/install-deps.sh
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build build --target protectogram-edge protectogram-incident protectogram-notification \
      protectogram-telephony protectogram-migrate protectogram-sim \
 && strip --strip-debug build/bin/protectogram-*

# --- runtime -----------------------------------------------------------------------------------------------
FROM debian:bookworm-slim
# The runtime halves of what the build links (ldd build/bin/protectogram-*, mapped with dpkg -S); libc6,
# libgcc-s1, libstdc++6 and libcrypt1 are in bookworm-slim already. ca-certificates: the providers' HTTPS.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates libabsl20220623 libboost-json1.81.0 libboost-url1.81.0 libfmt9 libgrpc++1.51 libgrpc29 \
      libpq5 libprotobuf32 libspdlog1.10 libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin protectogram
COPY --from=build /src/build/bin/protectogram-edge /src/build/bin/protectogram-incident /usr/local/bin/
COPY --from=build /src/build/bin/protectogram-notification /src/build/bin/protectogram-telephony /usr/local/bin/
COPY --from=build /src/build/bin/protectogram-migrate /src/build/bin/protectogram-sim /usr/local/bin/
COPY db/migrations /usr/share/protectogram/migrations
# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
ENV APP_ENV=prod MIGRATIONS_DIR=/usr/share/protectogram/migrations
# edge HTTP; incident, notification, telephony gRPC; their metrics and health.
EXPOSE 8080 50051 50052 50053 9101 9102 9103
CMD ["protectogram-edge"]
