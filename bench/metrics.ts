/** The value of one sample in Prometheus text, e.g. `keygate_verify_cache_total{outcome="hit"}`; 0 when absent. */
export function sample(text: string, name: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(name + ' ')) return Number(line.slice(name.length + 1).trim().split(' ')[0]);
  }
  return 0;
}

export interface VerifierCounts {
  /** bcrypt or HMAC compares against a row's hash. */
  hashCompares: number;
  cacheHits: number;
  /** Keys' rows read: none for a warm key while its freshness is proven. */
  rowReads: number;
  valid: number;
}

/** keygate's verification counters, read from its own GET /metrics. */
export async function readVerifierCounts(baseUrl: string): Promise<VerifierCounts> {
  const response = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  const text = await response.text();
  return {
    hashCompares: sample(text, 'keygate_key_hash_compares_total'),
    cacheHits: sample(text, 'keygate_verify_cache_total{outcome="hit"}'),
    rowReads: sample(text, 'keygate_key_row_reads_total'),
    valid: sample(text, 'keygate_verifications_total{result="valid"}'),
  };
}
