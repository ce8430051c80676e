// Container side of the credential proxy: a loopback TCP port that pipes to the proxy's Unix socket.
// The container has no network, only `lo`; the agent gets HTTPS_PROXY=http://127.0.0.1:<port>.
// Usage: node container_relay.mjs <socket-path> [port]   (port 0 or absent: any; printed on stdout)
// No parsing, no state: every decision is made on the host, behind the socket.
import net from "node:net";

const [socketPath, portArg = "0"] = process.argv.slice(2);
if (!socketPath) {
  console.error("usage: node container_relay.mjs <socket-path> [port]");
  process.exit(2);
}

const server = net.createServer((client) => {
  const upstream = net.connect({ path: socketPath });
  client.setNoDelay(true);
  client.pipe(upstream);
  upstream.pipe(client);
  const close = () => { client.destroy(); upstream.destroy(); };
  client.on("error", close);
  upstream.on("error", close);
});

server.listen(Number(portArg), "127.0.0.1", () => {
  process.stdout.write(`${server.address().port}\n`);
});
