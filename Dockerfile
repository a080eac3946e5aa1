# Builds every Protectogram binary on Debian bookworm from Debian's packages, then ships them in a slim image.
# One image, several roles: the command picks the process (protectogram-edge, -incident, -notification,
# -telephony, -migrate).
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
COPY tools/package.json tools/package-lock.json tools/.npmrc tools/
RUN scripts/install-deps.sh
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build build --target protectogram-edge protectogram-incident protectogram-notification \
      protectogram-telephony protectogram-migrate

FROM debian:bookworm-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libpq5 libspdlog1.10 libfmt9 libssl3 libcrypt1 ca-certificates \
      libboost-json1.81.0 libboost-url1.81.0 \
 && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 protectogram
COPY --from=build /src/build/bin/protectogram-* /usr/local/bin/
COPY db/migrations /usr/share/protectogram/migrations
USER protectogram
ENV APP_ENV=prod MIGRATIONS_DIR=/usr/share/protectogram/migrations
CMD ["protectogram-edge"]
