/**
 * Entry of a cloud's gateway process: `node gateway/main.ts <cloud> <dataDir>`. It connects only to
 * its own cloud's leaf and issues short-lived URLs for one object of that cloud's store to anyone
 * who asks over NATS (another cloud's workers, clients), so the store's credentials never leave the
 * cloud. An fs store, which has no URLs, is served over HTTP by the gateway itself.
 */
import { once } from "node:events";
import { makeWorkerId } from "../runtime/context.ts";
import { leafUrlOf, startWorkerRuntime } from "../runtime/worker-runtime.ts";
import { DEFAULT_GATEWAY } from "../shared/topology/gateway-config.ts";
import { type FsFace, startFsFace } from "./fs-face.ts";
import { gatewaySecretPath, readOrCreateSecret } from "./secret.ts";
import { serveObjectUrls, type UrlSigner } from "./url-service.ts";

/** What `ferry status` and the logs call this process's stage. */
const STAGE = "gateway";

async function main(argv: string[]): Promise<void> {
  const [cloud, dataDir] = argv;
  if (!cloud || !dataDir) throw new Error("usage: gateway/main.ts <cloud> <dataDir>");
  const rt = await startWorkerRuntime({
    dataDir,
    stage: STAGE,
    cloud,
    worker: makeWorkerId(STAGE, cloud),
    url: leafUrlOf(cloud),
    // A cloud's credentials stay in it: other clouds' objects are reached through their gateways.
    stores: "own",
  });
  const spec = rt.deployment.topology.clouds.find((c) => c.name === cloud)?.gateway ?? DEFAULT_GATEWAY;
  const store = rt.stores.get(cloud);
  if (!store) throw new Error(`the deployment has no store for cloud "${cloud}"`);
  let face: FsFace | undefined;
  let sign: UrlSigner;
  if (store.signedUrl) {
    sign = store.signedUrl.bind(store);
  } else {
    const secret = readOrCreateSecret(gatewaySecretPath(rt.deployment.dataDir, cloud));
    face = await startFsFace({ store, secret, listen: spec.listen, publicUrl: spec.publicUrl, log: rt.log });
    sign = face.sign;
  }
  const expiresInSec = Math.round(spec.urlExpiryMs / 1000);
  const sub = serveObjectUrls({ nc: rt.nc, cloud, sign, expiresInSec, log: rt.log });
  rt.log.info({ store: store.kind, expiresInSec }, "gateway started");
  if (!rt.stopping.aborted) await once(rt.stopping, "abort");
  sub.unsubscribe();
  await face?.close();
  rt.log.info("gateway stopped");
  await rt.close();
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`ferry gateway: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
