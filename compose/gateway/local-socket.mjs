// Forward a unix socket to the gateway's own loopback, so the pairing sidecar is a *local* client
// (gateway-client/backend with the shared token: no device, no pairing of its own) without sharing this
// container's network namespace. Why not `network_mode: service:openclaw-gateway`: after a Docker engine
// restart (a host reboot) the sidecar may be started before the gateway and then fails for good
// ("cannot join network of a non running container"). A socket on a shared volume has no such order:
// whichever starts first, the sidecar reconnects when this answers.
//
// Only containers that mount the socket volume can reach it (compose: the sidecar alone), and the socket
// is mode 0600 for the gateway's uid. Runs beside the gateway in the same container (started by the
// gateway service's entrypoint); plain Node, no dependencies.
import fs from "node:fs";
import net from "node:net";

const socketPath = process.env.OPENCLAW_GATEWAY_SOCKET || "/run/openclaw-gateway/gateway.sock";
const port = Number(process.env.OPENCLAW_GATEWAY_INTERNAL_PORT || 18789);

fs.rmSync(socketPath, { force: true }); // a socket left by the previous start of this container
const server = net.createServer((client) => {
  const gateway = net.connect({ host: "127.0.0.1", port });
  const close = () => {
    client.destroy();
    gateway.destroy();
  };
  for (const side of [client, gateway]) {
    side.on("error", close);
    side.on("close", close);
  }
  client.pipe(gateway).pipe(client);
});
server.on("error", (err) => {
  console.error(`[pairing-socket] ${socketPath}: ${err.message}`);
  process.exit(1);
});
server.listen(socketPath, () => {
  fs.chmodSync(socketPath, 0o600);
  console.error(`[pairing-socket] forwarding ${socketPath} to 127.0.0.1:${port}`);
});
