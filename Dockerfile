# syntax=docker/dockerfile:1
# Vigil: one image for the playbook worker, the intake and the `vigil` CLI (docker-compose.yml picks the
# process with `command`). Built with the full bookworm image (better-sqlite3 is native: prebuilt binary
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
# The intake's dead-letter store; a named volume mounted here starts with this owner.
RUN mkdir -p /var/lib/vigil && chown node:node /var/lib/vigil
ENV VIGIL_DATA_DIR=/var/lib/vigil
USER node
# intake HTTP, worker Prometheus metrics
EXPOSE 8088 9464
CMD ["node", "bin/vigil.js", "--help"]
