# dualread: the read proxy sidecar (`proxy`, the default command) and the sync loop (`sync`).
#
#   docker build -t dualread .
#   docker run -v "$PWD/deploy:/etc/dualread:ro" -p 8080:8080 dualread             # proxy
#   docker run -v "$PWD/deploy:/etc/dualread:ro" \
#     -e DUALREAD_HEALTHCHECK_URL=http://127.0.0.1:9091/healthz dualread sync      # sync loop
#
# where deploy/policy.yaml is the policy (mount its directory, not the file: dualread watches the
# directory, which is how a Kubernetes ConfigMap update arrives).
#
# The image runs the JavaScript build, the same `npm run build` that `npm pack` runs (prepack), and
# holds what the npm package holds (package.json `files`: bin, dist, policies) next to
# the production node_modules installed from the lockfile. With no src/ beside it,
# bin/dualread.js runs dist/.
ARG NODE_IMAGE=node:24-bookworm-slim

# Production dependencies only. --omit=dev also skips the `node` devDependency that pins Node 24
# for development: this image is Node 24 already.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# The build: TypeScript to JavaScript and declarations in dist/. All dependencies (typescript is a
# dev dependency); --ignore-scripts keeps the `node` devDependency from fetching a second Node.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    DUALREAD_POLICY=/etc/dualread/policy.yaml \
    DUALREAD_STATE_DIR=/var/lib/dualread \
    DUALREAD_HEALTHCHECK_URL=http://127.0.0.1:9090/healthz
WORKDIR /app
# The app's files belong to root: the process (user node) can read them, never change them.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json LICENSE ./
COPY bin ./bin
COPY policies ./policies
# The one writable place: the last good policy, kept so a restart with a broken policy still serves.
# Mount a volume (an emptyDir in Kubernetes) here when the root filesystem is read-only.
RUN mkdir -p /etc/dualread /var/lib/dualread && chown node:node /var/lib/dualread
USER node
# 8080 the read proxy, 9090 the proxy's admin (/healthz /readyz /metrics /status), 9091 the sync's admin.
EXPOSE 8080 9090 9091
# Slim images have no curl; Node's global fetch calls the admin /healthz (which needs no token).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.DUALREAD_HEALTHCHECK_URL).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/bin/dualread.js"]
CMD ["proxy"]
