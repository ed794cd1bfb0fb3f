# The image of every ferry service in docker-compose.yml (setup, orchestrator, stage workers); the
# service's command names the entry, e.g. `stages/main.ts ingest aws /deploy`. Kept by hand: it does
# not depend on the topology.
FROM node:24-slim

WORKDIR /app
# Node 24 runs the TypeScript sources directly (type stripping): no build step.
ENV NODE_ENV=production \
    NODE_OPTIONS=--disable-warning=ExperimentalWarning

# Dependencies first, so editing a source file does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY . .

# A named volume starts with the ownership of the folder it is mounted on: let the node user write the stores.
RUN mkdir -p /data/stores && chown node:node /data/stores
USER node

ENTRYPOINT ["node"]
