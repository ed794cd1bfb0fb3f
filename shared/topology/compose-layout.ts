/**
 * Where a compose deployment's pieces are: the generated files in the repository, the paths and
 * volumes inside the containers, and the ports its servers listen on.
 */

export const COMPOSE_FILE = "docker-compose.yml";
export const COMPOSE_DIR = "deploy/compose";
export const NATS_CONF_DIR = `${COMPOSE_DIR}/nats`;
export const DEPLOYMENT_JSON = `${COMPOSE_DIR}/deployment.json`;

/** Each server has its own container hostname, so all of them keep the default ports. */
export const CLIENT_PORT = 4222;
export const MONITOR_PORT = 8222;
export const LEAF_PORT = 7422;
export const CLUSTER_PORT = 6222;
/** Paths inside the containers. */
export const DATA_DIR = "/deploy";
export const STORES_DIR = "/data/stores";
/** The one folder a container's ingest workers read local files from (mount the files to ingest there). */
export const SOURCES_DIR = "/data/sources";
export const JETSTREAM_DIR = "/data/jetstream";
export const CONF_MOUNT = "/etc/nats";
/** The CA certificate and each server's own certificate and key, mounted file by file from TLS_DIR. */
export const TLS_MOUNT = "/etc/ferry-tls";
/** Where ./ferry compose writes them on this machine (git-ignored: it holds keys). */
export const TLS_DIR = `${COMPOSE_DIR}/tls`;
export const STORES_VOLUME = "stores";
/**
 * The compose deployment's home for NATS credentials on this machine: seeds in
 * `<COMPOSE_DIR>/credentials/nats/<identity>.nk` (0600), the servers' authorization file beside them.
 * Git-ignored: ./ferry compose makes them once and reuses them.
 */
export const CREDENTIALS_DIR = `${COMPOSE_DIR}/credentials`;
/** The authorization file every server includes (public keys and permissions, no secret). */
export const AUTHORIZATION_FILE = `${CREDENTIALS_DIR}/authorization.conf`;
/** Where the servers see the authorization file and a leaf its link's seed include, mounted file by file. */
export const AUTH_MOUNT = "/etc/ferry-auth";
/** Where a Node process sees its one seed: the deployment's home is DATA_DIR inside the containers. */
export const SEED_MOUNT = `${DATA_DIR}/credentials/nats`;
