// IronCurtain's own policy engine on this project's compatibility corpus, for
// tests/bench/bench_ironcurtain.py --ironcurtain CHECKOUT (which bundles the engine with esbuild).
//
//   node engine.mjs BUNDLE CASES POLICY_DIR decisions|rate
//
// CASES is a decisions.json (context + cases); each call is evaluated as IronCurtain's
// PolicyEngine evaluates it, with IronCurtain's protected paths under context.ironcurtainHome
// and context.sandbox as its allowed directory. IronCurtain expands `~` with os.homedir(): the
// caller sets HOME to context.home. "decisions" prints one {decision, rule} per case; "rate"
// prints decisions per second of CPU time over the same calls (at least 3 s of CPU).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [, , bundle, casesFile, policyDir, mode] = process.argv;
const { PolicyEngine } = await import(pathToFileURL(bundle).href);
const data = JSON.parse(readFileSync(casesFile, 'utf8'));
const optional = (name) => {
  try {
    return JSON.parse(readFileSync(`${policyDir}/${name}`, 'utf8'));
  } catch {
    return undefined;
  }
};
const home = data.context.ironcurtainHome;
const protectedPaths = ['constitution.md', 'generated', 'mcp-servers.json', 'logs/audit.jsonl', '.env', 'config.json'].map(
  (name) => `${home}/${name}`,
);
const engine = new PolicyEngine(
  optional('compiled-policy.json'),
  optional('tool-annotations.json'),
  protectedPaths,
  data.context.sandbox,
  undefined,
  optional('dynamic-lists.json'),
);
const requests = data.cases.map((c) => ({
  requestId: 'bench',
  serverName: c.call.server,
  toolName: c.call.tool,
  arguments: c.call.arguments,
  timestamp: '2026-01-01T00:00:00.000Z',
}));

if (mode === 'decisions') {
  const out = requests.map((request) => {
    try {
      const result = engine.evaluate(request);
      return { decision: result.decision, rule: result.rule };
    } catch (error) {
      return { decision: 'error', rule: String(error) };
    }
  });
  console.log(JSON.stringify(out));
} else {
  for (let i = 0; i < 100; i++) for (const request of requests) engine.evaluate(request);
  const start = process.cpuUsage();
  let total = 0;
  let used = 0;
  while (used < 3e6) {
    for (const request of requests) engine.evaluate(request);
    total += requests.length;
    const now = process.cpuUsage(start);
    used = now.user + now.system;
  }
  console.log(JSON.stringify({ rate: total / (used / 1e6), calls: requests.length }));
}
