# syntax=docker/dockerfile:1
# Vigil: one image for every Vigil process in docker-compose.yml (playbook worker, intake, audit exporter,
# ticketing and EDR response workers) and the `vigil` CLI (compose picks the process with `command`). Built with the full bookworm image (better-sqlite3 is native: prebuilt binary
# or node-gyp with the toolchain it has), run on bookworm-slim (same glibc, so the native modules fit).

ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
# Sources first: `npm ci` runs the `prepare` script, which is the build.
COPY . .
RUN --mount=type=cache,target=/root/.npm npm ci
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts \
 && test -f dist/workers/playbook-worker.js \
 && test -f dist/workers/intake.js \
 && test -f dist/workers/audit-exporter.js \
 && test -f dist/workers/ticketing-worker.js \
 && test -f dist/workers/response-worker.js \
 && test -f dist/cli/vigil.js \
 && test -f dist/playbooks/index.js

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# package.json marks the project root (src/paths.ts), where the worker finds dist/ and data/.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/data ./data
# The worker's and the intake's defaults: the Cedar policies, the signed scoring model and its trusted keys.
COPY --from=build /app/policies ./policies
COPY --from=build /app/models/syscall-anomaly ./models/syscall-anomaly
COPY --from=build /app/models/keys ./models/keys
# The intake's dead-letter store and the audit log; named volumes mounted here start with this owner.
RUN mkdir -p /var/lib/vigil /var/lib/vigil-audit \
 && chown node:node /var/lib/vigil /var/lib/vigil-audit \
 && chmod 700 /var/lib/vigil-audit
ENV VIGIL_DATA_DIR=/var/lib/vigil
# Which build this is, recorded on every incident (activities/settings/build.ts), e.g.
#   docker build --build-arg VIGIL_BUILD_ID=$(git describe --always --dirty) .
# Empty (the default): the package version and a hash of the compiled playbooks.
ARG VIGIL_BUILD_ID=
ENV VIGIL_BUILD_ID=${VIGIL_BUILD_ID}
USER node
# intake HTTP; Prometheus metrics: worker, scoring, audit exporter, EDR response worker
EXPOSE 8088 8089 9464 9465 9466 9467
CMD ["node", "bin/vigil.js", "--help"]
