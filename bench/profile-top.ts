import { readFileSync } from 'node:fs';

// node dist/bench/profile-top.js <file.cpuprofile> [top]
// Self time of a V8 CPU profile (node --cpu-prof; npm run bench with BENCH_CPU_PROF=<folder>),
// by function and by package, idle time left out.

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function where(url: string): string {
  const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (inPackage) return inPackage[1] as string;
  const inProject = /\/dist\/((?:src|bench)\/.*)$/.exec(url);
  if (inProject) return inProject[1] as string;
  if (url.startsWith('node:')) return url;
  return url === '' ? '(native/VM)' : url;
}

function main(): void {
  const [file, topArg] = process.argv.slice(2);
  if (file === undefined) {
    console.error('usage: node dist/bench/profile-top.js <file.cpuprofile> [top]');
    process.exit(2);
  }
  const top = Number(topArg ?? '25');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMicros = new Map<number, number>();
  profile.samples.forEach((id, i) => selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const keyOf = (node: ProfileNode) =>
    `${node.callFrame.functionName || '(anonymous)'}  ${where(node.callFrame.url)}${node.callFrame.url ? `:${node.callFrame.lineNumber + 1}` : ''}`;
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (const [id, micros] of selfMicros) {
    const node = byId.get(id);
    if (node === undefined) continue;
    if (node.callFrame.functionName === '(idle)') {
      idle += micros;
      continue;
    }
    busy += micros;
    const name = keyOf(node);
    const place = where(node.callFrame.url);
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
    byPlace.set(place, (byPlace.get(place) ?? 0) + micros);
  }
  // Inclusive time (self + callees), each function counted once per stack even when recursive.
  const inclusive = new Map<string, number>();
  const childIds = new Set(profile.nodes.flatMap((node) => node.children ?? []));
  const totals = new Map<number, number>();
  const total = (node: ProfileNode): number => {
    const known = totals.get(node.id);
    if (known !== undefined) return known;
    let sum = selfMicros.get(node.id) ?? 0;
    for (const child of node.children ?? []) {
      const childNode = byId.get(child);
      if (childNode) sum += total(childNode);
    }
    totals.set(node.id, sum);
    return sum;
  };
  const walk = (node: ProfileNode, onStack: Set<string>) => {
    const key = keyOf(node);
    const fresh = !onStack.has(key);
    if (fresh && node.callFrame.functionName !== '(idle)' && node.callFrame.functionName !== '(root)') {
      inclusive.set(key, (inclusive.get(key) ?? 0) + total(node));
    }
    if (fresh) onStack.add(key);
    for (const child of node.children ?? []) {
      const childNode = byId.get(child);
      if (childNode) walk(childNode, onStack);
    }
    if (fresh) onStack.delete(key);
  };
  for (const node of profile.nodes) if (!childIds.has(node.id)) walk(node, new Set());

  const show = (title: string, entries: Map<string, number>, n: number) => {
    console.log(`\n${title}`);
    for (const [name, micros] of [...entries].sort((x, y) => y[1] - x[1]).slice(0, n)) {
      console.log(`${((micros / busy) * 100).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(7)} ms  ${name}`);
    }
  };
  console.log(`${file}: busy ${(busy / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms (percentages of busy)`);
  show('self time by function', byFunction, top);
  show('self time by package / file', byPlace, top);
  show('inclusive time by function (self + callees)', inclusive, top * 2);
}

main();
