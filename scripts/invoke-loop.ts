// Invokes one function over and over through the API and writes a line per answer, for scripts/swarm-test.sh:
//   <ms since epoch> <status> <x-prebake-start> <version> <invocations> <x-prebake-start-ms> [error]
// until COUNT answers, or for as long as STOPFILE exists. Each request on a new connection (connection: close),
// as a client meets a rolling fleet: a kept-alive connection to a daemon that is closing races its close.
//   node scripts/invoke-loop.ts URL TOKEN OUTFILE COUNT|STOPFILE
import { appendFileSync, existsSync } from 'node:fs';

const [url, token, out, until] = process.argv.slice(2) as [string, string, string, string];
const counted = /^\d+$/.test(until);
for (let n = 0; counted ? n < Number(until) : existsSync(until); n++) {
  const at = Date.now();
  let line: string;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', connection: 'close' },
      body: '{"name": "swarm"}',
    });
    const text = await response.text();
    let body: { version?: string; invocations?: number } = {};
    try {
      body = JSON.parse(text);
    } catch {}
    const header = (name: string) => response.headers.get(name) ?? '-';
    line = `${at} ${response.status} ${header('x-prebake-start')} ${body.version ?? '-'} ${body.invocations ?? '-'} ${header('x-prebake-start-ms')}`;
    if (response.status !== 200) line += ` ${text.slice(0, 300).replace(/\s+/g, ' ')}`;
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    line = `${at} 000 - - - - ${cause?.code ?? (error as Error).message}`;
  }
  appendFileSync(out, `${line}\n`);
}
