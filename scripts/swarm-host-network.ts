// deploy/swarm/stack.yml for a swarm without the routing mesh: each daemon on its node's own network, listening
// with SO_REUSEPORT so that a rolling update's next daemon listens beside the old one on the same port, and the
// registry's port published on its node (mode host). The mesh needs IPVS (CONFIG_IP_VS), which some kernels lack
// (the development VMs': docs/DEPLOY.md); an external load balancer then spreads requests over the nodes.
//   node scripts/swarm-host-network.ts [deploy/swarm/stack.yml] > stack-host-network.yml
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';

const file = process.argv[2] ?? new URL('../deploy/swarm/stack.yml', import.meta.url).pathname;
const stack = parseDocument(readFileSync(file, 'utf8'));
const prebake = ['services', 'prebake'];
stack.deleteIn([...prebake, 'ports']);
stack.setIn([...prebake, 'networks'], ['hostnet']);
// biome-ignore lint/suspicious/noTemplateCurlyInString: compose's variable, substituted by docker stack deploy
for (const arg of ['--reuse-port', '--port=${PREBAKE_PORT:-8080}']) stack.addIn([...prebake, 'command'], arg);
stack.setIn(['services', 'registry', 'ports'], stack.createNode([{ target: 5000, published: 5000, mode: 'host' }]));
stack.setIn(['networks'], stack.createNode({ hostnet: { external: true, name: 'host' } }));
process.stdout.write(
  `# Made by scripts/swarm-host-network.ts from ${file.replace(/^.*\/deploy\//, 'deploy/')}: no routing mesh (docs/DEPLOY.md).\n${stack.toString({ lineWidth: 0 })}`,
);
