// node bench/observability-cost.js <repoDir> [sidecar args...]: 20,000 GETs (16 at once, after 2,000 warm-up) through the HTTP front to a local upstream; prints the sidecar CPU time per request (utime+stime of /proc/<pid>/stat). Loopback only.
const http = require('node:http'); const fs = require('node:fs'); const { spawn } = require('node:child_process'); const path = require('node:path');
const [repo, ...extra] = process.argv.slice(2);
const N = 20000, C = 16;
(async () => {
  const up = http.createServer((q, r) => { q.resume(); q.on('end', () => { r.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }); r.end('{}'); }); });
  await new Promise((r) => up.listen(0, '127.0.0.1', r));
  const routes = path.join(require('node:os').tmpdir(), `observability-cost-routes-${process.pid}.json`);
  fs.writeFileSync(routes, JSON.stringify({ routes: [{ id: 'bench', uri: '/bench', plugins: { 'aws-lambda': { function_uri: `http://127.0.0.1:${up.address().port}/x`, authorization: { apikey: 'k' } } } }] }));
  const cli = path.join(repo, 'dist/cli.js');
  const { cliNodeFlags } = require(path.join(repo, 'dist/cli-node-flags.js')); // the shebang's Node flags
  const sc = spawn(process.execPath, [...cliNodeFlags(cli), cli, '--config', routes, '--grpc-listen', 'off', '--http-listen', '127.0.0.1:0', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((res) => { let buf = ''; sc.stdout.on('data', (d) => { buf += d; const m = /"httpAddress":"[^"]*:(\d+)"/.exec(buf); if (m) res(Number(m[1])); }); });
  sc.stdout.resume();
  const agent = new http.Agent({ keepAlive: true, maxSockets: C });
  const get = () => new Promise((res, rej) => http.get({ host: '127.0.0.1', port, path: '/bench', agent }, (r) => { r.resume(); r.on('end', () => res(r.statusCode)); }).on('error', rej));
  const ticks = () => { const f = fs.readFileSync(`/proc/${sc.pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
  for (let i = 0; i < 2000; i++) await get(); // warm up
  const t0 = ticks(); const w0 = Date.now(); let sent = 0, bad = 0;
  await Promise.all(Array.from({ length: C }, async () => { while (sent < N) { sent++; if ((await get()) !== 200) bad++; } }));
  const cpuMs = (ticks() - t0) * 10;
  console.log(JSON.stringify({ args: extra.join(' '), requests: N, bad, wallMs: Date.now() - w0, cpuMs, cpuUsPerRequest: Math.round(cpuMs * 1000 / N) }));
  sc.kill('SIGTERM'); up.close(); agent.destroy(); fs.rmSync(routes);
})();
