# syntax=docker/dockerfile:1
# aws-lambda-sidecar as a container image (README "Container image").
#
#   docker build -t aws-lambda-sidecar:0.2.0 .
#   docker run --rm -p 50051:50051 -p 8080:8080 \
#     -v "$PWD/routes.yaml:/etc/aws-lambda-sidecar/routes.yaml:ro" aws-lambda-sidecar:0.2.0
#
# Stages: `build` compiles with the dev dependencies, `prod-deps` installs the production ones only,
# `stand-in` is the demo's API Gateway / Lambda stand-in (docker-compose.yml), and the last stage,
# the default target, is the runtime image. test/deploy/dockerfile.test.ts lints this file with
# hadolint and checks it against package.json and the CLI's heap flags.

ARG NODE_IMAGE=node:24.11.1-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json tsconfig.tools.json ./
COPY src ./src
RUN npm run build --silent

# Production dependencies only, without dev tools; no dependency needs an install script.
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# The demo's stand-in (demo/lambda-stand-in.ts): needs the dev dependencies (it verifies SigV4 with
# the AWS SDK's signer). Configured by STAND_IN_* variables; not for production.
FROM build AS stand-in
COPY demo ./demo
COPY bench ./bench
COPY test/e2e/support ./test/e2e/support
RUN npm run build:tools --silent
ENV STAND_IN_HOST=0.0.0.0
USER 1000:1000
CMD ["node", "build/demo/lambda-stand-in.js"]

FROM ${NODE_IMAGE} AS runtime
ARG NODE_IMAGE
ARG VERSION=0.2.0
LABEL org.opencontainers.image.title="aws-lambda-sidecar" \
      org.opencontainers.image.description="Envoy ext_proc / ext_authz and nginx sidecar that answers HTTP routes with AWS Lambda" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
ENV NODE_ENV=production \
    SIDECAR_CONFIG=/etc/aws-lambda-sidecar/routes.yaml \
    SIDECAR_GRPC_LISTEN=0.0.0.0:50051 \
    SIDECAR_HTTP_LISTEN=0.0.0.0:8080
WORKDIR /app
# Owned by root and not writable by the sidecar's user: the image runs with a read-only root too.
COPY package.json ./
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY proto ./proto
# The image's `node` user, by number so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
# gRPC (ext_proc, ext_authz, grpc.health.v1) and HTTP (/healthz, the nginx front). The Admin API
# (--admin-listen, usually :9180) is off unless configured.
EXPOSE 50051 8080
# /healthz answers 200 once the routes are loaded and 503 while draining. Reads the port from
# SIDECAR_HTTP_LISTEN; with the HTTP listener off, disable it (`--no-healthcheck`).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const a = process.env.SIDECAR_HTTP_LISTEN || ':8080'; fetch('http://127.0.0.1:' + a.slice(a.lastIndexOf(':') + 1) + '/healthz').then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
# The V8 heap flags of dist/cli.js's shebang (src/cli-node-flags.ts; the test keeps them equal).
# Node is PID 1 and handles SIGTERM itself: it drains, then exits 0.
ENTRYPOINT ["node", "--max-semi-space-size=4", "--max-old-space-size=256", "/app/dist/cli.js"]
