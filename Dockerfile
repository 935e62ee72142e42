# syntax=docker/dockerfile:1
# kube-sbc: one image for every entry point (operator, signalling, media, run, validate).
# Node 24 runs the TypeScript sources directly (type stripping, ADR 0002): no build step, no dist/.
# Build: docker build -t ghcr.io/kube-sbc/kube-sbc:<package.json version> .
# See docs/helm.md ("Container image").

ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# ---- production dependencies only --------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
 && npm cache clean --force

# ---- optional native media addon (libsrtp + recvmmsg relay) -------------------------------------
# Built only when media-pod/native/binding.gyp exists; otherwise /out stays empty and the media pod
# uses its pure-Node packet path.
FROM ${NODE_IMAGE} AS native
WORKDIR /app
# Debian point releases replace package versions, so pins would break rebuilds; the base tag pins
# the Debian release instead.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ libsrtp2-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY media-pod/ media-pod/
RUN mkdir -p /out \
 && if [ -f media-pod/native/binding.gyp ]; then \
      npx node-gyp rebuild --directory media-pod/native --nodedir=/usr/local \
      && cp media-pod/native/build/Release/*.node /out/; \
    else \
      echo "no media-pod/native/binding.gyp: skipping the native addon"; \
    fi

# ---- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="kube-sbc" \
      org.opencontainers.image.description="Kubernetes-native Session Border Controller: operator, SIP signalling and RTP/SRTP media" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/kube-sbc/kube-sbc" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="docker.io/library/node:24.21.0-bookworm-slim"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=native /out/ /tmp/native/
# libsrtp2's runtime library, only when the addon was built (unpinned: see the native stage).
# hadolint ignore=DL3008
RUN if ls /tmp/native/*.node >/dev/null 2>&1; then \
      apt-get update \
      && apt-get install -y --no-install-recommends libsrtp2-1 \
      && rm -rf /var/lib/apt/lists/* \
      && mkdir -p /app/media-pod/native/build/Release \
      && cp /tmp/native/*.node /app/media-pod/native/build/Release/; \
    fi \
 && rm -rf /tmp/native \
 && groupadd --system --gid 65532 kube-sbc \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin kube-sbc
COPY --from=deps /app/node_modules/ node_modules/
COPY package.json package-lock.json ./
COPY bin/ bin/
COPY scripts/ensure-node.sh scripts/ensure-node.sh
COPY cli/ cli/
COPY lib/ lib/
COPY operator/ operator/
COPY signalling-pod/ signalling-pod/
COPY media-pod/ media-pod/
COPY crds/ crds/
# `kube-sbc` on PATH for kubectl exec; the shim finds this image's Node 24 through ensure-node.sh.
RUN ln -s /app/bin/kube-sbc /usr/local/bin/kube-sbc
USER 65532:65532
# The one HTTP port of every process (/metrics, /healthz, /readyz); SIP and RTP ports come from config.
EXPOSE 8080
ENTRYPOINT ["/app/bin/kube-sbc"]
CMD ["--help"]
